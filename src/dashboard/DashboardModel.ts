import { IDisposable } from '@lumino/disposable';
import { Poll } from '@lumino/polling';
import { ISignal, Signal } from '@lumino/signaling';

import { requestUsage } from '../api';
import { appendPoint, pointOf } from '../history';
import { IUsageModel } from '../tokens';
import { IHistory, ISnapshot } from '../wire';
import { IRange, RANGES, stepOf } from './ranges';

/**
 * What the dashboard shows: the shared model's snapshot and session (one snapshot per
 * refresh, whoever else watches them), plus the history of the chosen range with every
 * kernel's series, fetched when the range changes and then once a minute. Between two
 * fetches each new snapshot is appended, so the charts keep moving.
 */
export class DashboardModel implements IDisposable {
  constructor(options: DashboardModel.IOptions) {
    this.usage = options.usage;
    this._fetch = options.fetch ?? requestUsage;
    this._range = options.range ?? RANGES[0];
    this._poll = new Poll({
      auto: false,
      factory: () => this._load(),
      frequency: {
        interval: (options.historyRefreshSeconds ?? 60) * 1000,
        backoff: true,
        max: 5 * 60 * 1000
      },
      name: 'jupyter-usage:dashboard',
      standby: () => (this._watch ? 'when-hidden' : true)
    });
    this.usage.changed.connect(this._onUsage, this);
  }

  /** The panel's model: snapshot, session, config. */
  readonly usage: IUsageModel;

  /** Emitted when the history, the range or the shared model changed. */
  get changed(): ISignal<this, void> {
    return this._changed;
  }

  get range(): IRange {
    return this._range;
  }

  /** Choosing another range fetches its history now. */
  set range(range: IRange) {
    if (range.key === this._range.key) {
      return;
    }
    this._range = range;
    this._history = null;
    this._error = null;
    this._changed.emit();
    if (this._watch) {
      void this._poll.refresh();
    }
  }

  /** The range's history with per-kernel series; null until loaded. */
  get history(): IHistory | null {
    return this._history;
  }

  /** A message fit for people when the last history request failed. */
  get error(): string | null {
    return this._error;
  }

  /** Start fetching (the dashboard is shown); stop with `hide()`. */
  show(): void {
    if (!this._watch) {
      this._watch = this.usage.watch(['snapshot', 'session']);
    }
    void this._poll.start().then(() => this._poll.refresh());
  }

  hide(): void {
    this._watch?.dispose();
    this._watch = null;
  }

  get isDisposed(): boolean {
    return this._poll.isDisposed;
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this.hide();
    this._poll.dispose();
    this.usage.changed.disconnect(this._onUsage, this);
    Signal.clearData(this);
  }

  private async _load(): Promise<void> {
    const range = this._range;
    const now = this.usage.snapshot?.time ?? Date.now() / 1000;
    try {
      const history = await this._fetch<IHistory>('history', {
        since: Math.floor(now - range.seconds),
        step: stepOf(range),
        kernels: 1
      });
      if (range.key === this._range.key && !this.isDisposed) {
        this._history = history;
        this._error = null;
      }
    } catch (error) {
      this._error = error instanceof Error ? error.message : String(error);
      this._changed.emit();
      throw error;
    }
    this._changed.emit();
  }

  private _onUsage(): void {
    const snapshot = this.usage.snapshot;
    if (this._history && snapshot && snapshot !== this._appended) {
      this._appended = snapshot;
      this._history = appendSnapshot(
        this._history,
        snapshot,
        this.usage.session?.cost.total ?? null,
        this._range.seconds
      );
    }
    this._changed.emit();
  }

  private _appended: ISnapshot | null = null;
  private _changed = new Signal<this, void>(this);
  private _error: string | null = null;
  private _fetch: typeof requestUsage;
  private _history: IHistory | null = null;
  private _poll: Poll;
  private _range: IRange;
  private _watch: IDisposable | null = null;
}

/**
 * `history` with one more point from `snapshot` (when it is newer), kernels included:
 * a running kernel gets its figures, an ended one a gap.
 */
export function appendSnapshot(
  history: IHistory,
  snapshot: ISnapshot,
  costTotal: number | null,
  windowSeconds: number
): IHistory {
  const point = { ...pointOf(snapshot), cost_total: costTotal };
  const next = appendPoint(history, point, windowSeconds);
  if (next === history || !history.kernels) {
    return next;
  }
  const dropped =
    (history.columns.time?.length ?? 0) + 1 - (next.columns.time?.length ?? 0);
  const byId = new Map(snapshot.kernels.map(kernel => [kernel.id, kernel]));
  const kernels = history.kernels.map(kernel => {
    const now = byId.get(kernel.id);
    const figures: { [name: string]: number | null } = {
      cpu_cores: now?.cpu_cores ?? null,
      memory_bytes: now?.memory_bytes ?? null,
      gpu_memory_bytes: now?.gpu_memory_bytes ?? null
    };
    const columns: IHistory['columns'] = {};
    for (const [name, values] of Object.entries(kernel.columns)) {
      const base = name.endsWith('_max') ? name.slice(0, -4) : name;
      columns[name] = [...values.slice(dropped), figures[base] ?? null];
    }
    return {
      ...kernel,
      running: now !== undefined,
      last_seen: now ? snapshot.time : kernel.last_seen,
      columns
    };
  });
  return { ...next, kernels };
}

export namespace DashboardModel {
  export interface IOptions {
    usage: IUsageModel;
    range?: IRange;
    /** Seconds between two fetches of the range (default 60). */
    historyRefreshSeconds?: number;
    /** Injected in tests; defaults to the REST client. */
    fetch?: typeof requestUsage;
  }
}
