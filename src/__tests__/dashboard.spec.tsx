import { fireEvent, render, screen } from '@testing-library/react';
import { Signal } from '@lumino/signaling';
import * as React from 'react';

import {
  appendSnapshot,
  DashboardModel,
  extendHistory
} from '../dashboard/DashboardModel';
import { DashboardView } from '../dashboard/DashboardView';
import { RANGES, rangeOf, stepOf } from '../dashboard/ranges';
import { IUsageModel } from '../tokens';
import { IHistory, IKernelHistory, ISnapshot } from '../wire';
import { GIB, session, snapshot } from './fixtures';
import { trans } from './translator';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const UPlot = require('uplot');

function kernel(id: string, path: string, memory: number[]): IKernelHistory {
  return {
    id,
    name: 'python3',
    path,
    first_seen: 100,
    last_seen: 108,
    running: true,
    columns: {
      cpu_cores: memory.map(() => 0.5),
      cpu_cores_max: memory.map(() => 1),
      memory_bytes: memory,
      memory_bytes_max: memory
    },
    peak_cpu_cores: 1,
    mean_cpu_cores: 0.5,
    peak_memory_bytes: Math.max(...memory),
    mean_memory_bytes: memory.reduce((a, b) => a + b, 0) / memory.length
  };
}

function dashboardHistory(): IHistory {
  const times = [100, 104, 108];
  return {
    step_seconds: 4,
    columns: {
      time: times,
      cpu_cores: [0.5, 1, 1.5],
      cpu_cores_max: [1, 1.5, 2],
      cpu_limit_cores: [2, 2, 2],
      memory_bytes: [GIB, 2 * GIB, 3 * GIB],
      memory_bytes_max: [GIB, 2 * GIB, 3 * GIB],
      memory_limit_bytes: [4 * GIB, 4 * GIB, 4 * GIB],
      network_rx_bytes_per_second: [1, 2, 3],
      network_tx_bytes_per_second: [1, 2, 3],
      cost_total: [0.1, 0.2, 0.3]
    },
    kernels: [
      kernel('k1', 'work/analysis.ipynb', [2 * GIB, 2 * GIB, 2 * GIB]),
      kernel('k2', 'small.ipynb', [GIB, 0.5 * GIB, null as unknown as number])
    ],
    notices: [
      {
        time: 104,
        kind: 'oom',
        kernel_id: 'k3',
        path: 'big.ipynb',
        message: 'Your kernel in big.ipynb was stopped'
      }
    ]
  };
}

/** What the server answers a minute after `dashboardHistory`, `since` its last bucket. */
function increment(): IHistory {
  const k1 = kernel('k1', 'work/analysis.ipynb', [2.5 * GIB, 3 * GIB, GIB]);
  k1.columns.memory_bytes_max = [3.5 * GIB, 3 * GIB, GIB];
  k1.first_seen = 90;
  k1.last_seen = 117;
  const k4 = kernel('k4', 'new.ipynb', [4 * GIB, 4 * GIB]);
  k4.columns = {
    cpu_cores: [2, 2],
    cpu_cores_max: [2, 2],
    memory_bytes: [4 * GIB, 4 * GIB],
    memory_bytes_max: [4 * GIB, 4 * GIB]
  };
  // The server aligns every kernel's columns with `time`; k4 began at 112.
  k4.columns = Object.fromEntries(
    Object.entries(k4.columns).map(([name, values]) => [
      name,
      [null, ...values]
    ])
  );
  k4.first_seen = 112;
  k4.last_seen = 117;
  return {
    step_seconds: 4,
    columns: {
      time: [108, 112, 116],
      cpu_cores: [1.25, 1.75, 0.5],
      cpu_cores_max: [2, 2, 1],
      cpu_limit_cores: [2, 2, 2],
      memory_bytes: [3 * GIB, 3 * GIB, GIB],
      memory_bytes_max: [3 * GIB, 3 * GIB, GIB],
      memory_limit_bytes: [4 * GIB, 4 * GIB, 4 * GIB],
      disk_used_bytes: [5, 5, 5],
      cost_total: [0.3, 0.4, 0.5]
    },
    kernels: [k4, k1],
    notices: [
      {
        time: 113,
        kind: 'oom',
        kernel_id: 'k4',
        path: 'new.ipynb',
        message: 'Your kernel in new.ipynb was stopped'
      }
    ]
  };
}

