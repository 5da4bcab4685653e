/**
 * Wire types of the jupyter-usage REST API (v1). Units follow the field names:
 * bytes, seconds, cores, percent; `null` means unknown.
 */

export interface ICpuUsage {
  cores: number | null;
  percent: number | null;
  limit_cores: number | null;
  guarantee_cores: number | null;
  source: string;
  limit_source: string | null;
  host_cores: number | null;
}

export interface IMemoryUsage {
  used_bytes: number | null;
  limit_bytes: number | null;
  guarantee_bytes: number | null;
  source: string;
  limit_source: string | null;
  oom_kills: number | null;
}

export interface IGpuUsage {
  index: number;
  uuid: string | null;
  name: string | null;
  utilization_percent: number | null;
  memory_used_bytes: number | null;
  memory_total_bytes: number | null;
  process_memory_bytes: number | null;
  power_watts: number | null;
}

export interface IDiskUsage {
  path: string;
  used_bytes: number | null;
  total_bytes: number | null;
  free_bytes: number | null;
  directory_bytes: number | null;
  /** The user's own space (quota, own volume): billed on its size, else on used bytes. */
  reserved?: boolean | null;
  reserved_source?: 'mount' | 'shared' | 'config' | null;
}

export interface INetworkUsage {
  rx_bytes: number | null;
  tx_bytes: number | null;
  rx_bytes_per_second: number | null;
  tx_bytes_per_second: number | null;
}

export interface IKernelUsage {
  id: string;
  name: string | null;
  path: string | null;
  pid: number | null;
  cpu_cores: number | null;
  memory_bytes: number | null;
  gpu_memory_bytes: number | null;
  execution_state: string | null;
}

/** Something the user should hear about, e.g. a kernel stopped by an OOM kill. */
export interface INotice {
  time: number;
  kind: string;
  kernel_id: string | null;
  path: string | null;
  /** Stable: `oom.kernel` or `oom.process`; the UI formats it with `params`. */
  code?: string;
  params?: { [name: string]: unknown };
  /** Plain English, from the server, for API clients. */
  message: string;
}

/** One piece of advice: a stable `code` with `params`, and plain English. */
export interface IAdvice {
  code: string;
  params: { [name: string]: unknown };
  message: string;
}

export interface ISnapshot {
  time: number;
  cpu: ICpuUsage;
  memory: IMemoryUsage;
  gpus: IGpuUsage[];
  disk: IDiskUsage[];
  network: INetworkUsage | null;
  kernels: IKernelUsage[];
  idle: boolean;
  errors: { [source: string]: string };
  /** Notices of the last hour, oldest first. */
  notices?: INotice[];
}

/** Columns of `/history`: `time` plus one array per series. */
export interface IHistory {
  step_seconds: number;
  columns: { [name: string]: (number | null)[] };
  /** With `kernels=1`: each kernel seen in the range, largest peak memory first. */
  kernels?: IKernelHistory[];
  /** With `kernels=1`: out-of-memory notices of the range, oldest first. */
  notices?: INotice[];
}

/** One kernel's series in `/history?kernels=1`, aligned with `columns.time`. */
export interface IKernelHistory {
  id: string;
  name: string | null;
  path: string | null;
  first_seen: number;
  last_seen: number;
  running: boolean;
  columns: { [name: string]: (number | null)[] };
  peak_cpu_cores: number | null;
  mean_cpu_cores: number | null;
  peak_memory_bytes: number | null;
  mean_memory_bytes: number | null;
}

/** `/config`: what the UI needs to know about the server's configuration. */
export interface IConfig {
  version: string;
  sample_interval_seconds: number;
  checkpoint_interval_seconds: number;
  idle_after_seconds?: number;
  sources: { [source: string]: { available?: boolean } | boolean };
  /** The rates in force, with `currency` and `basis`. */
  rates?: { [name: string]: unknown };
  idle_culler_timeout_seconds?: number | null;
  history_bytes?: number;
  kernel_history_bytes?: number;
  /** Settings not in force, found at start (empty when the config is clean). */
  config_errors?: IConfigError[];
}

/** A setting that is not in force: refused (its default is used) or ignored. */
export interface IConfigError {
  /** `Class.name`, as in a config file. */
  trait: string;
  /** The configured value, as Python writes it. */
  value: string;
  message: string;
  kind: 'refused' | 'ignored';
  source?: string | null;
}

