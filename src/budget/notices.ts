import type { TranslationBundle } from '@jupyterlab/translation';
import type { IDisposable } from '@lumino/disposable';

import type { IUsageModel } from '../tokens';
import { IBudget } from '../wire';
import {
  budgetFraction,
  budgetUse,
  formatCountdown,
  scopeLabel
} from './format';

/** Share of a budget at which the user is first told. */
export const BUDGET_WARN_FRACTION = 0.8;

/** How far below a threshold the use must fall before it may warn again. */
export const BUDGET_HYSTERESIS = 0.05;

/**
 * One episode's state now. `firing`: tell the user if not told yet in this
 * episode (a `countdown` one is updated while it fires); `clear`: the episode is
 * over (its notification goes); `hold`: in between, nothing changes.
 */
export interface IBudgetReading {
  key: string;
  state: 'firing' | 'hold' | 'clear';
  message: string;
  type: 'info' | 'warning' | 'error';
  countdown?: boolean;
}

/** A budget's period, told apart from the next one: a new period warns anew. */
function episodeOf(budget: IBudget): string {
  const period =
    typeof budget.period === 'object'
      ? `rolling${budget.period.rolling_days}`
      : budget.period;
  const unit = budget.currency ?? budget.unit ?? '';
  // A rolling window has no fixed start: its episodes end only by falling below.
  const start = typeof budget.period === 'object' ? '' : budget.starts_at;
  return `${budget.scope}|${period}|${unit}|${start ?? ''}`;
}

function stateAt(share: number, at: number): IBudgetReading['state'] {
  if (share >= at) {
    return 'firing';
  }
  return share < at - BUDGET_HYSTERESIS ? 'clear' : 'hold';
}

/**
 * What each budget means to tell now: at 80 % a warning, once spent an error that
 * says what the hub does, and while the hub is about to stop the server a
 * countdown that says to save the work. Only the most urgent fires: a budget found
 * spent does not also warn about 80 %.
 */
export function budgetReadings(
  budgets: readonly IBudget[],
  trans: TranslationBundle,
  now: number = Date.now() / 1000,
  locale?: string
): IBudgetReading[] {
  const readings: IBudgetReading[] = [];
  for (const budget of budgets) {
    const episode = episodeOf(budget);
    const share = budget.exhausted ? 1 : budgetFraction(budget);
    const use = budgetUse(budget, trans, locale);
    const whose = scopeLabel(budget.scope, trans);
    const stopping = budget.stop_at !== null;
    const warn = stateAt(share, BUDGET_WARN_FRACTION);
    const spent = budget.exhausted ? 'firing' : stateAt(share, 1);
    readings.push({
      key: `budget-80:${episode}`,
      state: warn === 'firing' && spent === 'firing' ? 'hold' : warn,
      message: trans.__(
        'You have used %1 of %2 (%3).',
        `${Math.floor(share * 100)} %`,
        whose,
        use
      ),
      type: 'warning'
    });
    let spentMessage: string;
    if (budget.enforcement === 'stop') {
      spentMessage = trans.__(
        'You have spent %1 (%2). The hub will stop your server; save your work.',
        whose,
        use
      );
    } else if (budget.enforcement === 'spawn') {
      spentMessage = trans.__(
        'You have spent %1 (%2). This server keeps running, but no new one starts until the budget resets.',
        whose,
        use
      );
    } else {
      spentMessage = trans.__('You have spent %1 (%2).', whose, use);
    }
    readings.push({
      key: `budget-100:${episode}`,
      // The countdown says it all when the stop is already scheduled.
      state: spent === 'firing' && stopping ? 'hold' : spent,
      message: spentMessage,
      type: 'error'
    });
    readings.push({
      key: `budget-stop:${episode}`,
      state: stopping ? 'firing' : 'clear',
      message: stopping
        ? trans.__(
            'Budget spent: the hub stops this server in %1. Save your work now.',
            formatCountdown((budget.stop_at as number) - now)
          )
        : '',
      type: 'error',
      countdown: true
    });
  }
  return readings;
}

/** The part of JupyterLab's `Notification` API the notifier uses (injected in tests). */
export interface IBudgetNotify {
  emit(
    message: string,
    type: IBudgetReading['type'],
    options: {
      autoClose: false;
      actions: { label: string; caption?: string; callback: () => void }[];
    }
  ): string;
  update(id: string, message: string, type: IBudgetReading['type']): void;
  dismiss(id: string): void;
}

/**
 * Tells the user about their budgets through JupyterLab's notifications, with the
 * Usage panel open or not. It keeps the model's budgets fresh itself, and tells
 * each episode once: an episode ends only when the use falls clearly below its
 * threshold, a new period starts, or the stop is called off (its notification is
 * then dismissed). The stop countdown is one notification, updated as it runs.
 */
export class BudgetNotifier implements IDisposable {
  constructor(options: BudgetNotifier.IOptions) {
    this._model = options.model;
    this._trans = options.trans;
    this._notify = options.notify;
    this._openUsage = options.openUsage;
    this._now = options.now ?? (() => Date.now() / 1000);
    this._watch = this._model.watch(['budget']);
    this._model.changed.connect(this._check, this);
  }

  get isDisposed(): boolean {
    return this._watch === null;
  }

  dispose(): void {
    if (this._watch === null) {
      return;
    }
    this._model.changed.disconnect(this._check, this);
    this._watch.dispose();
    this._watch = null;
  }

  private _check(): void {
    const budgets = this._model.budget?.budgets;
    if (!budgets) {
      return;
    }
    const readings = budgetReadings(budgets, this._trans, this._now());
    const seen = new Set(readings.map(reading => reading.key));
    for (const reading of readings) {
      this._apply(reading);
    }
    // A budget no longer listed (it was removed, or the period moved on) ends its episodes.
    for (const [key, id] of this._told) {
      if (!seen.has(key)) {
        this._notify.dismiss(id);
        this._told.delete(key);
      }
    }
  }

  private _apply(reading: IBudgetReading): void {
    const shown = this._told.get(reading.key);
    if (reading.state === 'clear') {
      if (shown !== undefined) {
        this._told.delete(reading.key);
        this._notify.dismiss(shown);
      }
      return;
    }
    if (reading.state !== 'firing') {
      return;
    }
    if (shown !== undefined) {
      if (reading.countdown) {
        this._notify.update(shown, reading.message, reading.type);
      }
      return;
    }
    const trans = this._trans;
    const id = this._notify.emit(reading.message, reading.type, {
      autoClose: false,
      actions: [
        {
          label: trans.__('Open Usage'),
          caption: trans.__('Open the Usage panel'),
          callback: () => this._openUsage()
        }
      ]
    });
    this._told.set(reading.key, id);
  }

  private _model: IUsageModel;
  private _notify: IBudgetNotify;
  private _now: () => number;
  private _openUsage: () => void;
  /** Episodes told, with the id of their notification. */
  private _told = new Map<string, string>();
  private _trans: TranslationBundle;
  private _watch: IDisposable | null;
}

export namespace BudgetNotifier {
  export interface IOptions {
    model: IUsageModel;
    trans: TranslationBundle;
    notify: IBudgetNotify;
    openUsage: () => void;
    /** Unix seconds; injected in tests. */
    now?: () => number;
  }
}
