import { appendPoint, pointOf } from '../history';
import { GIB, history, snapshot } from './fixtures';

describe('pointOf', () => {
  it('names figures as the history columns do', () => {
    const point = pointOf(
      snapshot({
        time: 2000,
        gpus: [
          {
            index: 0,
            uuid: null,
            name: null,
            utilization_percent: 20,
            memory_used_bytes: GIB,
            memory_total_bytes: 8 * GIB,
            process_memory_bytes: null,
            power_watts: null
          },
          {
            index: 1,
            uuid: null,
            name: null,
            utilization_percent: 60,
            memory_used_bytes: 3 * GIB,
            memory_total_bytes: 8 * GIB,
            process_memory_bytes: null,
            power_watts: null
          }
        ]
      })
    );
    expect(point).toMatchObject({
      time: 2000,
      cpu_cores: 0.4,
      memory_bytes: 1.2 * GIB,
      memory_limit_bytes: 4 * GIB,
      gpu_utilization_percent: 40,
      gpu_memory_bytes: 4 * GIB,
      gpu1_utilization_percent: 60
    });
    expect(point).not.toHaveProperty('disk_used_bytes');
  });
});

describe('appendPoint', () => {
  it('appends a newer point and drops what left the window', () => {
    const h = history([100, 104, 108]);
    const next = appendPoint(h, { time: 160, cpu_cores: 2 }, 55);
    expect(next.columns.time).toEqual([108, 160]);
    expect(next.columns.cpu_cores).toEqual([0.5, 2]);
    // A column the point lacks gets a gap.
    expect(next.columns.memory_bytes).toEqual([GIB, null]);
    expect(h.columns.time).toHaveLength(3);
  });

  it('ignores a point no newer than the last bucket', () => {
    const h = history([100, 104]);
    expect(appendPoint(h, { time: 104, cpu_cores: 2 }, 600)).toBe(h);
  });
});