/** Money per resource, in `currency` units. */
export interface ICostBreakdown {
  cpu: number;
  memory: number;
  gpu: number;
  disk: number;
  server: number;
}

export interface ICost {
  currency: string;
  total: number;
  basis: string;
  breakdown: ICostBreakdown;
  basis_fallbacks?: string[];
  /** The quantities priced (SI), absent from costs stored before they were sent. */
  billed?: {
    cpu_core_seconds: number;
    memory_byte_seconds: number;
    gpu_seconds: number;
    disk_byte_seconds: number;
    seconds: number;
  };
  /** Resources whose billed quantity is the reservation, larger than the use. */
  billed_reserved?: string[];
}

/** `/session`: the session running now. */
export interface ISession {
  id: string;
  started: number;
  duration_seconds: number;
  idle_seconds: number | null;
  cpu_core_seconds: number | null;
  memory_byte_seconds: number | null;
  gpu_seconds: number | null;
  peak_memory_bytes: number | null;
  peak_cpu_cores: number | null;
  cost: ICost & { per_hour: number | null };
  projected?: {
    until_cull_seconds: number | null;
    total_at_cull: number | null;
  };
}

/** `/summary`: what a session used and cost, with advice in plain words. */
export interface ISummary {
  session_id: string;
  started: number | null;
  ended: number | null;
  duration_seconds: number | null;
  idle_seconds: number | null;
  idle_fraction: number | null;
  resource_hours: {
    cpu_core_hours: number | null;
    memory_gib_hours: number | null;
    gpu_hours: number | null;
  };
  peaks: {
    memory_bytes: number | null;
    memory_limit_bytes: number | null;
    cpu_cores: number | null;
    cpu_limit_cores: number | null;
    gpu_memory_bytes: number | null;
    gpu_utilization_percent: number | null;
  };
  cost: ICost | null;
  advice: string[];
  /** The same advice with codes, for the UI to translate (absent in old summaries). */
  advice_items?: IAdvice[];
  /** Only in `summary?last_unseen=1`: why that session ended. */
  ended_by?: string | null;
  /** Only for the current session: what it took from each of the user's budgets. */
  budgets?: IBudgetTake[];
}

/** One ended session of `/sessions`. */
export interface ISessionRecord {
  id: string;
  started: number;
  ended: number | null;
  ended_by: string | null;
  duration_seconds: number | null;
  totals: {
    idle_seconds?: number | null;
    cpu_core_seconds?: number | null;
    memory_byte_seconds?: number | null;
    gpu_seconds?: number | null;
    peak_memory_bytes?: number | null;
    peak_cpu_cores?: number | null;
    [name: string]: number | null | undefined;
  };
  cost: ICost | null;
  summary: ISummary | null;
}

export interface ISessions {
  sessions: ISessionRecord[];
}

/** What a resource budget counts, in SI base units. */
export type BudgetUnit =
  'cpu_core_seconds' | 'memory_byte_seconds' | 'gpu_seconds' | 'server_seconds';

/** A calendar period (UTC, or the hub's budget time zone) or a rolling window. */
export type BudgetPeriod = 'day' | 'week' | 'month' | { rolling_days: number };

/**
 * One budget, as the hub's usage service counts it: in a `currency`, or in a
 * resource `unit`. `used`, `limit` and `remaining` are in that currency or unit.
 */
export interface IBudget {
  /** `user:NAME`, `group:NAME` or `default`. */
  scope: string;
  period: BudgetPeriod;
  starts_at: number | null;
  resets_at: number | null;
  limit: number;
  used: number;
  remaining: number;
  currency?: string;
  unit?: BudgetUnit;
  exhausted: boolean;
  /** What the hub does once it is spent: nothing, refuse new servers, or stop them. */
  enforcement: 'none' | 'spawn' | 'stop';
  /** When the hub will stop this server because the budget is spent. */
  stop_at: number | null;
  /** Seconds until it is spent at this session's current rate; null: cannot tell. */
  projected_exhaustion_seconds: number | null;
}

/** `/budget`: the user's budgets, or none and why. */
export interface IBudgets {
  user: string | null;
  budgets: IBudget[];
  /** Why `budgets` is empty. */
  reason?: string;
  fetched_at: number | null;
}

/** What the current session took from one budget (in the summary). */
export interface IBudgetTake {
  scope: string;
  period: BudgetPeriod;
  currency?: string;
  unit?: BudgetUnit;
  limit: number;
  used: number;
  remaining: number;
  taken: number;
  resets_at: number | null;
}