function view(
  overrides: Partial<React.ComponentProps<typeof DashboardView>> = {}
) {
  const onRange = jest.fn();
  const onOpen = jest.fn();
  const result = render(
    <DashboardView
      range={RANGES[1]}
      onRange={onRange}
      history={dashboardHistory()}
      historyError={null}
      snapshot={snapshot()}
      session={session()}
      currency="USD"
      trans={trans}
      onOpen={onOpen}
      {...overrides}
    />
  );
  return { ...result, onRange, onOpen };
}

const chartOf = (id: string) =>
  UPlot.instances.find(
    (u: any) => u.target.closest('[data-chart]')?.dataset.chart === id
  );

beforeEach(() => {
  UPlot.instances.length = 0;
});

describe('the dashboard', () => {
  it('draws CPU, memory, each kernel, network and cost, with limits', () => {
    const { container } = view();
    const ids = [...container.querySelectorAll('[data-chart]')].map(
      node => (node as HTMLElement).dataset.chart
    );
    expect(ids).toEqual([
      'cpu',
      'memory',
      'kernel-memory',
      'kernel-cpu',
      'network',
      'cost'
    ]);
    const cpu = chartOf('cpu');
    const labels = cpu.options.series.map((s: any) => s.label);
    expect(labels.slice(0, 4)).toEqual([
      'Time',
      'CPU used',
      'Peak in bucket',
      'Limit'
    ]);
    // The limit is a dashed line at 2 cores, and the axis reaches it.
    expect(cpu.data[3]).toEqual([2, 2, 2]);
    expect(cpu.options.series[3].dash).toBeTruthy();
    expect(cpu.options.scales.y.range(cpu, 0, 1)[1]).toBeCloseTo(2.1);
    // The y axis says its unit and formats its ticks with it.
    expect(cpu.options.axes[1].label).toBe('cores');
    expect(chartOf('memory').options.axes[1].values(null, [GIB])).toEqual([
      '1 GiB'
    ]);
  });

  it('stacks memory per kernel, named by notebook, with each own figure in the legend', () => {
    view();
    const chart = chartOf('kernel-memory');
    const labels = chart.options.series.map((s: any) => s.label);
    // The top band first; then the limit.
    expect(labels.slice(1, 4)).toEqual([
      'small.ipynb',
      'analysis.ipynb',
      'Limit'
    ]);
    expect(chart.data[1]).toEqual([3 * GIB, 2.5 * GIB, 2 * GIB]);
    expect(chart.data[2]).toEqual([2 * GIB, 2 * GIB, 2 * GIB]);
    // Hovering the top band shows that kernel's own memory, not the sum.
    expect(chart.options.series[1].value(chart, 0, 1, 1)).toBe('512.0 MiB');
  });

  it('marks out-of-memory kills on the memory charts', () => {
    view();
    const memory = chartOf('memory');
    expect(memory.options.hooks.draw).toHaveLength(1);
    const plot = screen.getByRole('img', { name: /^Memory\. / });
    expect(plot.getAttribute('aria-label')).toContain('1 out-of-memory kills');
  });

  it('projects the cost to the idle culler stop', () => {
    view();
    const cost = chartOf('cost');
    expect(cost.data[0]).toEqual([100, 104, 108, 108 + 3600]);
    expect(cost.data[1]).toEqual([0.1, 0.2, 0.3, null]);
    expect(cost.data[2]).toEqual([null, null, 0.3, 0.43]);
    expect(cost.options.axes[1].label).toBe('USD');
  });

  it('lists each kernel of the range with its notebook, peak and average', () => {
    const { container, onOpen } = view();
    const rows = container.querySelectorAll(
      '.jp-UsageDashboard-table tbody tr'
    );
    expect(rows).toHaveLength(2);
    expect(rows[0].textContent).toContain('analysis.ipynb');
    expect(rows[0].textContent).toContain('2.0 GiB');
    fireEvent.click(screen.getByRole('button', { name: 'analysis.ipynb' }));
    expect(onOpen).toHaveBeenCalledWith('work/analysis.ipynb');
  });

  it('offers the four ranges as a radio group the keyboard can move through', () => {
    const { onRange } = view();
    const radios = screen.getAllByRole('radio');
    expect(radios.map(r => r.textContent)).toEqual([
      '15 min',
      '1 h',
      '24 h',
      '30 d'
    ]);
    expect(radios[1].getAttribute('aria-checked')).toBe('true');
    fireEvent.keyDown(radios[1], { key: 'ArrowRight' });
    expect(onRange).toHaveBeenLastCalledWith(RANGES[2]);
    fireEvent.click(radios[0]);
    expect(onRange).toHaveBeenLastCalledWith(RANGES[0]);
  });

  it('puts byte axes on binary-round ticks, and no other', () => {
    view();
    const ticks = (id: string) => {
      const axis = chartOf(id).options.axes[1];
      const splits = axis.splits?.(null, 1, 0, 4.2 * GIB, 1e9) ?? null;
      return splits && axis.values(null, splits);
    };
    expect(ticks('memory')).toEqual([
      '0 B',
      '1 GiB',
      '2 GiB',
      '3 GiB',
      '4 GiB'
    ]);
    expect(ticks('kernel-memory')).toEqual(ticks('memory'));
    expect(
      chartOf('network').options.axes[1].values(null, [0, 512 * 1024])
    ).toEqual(['0 B/s', '512 KiB/s']);
    expect(ticks('cpu')).toBeNull();
    expect(ticks('cost')).toBeNull();
  });

  it('says so while loading and when the history fails', () => {
    view({ history: null });
    expect(screen.getByText('Loading the history…')).toBeTruthy();
    view({ history: null, historyError: 'The server cannot be reached.' });
    expect(
      screen.getByText(
        'The history is not available: The server cannot be reached.'
      )
    ).toBeTruthy();
  });
});

