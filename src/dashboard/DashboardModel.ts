import { IDisposable } from '@lumino/disposable';
import { Poll } from '@lumino/polling';
import { ISignal, Signal } from '@lumino/signaling';

import { requestUsage } from '../api';
import { appendPoint, peakOf, pointOf } from '../history';
import { IUsageModel } from '../tokens';
import { IHistory, IKernelHistory, ISnapshot } from '../wire';
import { IRange, RANGES, stepOf } from './ranges';

/**
 * What the dashboard shows: the shared model's snapshot and session (one snapshot per
 * refresh, whoever else watches them), plus the history of the chosen range with every
 * kernel's series. The whole range is fetched when the dashboard opens and when the
 * range changes; once a minute after that only what is new (`since` its last bucket, at
 * the step it holds), appended with `extendHistory`. Between two fetches each new
 * snapshot is appended too, so the charts keep moving.
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
    this._fetched = null;
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
    const held = this._fetched;
    const last = held ? lastTimeOf(held) : null;
    try {
      let history: IHistory | null = null;
      if (held && last !== null && now - last < range.seconds) {
        const increment = await this._fetch<IHistory>('history', {
          since: last,
          step: held.step_seconds,
          kernels: 1
        });
        if (held !== this._fetched) {
          return; // the range changed meanwhile: its own fetch is on the way
        }
        history = extendHistory(held, increment, range.seconds);
      }
      // The first fetch, after a long pause, or an increment that does not fit.
      history ??= await this._fetch<IHistory>('history', {
        since: Math.floor(now - range.seconds),
        step: stepOf(range),
        kernels: 1
      });
      if (range.key === this._range.key && !this.isDisposed) {
        this._fetched = history;
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
  /** What the server answered (its buckets alone, without the snapshots appended). */
  private _fetched: IHistory | null = null;
  private _history: IHistory | null = null;
  private _poll: Poll;
  private _range: IRange;
  private _watch: IDisposable | null = null;
}

/** What the dashboard draws per kernel, named as in the snapshot's kernel records. */
const KERNEL_FIGURES = ['cpu_cores', 'memory_bytes'] as const;

/**
 * `history` with one more point from `snapshot` (when it is newer), kernels included:
 * a running kernel gets its figures (and its notebook, when the server has learned it
 * since), an ended one a gap, and one that started since the history was fetched joins
 * with this point (the next fetch brings its own buckets).
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
  const length = next.columns.time?.length ?? 0;
  const dropped = (history.columns.time?.length ?? 0) + 1 - length;
  const byId = new Map(snapshot.kernels.map(kernel => [kernel.id, kernel]));
  const known = new Set(history.kernels.map(kernel => kernel.id));
  const started: IKernelHistory[] = snapshot.kernels
    .filter(kernel => !known.has(kernel.id))
    .map(kernel => ({
      id: kernel.id,
      name: kernel.name,
      path: kernel.path,
      first_seen: snapshot.time,
      last_seen: snapshot.time,
      running: true,
      columns: {},
      peak_cpu_cores: kernel.cpu_cores,
      mean_cpu_cores: kernel.cpu_cores,
      peak_memory_bytes: kernel.memory_bytes,
      mean_memory_bytes: kernel.memory_bytes
    }));
  const kernels = [...history.kernels, ...started].map(kernel => {
    const now = byId.get(kernel.id);
    const figures: { [name: string]: number | null } = {
      cpu_cores: now?.cpu_cores ?? null,
      memory_bytes: now?.memory_bytes ?? null
    };
    const names = new Set(Object.keys(kernel.columns));
    for (const figure of KERNEL_FIGURES) {
      if (figures[figure] !== null) {
        names.add(figure).add(`${figure}_max`);
      }
    }
    const columns: IHistory['columns'] = {};
    for (const name of names) {
      const base = name.endsWith('_max') ? name.slice(0, -4) : name;
      const before = kernel.columns[name]?.slice(dropped) ?? nulls(length - 1);
      columns[name] = [...before, figures[base] ?? null];
    }
    return {
      ...kernel,
      // The server may learn a kernel's notebook after the fetch: the snapshot names it.
      name: now?.name ?? kernel.name,
      path: now?.path ?? kernel.path,
      running: now !== undefined,
      last_seen: now ? snapshot.time : kernel.last_seen,
      columns
    };
  });
  return { ...next, kernels };
}

function lastTimeOf(history: IHistory): number | null {
  const times = history.columns.time ?? [];
  return times.length ? times[times.length - 1] : null;
}

function nulls(length: number): null[] {
  return new Array(length).fill(null);
}

/** `columns` cut to rows `from` … `to` (absent ones null), then `tail` (absent: null). */
function joinColumns(
  names: Iterable<string>,
  head: IHistory['columns'],
  from: number,
  to: number,
  tail: IHistory['columns'],
  tailLength: number
): IHistory['columns'] {
  const columns: IHistory['columns'] = {};
  for (const name of names) {
    columns[name] = [
      ...(head[name]?.slice(from, to) ?? nulls(to - from)),
      ...(tail[name] ?? nulls(tailLength))
    ];
  }
  return columns;
}

