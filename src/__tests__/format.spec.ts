import {
  basename,
  dayKey,
  formatBytes,
  formatBytesOf,
  formatCores,
  formatDuration,
  formatMoney,
  formatNumber,
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
    expect(formatMoney(0.0421, 'USD', 'en-US')).toBe('$0.042');
    expect(formatMoney(0.00005, 'USD', 'en-US')).toBe('< $0.001');
    expect(formatMoney(0, 'USD', 'en-US')).toBe('$0.00');
  });

  it('keeps fractions within 0 and 1 and null when unknown', () => {
    expect(fraction(5, 4)).toBe(1);
    expect(fraction(1, 4)).toBe(0.25);
    expect(fraction(1, null)).toBeNull();
    expect(fraction(null, 4)).toBeNull();
  });
});

describe('format, more', () => {
  it('writes used of limit compactly for the status bar', () => {
    expect(formatBytesOf(1.2 * 2 ** 30, 4 * 2 ** 30, '/')).toBe('1.2/4.0 GiB');
  });

  it('names a notebook by its file name', () => {
    expect(basename('work/deep/analysis.ipynb')).toBe('analysis.ipynb');
    expect(basename('top.ipynb')).toBe('top.ipynb');
  });

  it('groups times by local day', () => {
    const noon = new Date(2026, 0, 31, 12).getTime() / 1000;
    expect(dayKey(noon)).toBe('2026-01-31');
  });

  it('formats plain numbers with few decimals', () => {
    expect(formatNumber(1.256, 2, 'en-US')).toBe('1.26');
    expect(formatNumber(null)).toBe('–');
    expect(formatNumber(0.0025, 2, 'en-US')).toBe('< 0.01');
    expect(formatNumber(0.006, 2, 'en-US')).toBe('0.01');
    expect(formatNumber(0, 2, 'en-US')).toBe('0');
  });
});
