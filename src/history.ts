import { IHistory, ISnapshot } from './wire';

/**
 * The `/history` columns one snapshot stands for, named as the server names them
 * (jupyter_usage/sampling/sampler.py `series_values`), so that the charts move
 * with every refresh between two `/history` requests.
 */
export function pointOf(snapshot: ISnapshot): {
  [name: string]: number | null;
} {
  const point: { [name: string]: number | null } = {
    time: snapshot.time,
    cpu_cores: snapshot.cpu.cores,
    cpu_limit_cores: snapshot.cpu.limit_cores,
    memory_bytes: snapshot.memory.used_bytes,
    memory_limit_bytes: snapshot.memory.limit_bytes
  };
  if (snapshot.gpus.length > 0) {
    const busy = snapshot.gpus
      .map(gpu => gpu.utilization_percent)
      .filter((value): value is number => value !== null);
    point.gpu_utilization_percent = busy.length
      ? busy.reduce((a, b) => a + b, 0) / busy.length
      : null;
    const used = snapshot.gpus
      .map(gpu => gpu.memory_used_bytes)
      .filter((value): value is number => value !== null);
    point.gpu_memory_bytes = used.length
      ? used.reduce((a, b) => a + b, 0)
      : null;
    for (const gpu of snapshot.gpus) {
      point[`gpu${gpu.index}_utilization_percent`] = gpu.utilization_percent;
      point[`gpu${gpu.index}_memory_bytes`] = gpu.memory_used_bytes;
    }
  }
  if (snapshot.disk.length > 0) {
    point.disk_used_bytes = snapshot.disk[0].used_bytes;
  }
  if (snapshot.network) {
    point.network_rx_bytes_per_second = snapshot.network.rx_bytes_per_second;
    point.network_tx_bytes_per_second = snapshot.network.tx_bytes_per_second;
  }
  return point;
}

/**
 * A copy of `history` with `point` appended (when it is newer than the last
 * bucket) and points older than `windowSeconds` before it dropped.
 */
export function appendPoint(
  history: IHistory,
  point: { [name: string]: number | null },
  windowSeconds: number
): IHistory {
  const times = history.columns.time ?? [];
  const time = point.time;
  const last = times.length ? times[times.length - 1] : null;
  if (time === null || time === undefined || (last !== null && time <= last)) {
    return history;
  }
  const since = time - windowSeconds;
  let first = 0;
  while (first < times.length && (times[first] ?? -Infinity) < since) {
    first++;
  }
  const columns: IHistory['columns'] = {};
  for (const [name, values] of Object.entries(history.columns)) {
    columns[name] = [...values.slice(first), point[name] ?? null];
  }
  return { ...history, columns };
}

/** The largest known value of a `/history` column; null when none is known. */
export function peakOf(
  values: readonly (number | null)[] | undefined
): number | null {
  let peak: number | null = null;
  for (const value of values ?? []) {
    if (value !== null && (peak === null || value > peak)) {
      peak = value;
    }
  }
  return peak;
}
