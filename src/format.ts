/**
 * Formatting for people. The wire carries SI base units; only the UI turns them
 * into GiB, percentages and money.
 */

const BYTE_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

export function formatBytes(
  bytes: number | null | undefined,
  digits = 1
): string {
  if (bytes === null || bytes === undefined || !isFinite(bytes)) {
    return '–';
  }
  let value = Math.abs(bytes);
  let unit = 0;
  while (value >= 1024 && unit < BYTE_UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  const sign = bytes < 0 ? '-' : '';
  return `${sign}${value.toFixed(unit === 0 ? 0 : digits)} ${BYTE_UNITS[unit]}`;
}

/** `used / limit` in one unit, e.g. `1.2 / 4.0 GiB` (`1.2/4.0 GiB` with `separator` `/`). */
export function formatBytesOf(
  used: number | null | undefined,
  limit: number | null | undefined,
  separator = ' / '
): string {
  if (limit === null || limit === undefined) {
    return formatBytes(used);
  }
  let unit = 0;
  let divisor = 1;
  while (limit / divisor >= 1024 && unit < BYTE_UNITS.length - 1) {
    divisor *= 1024;
    unit++;
  }
  const usedText =
    used === null || used === undefined ? '–' : (used / divisor).toFixed(1);
  return `${usedText}${separator}${(limit / divisor).toFixed(1)} ${BYTE_UNITS[unit]}`;
}

/**
 * `bytes` in the unit `formatBytesOf` gives `reference` (a limit), so that a peak
 * reads in the unit of the figure beside it: `0.2 GiB`, not `167.8 MiB`, beside
 * `0.2 / 4.0 GiB`. Without a reference, as `formatBytes`.
 */
export function formatBytesIn(
  bytes: number | null | undefined,
  reference: number | null | undefined
): string {
  if (reference === null || reference === undefined || !isFinite(reference)) {
    return formatBytes(bytes);
  }
  if (bytes === null || bytes === undefined || !isFinite(bytes)) {
    return '–';
  }
  let unit = 0;
  let divisor = 1;
  while (reference / divisor >= 1024 && unit < BYTE_UNITS.length - 1) {
    divisor *= 1024;
    unit++;
  }
  return `${(bytes / divisor).toFixed(unit === 0 ? 0 : 1)} ${BYTE_UNITS[unit]}`;
}

export function formatCores(cores: number | null | undefined): string {
  if (cores === null || cores === undefined || !isFinite(cores)) {
    return '–';
  }
  return cores >= 10 ? cores.toFixed(0) : cores.toFixed(cores >= 1 ? 1 : 2);
}

export function formatPercent(percent: number | null | undefined): string {
  if (percent === null || percent === undefined || !isFinite(percent)) {
    return '–';
  }
  return `${percent.toFixed(percent < 10 ? 1 : 0)} %`;
}

export function formatRate(bytesPerSecond: number | null | undefined): string {
  if (bytesPerSecond === null || bytesPerSecond === undefined) {
    return '–';
  }
  return `${formatBytes(bytesPerSecond)}/s`;
}

export function formatMoney(
  amount: number | null | undefined,
  currency: string,
  locale?: string
): string {
  if (amount === null || amount === undefined || !isFinite(amount)) {
    return '–';
  }
  const format = (value: number) => {
    try {
      return new Intl.NumberFormat(locale, {
        style: 'currency',
        currency,
        maximumFractionDigits: value !== 0 && Math.abs(value) < 0.1 ? 3 : 2
      }).format(value);
    } catch {
      return `${value.toFixed(2)} ${currency}`;
    }
  };
  // A few seconds of a cheap server: say "less than", not "0.000".
  if (amount > 0 && amount < 0.001) {
    return `< ${format(0.001)}`;
  }
  return format(amount);
}

export function formatDuration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !isFinite(seconds)) {
    return '–';
  }
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (h > 0) {
    return `${h} h ${m} min`;
  }
  if (m > 0) {
    return `${m} min ${s % 60} s`;
  }
  return `${s} s`;
}

/** Share of a limit in [0, 1], or null when either side is unknown. */
export function fraction(
  used: number | null | undefined,
  limit: number | null | undefined
): number | null {
  if (used === null || used === undefined || !limit) {
    return null;
  }
  return Math.min(1, Math.max(0, used / limit));
}

/**
 * A plain number with at most `digits` decimals, in the reader's locale; a value
 * too small to show is `< 0.01`, not a misleading `0`.
 */
export function formatNumber(
  value: number | null | undefined,
  digits = 1,
  locale?: string
): string {
  if (value === null || value === undefined || !isFinite(value)) {
    return '–';
  }
  const format = (n: number) =>
    new Intl.NumberFormat(locale, { maximumFractionDigits: digits }).format(n);
  const smallest = 10 ** -digits;
  if (value > 0 && value < smallest / 2) {
    return `< ${format(smallest)}`;
  }
  return format(value);
}

/** Date and time of a unix time, e.g. `Nov 3, 2026, 2:05 PM`. */
export function formatDateTime(
  unixSeconds: number | null | undefined,
  locale?: string
): string {
  if (unixSeconds === null || unixSeconds === undefined) {
    return '–';
  }
  return new Intl.DateTimeFormat(locale, {
    dateStyle: 'medium',
    timeStyle: 'short'
  }).format(new Date(unixSeconds * 1000));
}

/** A day for a chart label, e.g. `Tue, Nov 3`. */
export function formatDay(unixSeconds: number, locale?: string): string {
  return new Intl.DateTimeFormat(locale, {
    weekday: 'short',
    month: 'short',
    day: 'numeric'
  }).format(new Date(unixSeconds * 1000));
}

/** The local calendar day of a unix time, `YYYY-MM-DD`, for grouping. */
export function dayKey(unixSeconds: number): string {
  const date = new Date(unixSeconds * 1000);
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
}

/** The last part of a path: `analysis.ipynb` for `work/analysis.ipynb`. */
export function basename(path: string): string {
  const parts = path.split('/').filter(part => part !== '');
  return parts.length ? parts[parts.length - 1] : path;
}
