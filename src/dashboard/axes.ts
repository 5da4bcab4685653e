/**
 * Axis ticks for byte charts at binary-round values (256 MiB, 512 MiB, 1 GiB, 2 GiB, …)
 * rather than the decimal ones uPlot picks (1.07 GB is 2^30 bytes written in the wrong
 * base): the limits people compare against (a 4 GiB pod, a 16 GiB GPU) are binary.
 */

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

/**
 * Ticks from `min` to `max` at the smallest power of two (bytes) at least
 * `minIncrement`, the spacing uPlot found room for; multiples of it, so 0 is one.
 */
export function binaryTicks(
  min: number,
  max: number,
  minIncrement: number
): number[] {
  if (!isFinite(min) || !isFinite(max) || max < min) {
    return [];
  }
  const wanted =
    isFinite(minIncrement) && minIncrement > 0
      ? minIncrement
      : (max - min) / 5 || 1;
  const increment = 2 ** Math.max(0, Math.ceil(Math.log2(wanted) - 1e-9));
  const ticks: number[] = [];
  for (
    let tick = Math.ceil(min / increment) * increment;
    tick <= max + increment * 1e-9;
    tick += increment
  ) {
    ticks.push(tick);
  }
  return ticks;
}

/** A binary tick for people: "0 B", "256 MiB", "1.5 GiB", "1.25 GiB" (no trailing zeros). */
export function formatBinaryTick(bytes: number, suffix = ''): string {
  let value = Math.abs(bytes);
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  const text = Number(value.toFixed(2)).toString();
  return `${bytes < 0 ? '-' : ''}${text} ${UNITS[unit]}${suffix}`;
}
