import { Token } from '@lumino/coreutils';
import { IDisposable } from '@lumino/disposable';
import { ISignal } from '@lumino/signaling';

import {
  IBudgets,
  IConfig,
  IHistory,
  ISession,
  ISessionRecord,
  ISnapshot
} from './wire';

/** What a view can ask the model to keep fresh. */
export type UsagePart =
  'snapshot' | 'history' | 'session' | 'sessions' | 'budget';

/**
 * What this Jupyter server uses and costs, kept fresh by the Usage panel's one poll.
 * Other extensions read it through the `IUsageModel` token; `watch` the parts they show.
 */
export interface IUsageModel extends IDisposable {
  /** Emitted whenever a part was fetched again (or failed). */
  readonly changed: ISignal<IUsageModel, void>;
  readonly snapshot: ISnapshot | null;
  readonly history: IHistory | null;
  readonly session: ISession | null;
  readonly sessions: ISessionRecord[] | null;
  readonly config: IConfig | null;
  /** The user's budgets from the hub's usage service (an empty list and a reason without). */
  readonly budget: IBudgets | null;
  readonly error: string | null;
  errorOf(part: UsagePart): string | null;
  hasSource(source: string): boolean;
  /** Keep `parts` fresh until the returned handle is disposed. */
  watch(parts?: readonly UsagePart[]): IDisposable;
}

export const IUsageModel = new Token<IUsageModel>(
  'jupyter-usage:IUsageModel',
  'What this Jupyter server uses and costs, from the Usage panel.'
);

/** The commands the extension adds, for other extensions, menus and key bindings. */
export namespace CommandIDs {
  /** Open the Usage dashboard (main area, or its own tab in Notebook 7). */
  export const openDashboard = 'jupyter-usage:open-dashboard';
  /** File ▸ Shut Down with the session summary (the schema puts it in the File menu). */
  export const shutdown = 'jupyter-usage:shutdown';
}