function meanOf(values: readonly (number | null)[] | undefined): number | null {
  const known = (values ?? []).filter((v): v is number => v !== null);
  return known.length ? known.reduce((a, b) => a + b, 0) / known.length : null;
}

/**
 * `held` extended by `increment`, an answer for `since` = the last bucket of `held` at
 * its step: the increment replaces the buckets from its first on (the last one held was
 * still filling), buckets that left the range (`windowSeconds` before the newest) are
 * dropped, and so are kernels and notices no longer in it. Each kernel's peak and mean
 * are those of what is left. Null when the increment does not fit (another step, or
 * a gap after the last bucket held): the whole range must be fetched again.
 */
export function extendHistory(
  held: IHistory,
  increment: IHistory,
  windowSeconds: number
): IHistory | null {
  const heldTimes = held.columns.time ?? [];
  const newTimes = increment.columns.time ?? [];
  if (increment.step_seconds !== held.step_seconds) {
    return null;
  }
  if (!newTimes.length) {
    return held;
  }
  const step = held.step_seconds;
  const start = newTimes[0];
  const lastHeld = heldTimes.length ? heldTimes[heldTimes.length - 1] : null;
  if (start === null || (lastHeld !== null && start > lastHeld + step)) {
    return null;
  }
  const end = newTimes[newTimes.length - 1] ?? start;
  // A bucket stays while any of it lies within the range that ends with the newest.
  const oldest = end - windowSeconds - step;
  let from = 0;
  while (from < heldTimes.length && (heldTimes[from] ?? -Infinity) <= oldest) {
    from++;
  }
  let to = from;
  while (to < heldTimes.length && (heldTimes[to] ?? -Infinity) < start) {
    to++;
  }
  const columns = joinColumns(
    new Set([...Object.keys(held.columns), ...Object.keys(increment.columns)]),
    held.columns,
    from,
    to,
    increment.columns,
    newTimes.length
  );
  const first = columns.time[0] ?? start;

  const before = new Map((held.kernels ?? []).map(k => [k.id, k]));
  const after = new Map((increment.kernels ?? []).map(k => [k.id, k]));
  const kernels: IKernelHistory[] = [];
  for (const id of new Set([...before.keys(), ...after.keys()])) {
    const kept = before.get(id);
    const now = after.get(id);
    // Not in the increment: it ended before the increment's first bucket.
    const meta = now ?? { ...kept!, running: false };
    if (meta.last_seen < first) {
      continue; // it ended before the range now begins
    }
    const kernelColumns = joinColumns(
      new Set([
        ...Object.keys(kept?.columns ?? {}),
        ...Object.keys(now?.columns ?? {})
      ]),
      kept?.columns ?? {},
      kept ? from : 0,
      kept ? to : to - from,
      now?.columns ?? {},
      newTimes.length
    );
    kernels.push({
      ...meta,
      first_seen: Math.min(kept?.first_seen ?? Infinity, meta.first_seen),
      columns: kernelColumns,
      peak_cpu_cores: peakOf(
        kernelColumns.cpu_cores_max ?? kernelColumns.cpu_cores
      ),
      mean_cpu_cores: meanOf(kernelColumns.cpu_cores),
      peak_memory_bytes: peakOf(
        kernelColumns.memory_bytes_max ?? kernelColumns.memory_bytes
      ),
      mean_memory_bytes: meanOf(kernelColumns.memory_bytes)
    });
  }
  // As the server orders them: the largest peak memory first.
  kernels.sort(
    (a, b) =>
      (b.peak_memory_bytes ?? 0) - (a.peak_memory_bytes ?? 0) ||
      (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)
  );
  const notices = [
    ...(held.notices ?? []).filter(n => n.time >= first && n.time < start),
    ...(increment.notices ?? [])
  ];
  return {
    ...held,
    columns,
    ...(held.kernels || increment.kernels ? { kernels } : {}),
    ...(held.notices || increment.notices ? { notices } : {})
  };
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
