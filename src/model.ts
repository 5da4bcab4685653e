import { IDisposable } from '@lumino/disposable';
import { Poll } from '@lumino/polling';
import { ISignal, Signal } from '@lumino/signaling';

import { requestUsage } from './api';
import { appendPoint, pointOf } from './history';
import {
  IBudgets,
  IConfig,
  IHistory,
  ISession,
  ISessionRecord,
  ISessions,
  ISnapshot
} from './wire';

import { IUsageModel, UsagePart } from './tokens';

export type { UsagePart } from './tokens';

export const ALL_PARTS: readonly UsagePart[] = [
  'snapshot',
  'history',
  'session',
  'sessions',
  'budget'
];

/** How many past sessions the History section lists. */
const SESSIONS_LIMIT = 50;

/** Points a chart needs at most; the history step follows from the window. */
const CHART_POINTS = 150;

/**
 * The one owner of polling: every view reads the model and listens to `changed`.
 *
 * One `Poll` fetches the snapshot every tick and, every `slowEvery` ticks, the
 * session and the budgets (which change slowly). The history is fetched once and then every
 * `historyRefreshSeconds`: between two fetches each snapshot is appended to it,
 * so the charts move with every tick while the server serves the whole window
 * about once a minute. Past sessions are fetched once, `/config` once. Only the parts
 * some view watches are fetched; the poll backs off on errors and stands by while
 * nothing is watching.
 */
export class UsageModel implements IUsageModel {
  constructor(options: UsageModel.IOptions) {
    this._fetch = options.fetch ?? requestUsage;
    this._slowEvery = Math.max(1, options.slowEvery ?? 5);
    this._historySeconds = options.historySeconds;
    this._historyRefreshMs = (options.historyRefreshSeconds ?? 60) * 1000;
    this._now = options.now ?? Date.now;
    this._refreshSeconds = options.refreshSeconds;
    this._poll = new Poll({
      auto: false,
      factory: () => this._refresh(),
      frequency: {
        interval: UsageModel.intervalOf(options.refreshSeconds),
        backoff: true,
        max: 60 * 1000
      },
      name: 'jupyter-usage:model',
      standby: () => (this._watchers.size > 0 ? 'when-hidden' : true)
    });
  }

  /** Emitted after every refresh, successful or not. */
  get changed(): ISignal<this, void> {
    return this._changed;
  }

  get snapshot(): ISnapshot | null {
    return this._snapshot;
  }

  /** The last minutes of history, kept moving with each snapshot. */
  get history(): IHistory | null {
    return this._history;
  }

  get session(): ISession | null {
    return this._session;
  }

  /** Past sessions, newest first; null until loaded. */
  get sessions(): ISessionRecord[] | null {
    return this._sessions;
  }

  get config(): IConfig | null {
    return this._config;
  }

  /** The user's budgets; null until loaded. The server asks the hub once a report interval. */
  get budget(): IBudgets | null {
    return this._budget;
  }

  /** A message fit for people when the last snapshot failed, else null. */
  get error(): string | null {
    return this._errors.snapshot;
  }

  /** A message fit for people when the last request of `part` failed, else null. */
  errorOf(part: UsagePart): string | null {
    return this._errors[part];
  }

  /** Whether the server has the source (`gpu`, `disk`, …); false while unknown. */
  hasSource(source: string): boolean {
    const entry = this._config?.sources?.[source];
    if (entry === undefined || entry === null) {
      return false;
    }
    return typeof entry === 'boolean' ? entry : entry.available !== false;
  }

  get isDisposed(): boolean {
    return this._poll.isDisposed;
  }

  /** Start polling (idempotent). */
  start(): Promise<void> {
    return this._poll.start();
  }

  /** Refresh now; resolves once the poll has ticked. */
  async refresh(): Promise<void> {
    await this._poll.refresh();
    await this._poll.tick;
  }

  /**
   * Views call this while visible, naming the parts they show; polling stands by
   * when nobody watches. The snapshot is always fetched while anyone watches.
   */
  watch(parts: readonly UsagePart[] = ALL_PARTS): IDisposable {
    const token = {};
    this._watchers.set(token, parts);
    void this._poll.refresh();
    let disposed = false;
    return {
      get isDisposed() {
        return disposed;
      },
      dispose: () => {
        if (!disposed) {
          disposed = true;
          this._watchers.delete(token);
        }
      }
    };
  }

  set refreshSeconds(seconds: number) {
    this._refreshSeconds = seconds;
    this._applyInterval();
  }

  /** Asking more often than the server samples would only repeat the figures. */
  private _applyInterval(): void {
    const sampled = this._config?.sample_interval_seconds ?? 0;
    this._poll.frequency = {
      ...this._poll.frequency,
      interval: UsageModel.intervalOf(Math.max(this._refreshSeconds, sampled))
    };
  }

  /** The window of the charts; a new window is fetched at the next refresh. */
  set historySeconds(seconds: number) {
    if (seconds !== this._historySeconds) {
      this._historySeconds = seconds;
      this._history = null;
      this._errors.history = null;
    }
  }

