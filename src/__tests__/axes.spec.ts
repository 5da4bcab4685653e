import { binaryTicks, formatBinaryTick } from '../dashboard/axes';

const MIB = 2 ** 20;
const GIB = 2 ** 30;

describe('binary ticks', () => {
  it('fall on powers of two where uPlot would pick decimal steps', () => {
    // uPlot found room for a tick every 1 GB (decimal): 1 GiB is the next binary step.
    expect(binaryTicks(0, 4.2 * GIB, 1e9)).toEqual([
      0,
      GIB,
      2 * GIB,
      3 * GIB,
      4 * GIB
    ]);
    expect(
      binaryTicks(0, 1.1 * GIB, 2.5e8).map(t => formatBinaryTick(t))
    ).toEqual(['0 B', '256 MiB', '512 MiB', '768 MiB', '1 GiB']);
    expect(
      binaryTicks(0, 2.1 * GIB, 5e8).map(t => formatBinaryTick(t))
    ).toEqual(['0 B', '512 MiB', '1 GiB', '1.5 GiB', '2 GiB']);
  });

  it('never come closer than the spacing asked for', () => {
    for (const increment of [3, 1000, 7e5, 1.2e8, 3e9, 5e12]) {
      const ticks = binaryTicks(0, 10 * increment, increment);
      const step = ticks[1] - ticks[0];
      expect(step).toBeGreaterThanOrEqual(increment);
      expect(step).toBeLessThan(2 * increment);
      expect(Math.log2(step) % 1).toBe(0);
    }
  });

  it('start at the first multiple within the scale', () => {
    expect(binaryTicks(300 * MIB, 1100 * MIB, 2e8)).toEqual([
      512 * MIB,
      768 * MIB,
      1024 * MIB
    ]);
    expect(binaryTicks(0, 0, 0)).toEqual([0]);
    expect(binaryTicks(5, 1, 1)).toEqual([]);
    expect(binaryTicks(0, NaN, 1)).toEqual([]);
  });

  it('read as whole binary units', () => {
    expect(formatBinaryTick(1.25 * GIB)).toBe('1.25 GiB');
    expect(formatBinaryTick(512 * 1024, '/s')).toBe('512 KiB/s');
    expect(formatBinaryTick(100)).toBe('100 B');
  });
});
