import type { TranslationBundle } from '@jupyterlab/translation';

import type { IUsageModel, UsagePart } from '../tokens';

/** The kinds of notification; each can be turned off in Settings. */
export type NotificationKind =
  'memory' | 'disk' | 'gpu' | 'culler' | 'oom' | 'budget';

export const NOTIFICATION_KINDS: readonly NotificationKind[] = [
  'memory',
  'disk',
  'gpu',
  'culler',
  'oom',
  'budget'
];

/** What a rule sees: the model that feeds the status bar, and the user's settings. */
export interface IRuleInput {
  model: IUsageModel;
  /** Share of a limit at which memory and GPU memory warn (Settings ▸ warnFraction). */
  warnFraction: number;
  trans: TranslationBundle;
}

/**
 * One episode's state as a rule sees it now. `firing`: the condition holds (tell the
 * user if not told yet in this episode); `clear`: it is over, with margin (the next
 * `firing` starts a new episode); `hold`: in between, nothing changes (hysteresis).
 */
export interface IReading {
  /** The episode: e.g. `memory`, `disk:/home/user`, `oom:<time>|<kernel>`. */
  key: string;
  state: 'firing' | 'hold' | 'clear';
  /** The words to show when it fires, in the user's language. */
  message: string;
  type: 'info' | 'warning' | 'error';
  /** A countdown: its notification is updated with each new message while it fires. */
  countdown?: boolean;
}

/** One small rule per kind; a new kind of notification is one more rule. */
export interface INotificationRule {
  kind: NotificationKind;
  /** The parts of the model the rule reads, kept fresh while it is on (default: the
   * snapshot and the session). */
  watches?: readonly UsagePart[];
  read(input: IRuleInput): IReading[];
}

/** How far below a threshold a figure must fall before it may warn again. */
export const HYSTERESIS = 0.05;

/** `firing` at or above `at`, `clear` below `at - HYSTERESIS`, else `hold`. */
export function stateOf(
  fraction: number | null,
  at: number
): IReading['state'] {
  if (fraction === null || !isFinite(fraction)) {
    return 'hold';
  }
  if (fraction >= at) {
    return 'firing';
  }
  return fraction < at - HYSTERESIS ? 'clear' : 'hold';
}
