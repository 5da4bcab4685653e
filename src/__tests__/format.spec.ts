import {
  formatBytes,
  formatBytesOf,
  formatCores,
  formatDuration,
  formatMoney,
  fraction
} from '../format';

describe('format', () => {
  it('formats bytes in binary units', () => {
    expect(formatBytes(0)).toBe('0 B');
    expect(formatBytes(1536)).toBe('1.5 KiB');
    expect(formatBytes(4 * 2 ** 30)).toBe('4.0 GiB');
    expect(formatBytes(null)).toBe('–');
  });

  it('formats used of limit in the unit of the limit', () => {
    expect(formatBytesOf(1.2 * 2 ** 30, 4 * 2 ** 30)).toBe('1.2 / 4.0 GiB');
    expect(formatBytesOf(512 * 2 ** 20, 4 * 2 ** 30)).toBe('0.5 / 4.0 GiB');
    expect(formatBytesOf(null, 2 ** 30)).toBe('– / 1.0 GiB');
    expect(formatBytesOf(2 ** 20, null)).toBe('1.0 MiB');
  });

  it('formats cores, durations and money', () => {
    expect(formatCores(0.25)).toBe('0.25');
    expect(formatCores(1.26)).toBe('1.3');
    expect(formatDuration(3725)).toBe('1 h 2 min');
    expect(formatDuration(-5)).toBe('0 s');
    expect(formatMoney(0.31, 'USD', 'en-US')).toBe('$0.31');
    expect(formatMoney(1.5, 'EUR', 'en-US')).toBe('€1.50');
  });

  it('keeps fractions within 0 and 1 and null when unknown', () => {
    expect(fraction(5, 4)).toBe(1);
    expect(fraction(1, 4)).toBe(0.25);
    expect(fraction(1, null)).toBeNull();
    expect(fraction(null, 4)).toBeNull();
  });
});
