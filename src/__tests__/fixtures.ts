import {
  IBudget,
  IHistory,
  ISession,
  ISessionRecord,
  ISnapshot,
  ISummary
} from '../wire';

export const GIB = 2 ** 30;

export function snapshot(overrides: Partial<ISnapshot> = {}): ISnapshot {
  return {
    time: 1_700_000_000,
    cpu: {
      cores: 0.4,
      percent: 20,
      limit_cores: 2,
      guarantee_cores: null,
      source: 'cgroup',
      limit_source: 'cgroup',
      host_cores: 8
    },
    memory: {
      used_bytes: 1.2 * GIB,
      limit_bytes: 4 * GIB,
      guarantee_bytes: null,
      source: 'cgroup',
      limit_source: 'env',
      oom_kills: 0
    },
    gpus: [],
    disk: [],
    network: null,
    kernels: [],
    idle: false,
    errors: {},
    ...overrides
  };
}

export function history(times: number[]): IHistory {
  return {
    step_seconds: 4,
    columns: {
      time: times,
      cpu_cores: times.map(() => 0.5),
      memory_bytes: times.map(() => GIB),
      memory_limit_bytes: times.map(() => 4 * GIB)
    }
  };
}

export function session(overrides: Partial<ISession> = {}): ISession {
  return {
    id: 'current',
    started: 1_700_000_000,
    duration_seconds: 5400,
    idle_seconds: 1800,
    cpu_core_seconds: 5400,
    memory_byte_seconds: 2 * GIB * 3600,
    gpu_seconds: 0,
    peak_memory_bytes: 3 * GIB,
    peak_cpu_cores: 1.5,
    cost: {
      currency: 'USD',
      total: 0.31,
      per_hour: 0.12,
      basis: 'max',
      breakdown: { cpu: 0.05, memory: 0.02, gpu: 0, disk: 0, server: 0.24 },
      basis_fallbacks: []
    },
    projected: { until_cull_seconds: 3600, total_at_cull: 0.43 },
    ...overrides
  };
}

export function summary(overrides: Partial<ISummary> = {}): ISummary {
  return {
    session_id: 'past-1',
    started: 1_700_000_000,
    ended: 1_700_007_200,
    duration_seconds: 7200,
    idle_seconds: 3600,
    idle_fraction: 0.5,
    resource_hours: {
      cpu_core_hours: 1.25,
      memory_gib_hours: 6.5,
      gpu_hours: null
    },
    peaks: {
      memory_bytes: 3.8 * GIB,
      memory_limit_bytes: 4 * GIB,
      cpu_cores: 1.9,
      cpu_limit_cores: 2,
      gpu_memory_bytes: null,
      gpu_utilization_percent: null
    },
    cost: {
      currency: 'EUR',
      total: 1.5,
      basis: 'used',
      breakdown: { cpu: 1, memory: 0.5, gpu: 0, disk: 0, server: 0 },
      basis_fallbacks: []
    },
    advice: [
      'Your memory peaked at 3.8 GiB of the 4 GiB limit (95 %): a larger server profile would keep your kernels from running out of memory.'
    ],
    ...overrides
  };
}

export function sessionRecord(
  id: string,
  started: number,
  total: number | null,
  currency = 'USD'
): ISessionRecord {
  return {
    id,
    started,
    ended: started + 3600,
    ended_by: 'stop',
    duration_seconds: 3600,
    totals: { peak_memory_bytes: 2 * GIB, peak_cpu_cores: 1.2 },
    cost:
      total === null
        ? null
        : {
            currency,
            total,
            basis: 'max',
            breakdown: { cpu: total, memory: 0, gpu: 0, disk: 0, server: 0 }
          },
    summary: null
  };
}

/** A currency budget at 12.40 of 20.00 EUR this month, lasting 6 h at this rate. */
export function budget(overrides: Partial<IBudget> = {}): IBudget {
  return {
    scope: 'group:students',
    period: 'month',
    starts_at: 1_790_000_000,
    resets_at: 1_790_000_000 + 30 * 86400,
    limit: 20,
    used: 12.4,
    remaining: 7.6,
    currency: 'EUR',
    exhausted: false,
    enforcement: 'spawn',
    stop_at: null,
    projected_exhaustion_seconds: 6 * 3600,
    ...overrides
  };
}

/** A GPU-hour budget at 3.5 of 10 h this week. */
export function gpuBudget(overrides: Partial<IBudget> = {}): IBudget {
  const resource = budget({
    period: 'week',
    limit: 10 * 3600,
    used: 3.5 * 3600,
    remaining: 6.5 * 3600,
    unit: 'gpu_seconds',
    projected_exhaustion_seconds: null
  });
  delete resource.currency;
  return { ...resource, ...overrides };
}