describe('ranges', () => {
  it('ask for about 300 points', () => {
    expect(RANGES.map(stepOf)).toEqual([3, 12, 288, 8640]);
    expect(rangeOf('24h').label).toBe('24 h');
    expect(rangeOf('nonsense').key).toBe('15m');
  });
});

function fakeUsage(): IUsageModel & { emit: (s: ISnapshot) => void } {
  const changed = new Signal<any, void>({});
  const usage: any = {
    changed,
    snapshot: null,
    session: session(),
    config: null,
    watch: jest.fn(() => ({ dispose: jest.fn(), isDisposed: false })),
    emit: (s: ISnapshot) => {
      usage.snapshot = s;
      changed.emit();
    }
  };
  return usage;
}

/** Resolves once `condition` holds (the poll ticks on timers of its own). */
async function until(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !condition(); i++) {
    await new Promise(resolve => setTimeout(resolve, 10));
  }
}

describe('the dashboard model', () => {
  it('fetches its range with kernels when shown and when the range changes', async () => {
    const usage = fakeUsage();
    const fetch = jest.fn(async () => dashboardHistory());
    const model = new DashboardModel({ usage, fetch: fetch as any });
    expect(fetch).not.toHaveBeenCalled();
    model.show();
    await until(() => fetch.mock.calls.length > 0 && model.history !== null);
    expect(usage.watch).toHaveBeenCalledWith(['snapshot', 'session']);
    expect(fetch).toHaveBeenCalledTimes(1);
    expect(fetch.mock.calls[0]).toEqual([
      'history',
      expect.objectContaining({ step: 3, kernels: 1 })
    ]);
    model.range = RANGES[2];
    await until(() => fetch.mock.calls.length > 1 && model.history !== null);
    expect(fetch).toHaveBeenCalledTimes(2);
    expect((fetch.mock.calls[1] as unknown[])[1]).toEqual(
      expect.objectContaining({ step: 288 })
    );
    // A snapshot extends the charts without asking the server for the history.
    usage.emit(snapshot({ time: 112, kernels: [] }));
    expect(fetch).toHaveBeenCalledTimes(2);
    expect(model.history?.columns.time).toEqual([100, 104, 108, 112]);
    model.dispose();
  });

  it('asks only for what is new once a minute, and appends it', async () => {
    const usage = fakeUsage();
    usage.emit(snapshot({ time: 109, kernels: [] }));
    const fetch = jest.fn(async (_path: string, query: any) =>
      query.since === 108 ? increment() : dashboardHistory()
    );
    const model = new DashboardModel({
      usage,
      fetch: fetch as any,
      historyRefreshSeconds: 0.05
    });
    model.show();
    await until(() => fetch.mock.calls.length > 1);
    // The whole range once, then from its last bucket at the step the server gave.
    expect(fetch.mock.calls[0][1]).toEqual({
      since: 109 - 900,
      step: 3,
      kernels: 1
    });
    expect(fetch.mock.calls[1][1]).toEqual({ since: 108, step: 4, kernels: 1 });
    await until(() => (model.history?.columns.time.length ?? 0) > 3);
    expect(model.history?.columns.time).toEqual([100, 104, 108, 112, 116]);
    // A new range starts over with the whole of it.
    const calls = fetch.mock.calls.length;
    model.range = RANGES[1];
    await until(() => fetch.mock.calls.length > calls);
    expect(fetch.mock.calls[calls][1]).toEqual(
      expect.objectContaining({ step: 12 })
    );
    model.dispose();
  });

  it('asks for the whole range again when an increment does not fit', async () => {
    const usage = fakeUsage();
    usage.emit(snapshot({ time: 109, kernels: [] }));
    const fetch = jest.fn(async (_path: string, query: any) =>
      query.since === 108
        ? { ...increment(), step_seconds: 60 }
        : dashboardHistory()
    );
    const model = new DashboardModel({
      usage,
      fetch: fetch as any,
      historyRefreshSeconds: 0.05
    });
    model.show();
    await until(() => fetch.mock.calls.length > 2);
    expect(fetch.mock.calls[1][1]).toEqual({ since: 108, step: 4, kernels: 1 });
    expect(fetch.mock.calls[2][1]).toEqual(
      expect.objectContaining({ step: 3 })
    );
    expect(model.history?.step_seconds).toBe(4);
    model.dispose();
  });

  it('appends an increment without gaps or duplicates and drops what left the range', () => {
    // Held: 100, 104, 108 (still filling). New: 108 again (complete now) and 112, 116.
    const held = dashboardHistory();
    held.kernels![1].last_seen = 103;
    held.kernels![1].running = false;
    const next = extendHistory(held, increment(), 10)!;
    // A 10 s range ending in the bucket at 116 reaches into the one at 104, not 100.
    expect(next.columns.time).toEqual([104, 108, 112, 116]);
    expect(next.columns.cpu_cores).toEqual([1, 1.25, 1.75, 0.5]);
    expect(next.columns.cost_total).toEqual([0.2, 0.3, 0.4, 0.5]);
    // A column the increment lacks is null there, and one only it has is null before.
    expect(next.columns.network_rx_bytes_per_second).toEqual([
      2,
      null,
      null,
      null
    ]);
    expect(next.columns.disk_used_bytes).toEqual([null, 5, 5, 5]);
    const byId = new Map(next.kernels!.map(k => [k.id, k]));
    // k1 runs on; k2 ended before the range now begins; k4 is new.
    const k1 = byId.get('k1')!;
    expect(k1.columns.memory_bytes).toEqual([2 * GIB, 2.5 * GIB, 3 * GIB, GIB]);
    expect(k1.peak_memory_bytes).toBe(3.5 * GIB);
    expect(k1.mean_memory_bytes).toBeCloseTo((8.5 * GIB) / 4);
    expect(k1.first_seen).toBe(90);
    expect(k1.last_seen).toBe(117);
    expect(byId.has('k2')).toBe(false);
    expect(byId.get('k4')!.columns.cpu_cores).toEqual([null, null, 2, 2]);
    expect(byId.get('k4')!.peak_cpu_cores).toBe(2);
    // The largest peak memory first, as the server orders them.
    expect(next.kernels!.map(k => k.id)).toEqual(['k4', 'k1']);
    // The notice at 104 is still in the range, the new one is there once.
    expect(next.notices!.map(n => n.time)).toEqual([104, 113]);
    expect(next.step_seconds).toBe(4);
    // A minute on, the range has moved past 104 and its notice.
    const later = extendHistory(
      next,
      {
        step_seconds: 4,
        columns: { time: [116, 120], cpu_cores: [0.5, 0.25] },
        kernels: [],
        notices: []
      },
      10
    )!;
    expect(later.columns.time).toEqual([108, 112, 116, 120]);
    expect(later.columns.cpu_cores).toEqual([1.25, 1.75, 0.5, 0.25]);
    expect(later.notices!.map(n => n.time)).toEqual([113]);
    expect(later.kernels!.map(k => [k.id, k.running])).toEqual([
      ['k4', false],
      ['k1', false]
    ]);
  });

  it('keeps an ended kernel while it is in the range', () => {
    const next = extendHistory(dashboardHistory(), increment(), 900)!;
    expect(next.columns.time).toEqual([100, 104, 108, 112, 116]);
    const k2 = next.kernels!.find(k => k.id === 'k2')!;
    expect(k2.running).toBe(false);
    expect(k2.columns.memory_bytes).toEqual([GIB, 0.5 * GIB, null, null, null]);
    expect(k2.peak_memory_bytes).toBe(GIB);
    expect(next.notices!.map(n => n.time)).toEqual([104, 113]);
  });

  it('refuses an increment at another step or after a gap', () => {
    expect(
      extendHistory(
        dashboardHistory(),
        { ...increment(), step_seconds: 8 },
        900
      )
    ).toBeNull();
    const late = increment();
    late.columns.time = [116, 120, 124];
    expect(extendHistory(dashboardHistory(), late, 900)).toBeNull();
    const empty = { step_seconds: 4, columns: { time: [] } };
    expect(extendHistory(dashboardHistory(), empty, 900)).toEqual(
      dashboardHistory()
    );
  });

  it('draws a kernel that started since the fetch from the next snapshot on', () => {
    const next = appendSnapshot(
      dashboardHistory(),
      snapshot({
        time: 112,
        kernels: [
          {
            id: 'k9',
            name: 'python3',
            path: 'fresh.ipynb',
            pid: 9,
            cpu_cores: 0.75,
            memory_bytes: GIB,
            gpu_memory_bytes: null,
            execution_state: 'busy'
          }
        ]
      }),
      0.4,
      900
    );
    const k9 = next.kernels!.find(k => k.id === 'k9')!;
    expect(k9.path).toBe('fresh.ipynb');
    expect(k9.running).toBe(true);
    expect(k9.columns.memory_bytes).toEqual([null, null, null, GIB]);
    expect(k9.columns.cpu_cores_max).toEqual([null, null, null, 0.75]);
    expect(k9.peak_memory_bytes).toBe(GIB);
    // Each kernel's columns stay as long as the times.
    for (const kernel of next.kernels!) {
      for (const values of Object.values(kernel.columns)) {
        expect(values).toHaveLength(4);
      }
    }
  });

  /** A snapshot at 112 s in which k1 of `dashboardHistory` runs on. */
  const k1Runs = () =>
    snapshot({
      time: 112,
      kernels: [
        {
          id: 'k1',
          name: 'python3',
          path: 'work/analysis.ipynb',
          pid: 1,
          cpu_cores: 0.25,
          memory_bytes: 3 * GIB,
          gpu_memory_bytes: null,
          execution_state: 'idle'
        }
      ]
    });

  it('names a kernel by the notebook the snapshot knows, before the next fetch', () => {
    const history = dashboardHistory();
    const unnamed = {
      ...history,
      kernels: history.kernels!.map(k =>
        k.id === 'k1' ? { ...k, path: null } : k
      )
    };
    const next = appendSnapshot(unnamed, k1Runs(), 0.35, 900);
    const [k1, k2] = next.kernels!;
    expect(k1.path).toBe('work/analysis.ipynb');
    // An ended kernel keeps the name the history gave it.
    expect(k2.path).toBe(history.kernels![1].path);
  });

  it('appends a snapshot to every kernel, a gap for ended ones', () => {
    const next = appendSnapshot(dashboardHistory(), k1Runs(), 0.35, 10);
    // A 10 s window keeps 104, 108 and the new point.
    expect(next.columns.time).toEqual([104, 108, 112]);
    expect(next.columns.cost_total).toEqual([0.2, 0.3, 0.35]);
    const [k1, k2] = next.kernels!;
    expect(k1.columns.memory_bytes).toEqual([2 * GIB, 2 * GIB, 3 * GIB]);
    expect(k1.columns.cpu_cores_max).toEqual([1, 1, 0.25]);
    expect(k2.running).toBe(false);
    expect(k2.columns.memory_bytes).toEqual([0.5 * GIB, null, null]);
  });
});
