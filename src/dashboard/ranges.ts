/** The time ranges the dashboard offers, and the step it asks the server for. */

export interface IRange {
  /** Stable key for tests and the restored state. */
  key: '15m' | '1h' | '24h' | '30d';
  /** Shown as is: "15 min", "1 h", "24 h", "30 d". */
  label: string;
  seconds: number;
}

export const RANGES: readonly IRange[] = [
  { key: '15m', label: '15 min', seconds: 15 * 60 },
  { key: '1h', label: '1 h', seconds: 3600 },
  { key: '24h', label: '24 h', seconds: 86400 },
  { key: '30d', label: '30 d', seconds: 30 * 86400 }
];

/** About this many points per chart: enough for a full-width chart, cheap to serve. */
export const RANGE_POINTS = 300;

/** The step to ask for; the server rounds it up to what it stores (1 s, 1 min, 10 min). */
export function stepOf(range: IRange): number {
  return Math.max(1, Math.round(range.seconds / RANGE_POINTS));
}

export function rangeOf(key: string | undefined): IRange {
  return RANGES.find(range => range.key === key) ?? RANGES[0];
}