  /** Fetch the past sessions again at the next refresh. */
  reloadSessions(): void {
    this._sessions = null;
    this._errors.sessions = null;
    void this._poll.refresh();
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this._poll.dispose();
    this._watchers.clear();
    Signal.clearData(this);
  }

  private _wants(part: UsagePart): boolean {
    for (const parts of this._watchers.values()) {
      if (parts.includes(part)) {
        return true;
      }
    }
    return false;
  }

  /** Load what is missing now; what is loaded (or failed) again on slow ticks. */
  private _due(part: UsagePart, loaded: boolean, slow: boolean): boolean {
    return this._wants(part) && (slow || (!loaded && !this._errors[part]));
  }

  private async _refresh(): Promise<void> {
    const slow = this._tick % this._slowEvery === 0;
    this._tick++;
    const jobs: Promise<void>[] = [];
    if (!this._config && (slow || !this._configTried)) {
      this._configTried = true;
      jobs.push(
        this._fetch<IConfig>('config').then(
          config => {
            this._config = config;
            this._applyInterval();
          },
          () => undefined
        )
      );
    }
    const historyStale =
      this._now() - this._historyFetchedAt >= this._historyRefreshMs;
    if (
      this._wants('history') &&
      (historyStale ||
        (this._history === null && (slow || !this._errors.history)))
    ) {
      this._historyFetchedAt = this._now();
      jobs.push(this._load('history', () => this._fetchHistory()));
    }
    if (this._due('session', this._session !== null, slow)) {
      jobs.push(
        this._load('session', async () => {
          this._session = await this._fetch<ISession>('session');
        })
      );
    }
    if (this._due('budget', this._budget !== null, slow)) {
      jobs.push(
        this._load('budget', async () => {
          this._budget = await this._fetch<IBudgets>('budget');
        })
      );
    }
    const sessionsDue =
      this._wants('sessions') &&
      this._sessions === null &&
      (slow || !this._errors.sessions);
    if (sessionsDue) {
      jobs.push(
        this._load('sessions', async () => {
          const answer = await this._fetch<ISessions>('sessions', {
            limit: SESSIONS_LIMIT
          });
          this._sessions = answer.sessions;
        })
      );
    }
    const [snapshot] = await Promise.allSettled([
      this._fetch<ISnapshot>('snapshot'),
      ...jobs
    ]);
    if (this.isDisposed) {
      return;
    }
    if (snapshot.status === 'fulfilled') {
      this._snapshot = snapshot.value;
      this._errors.snapshot = null;
      if (this._history) {
        this._history = appendPoint(
          this._history,
          pointOf(snapshot.value),
          this._historySeconds
        );
      }
    } else {
      this._errors.snapshot = messageOf(snapshot.reason);
    }
    this._changed.emit();
    if (snapshot.status === 'rejected') {
      // Rejecting makes the poll back off.
      throw snapshot.reason;
    }
  }

  private async _fetchHistory(): Promise<void> {
    const window = this._historySeconds;
    const now = this._snapshot?.time ?? Date.now() / 1000;
    this._history = await this._fetch<IHistory>('history', {
      since: Math.floor(now - window),
      step: Math.max(1, Math.round(window / CHART_POINTS))
    });
  }

  private async _load(
    part: Exclude<UsagePart, 'snapshot'>,
    load: () => Promise<void>
  ): Promise<void> {
    try {
      await load();
      this._errors[part] = null;
    } catch (error) {
      this._errors[part] = messageOf(error);
    }
  }

  private _budget: IBudgets | null = null;
  private _changed = new Signal<this, void>(this);
  private _config: IConfig | null = null;
  private _configTried = false;
  private _errors: { [part in UsagePart]: string | null } = {
    snapshot: null,
    history: null,
    session: null,
    sessions: null,
    budget: null
  };
  private _fetch: typeof requestUsage;
  private _history: IHistory | null = null;
  private _historyFetchedAt = -Infinity;
  private _historyRefreshMs: number;
  private _historySeconds: number;
  private _poll: Poll;
  private _now: () => number;
  private _refreshSeconds: number;
  private _session: ISession | null = null;
  private _sessions: ISessionRecord[] | null = null;
  private _slowEvery: number;
  private _snapshot: ISnapshot | null = null;
  private _tick = 0;
  private _watchers = new Map<object, readonly UsagePart[]>();
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export namespace UsageModel {
  export interface IOptions {
    /** Seconds between two snapshots. */
    refreshSeconds: number;
    /** Seconds of history the charts show. */
    historySeconds: number;
    /** The session is fetched every this many ticks (default 5). */
    slowEvery?: number;
    /** Seconds between two fetches of the whole history window (default 60). */
    historyRefreshSeconds?: number;
    /** Milliseconds since the epoch; injected in tests. */
    now?: () => number;
    /** Injected in tests; defaults to the REST client. */
    fetch?: typeof requestUsage;
  }

  /** Milliseconds between ticks for a refresh interval in seconds. */
  export function intervalOf(seconds: number): number {
    return Math.max(0.5, seconds) * 1000;
  }
}
