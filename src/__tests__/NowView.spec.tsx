import { render, screen } from '@testing-library/react';
import * as React from 'react';

import { NowView } from '../components/NowView';
import { GIB, history, snapshot } from './fixtures';
import { trans } from './translator';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const UPlot = require('uplot');

beforeEach(() => {
  UPlot.instances.length = 0;
});

describe('NowView', () => {
  it('shows CPU and memory against their limits', () => {
    render(
      <NowView snapshot={snapshot()} error={null} trans={trans} warnAt={0.9} />
    );
    expect(screen.getByText('0.40 of 2.0 cores · 20 %')).toBeTruthy();
    expect(screen.getByText('1.2 / 4.0 GiB')).toBeTruthy();
    const memory = screen.getByRole('meter', { name: 'Memory' });
    expect(memory.getAttribute('aria-valuenow')).toBe('30');
    expect(memory.getAttribute('aria-valuetext')).toBe('1.2 / 4.0 GiB');
  });

  it('turns a meter to the warning colour near its limit', () => {
    const s = snapshot();
    s.memory.used_bytes = 3.8 * GIB;
    const { container } = render(
      <NowView snapshot={s} error={null} trans={trans} warnAt={0.9} />
    );
    const memory = container.querySelector('[data-key="memory"]');
    expect(memory?.classList.contains('jp-Usage-meter-warn')).toBe(true);
    const cpu = container.querySelector('[data-key="cpu"]');
    expect(cpu?.classList.contains('jp-Usage-meter-warn')).toBe(false);
  });

  it('follows the warning threshold it is given', () => {
    const { container } = render(
      <NowView snapshot={snapshot()} error={null} trans={trans} warnAt={0.25} />
    );
    const memory = container.querySelector('[data-key="memory"]');
    expect(memory?.classList.contains('jp-Usage-meter-warn')).toBe(true);
  });

  it('says in plain words when usage is loading or cannot be loaded', () => {
    const { rerender } = render(
      <NowView snapshot={null} error={null} trans={trans} warnAt={0.9} />
    );
    expect(screen.getByRole('status').textContent).toBe('Loading usage…');
    rerender(
      <NowView
        snapshot={null}
        error="The server cannot be reached."
        trans={trans}
        warnAt={0.9}
      />
    );
    expect(screen.getByRole('alert').textContent).toBe(
      'Usage is not available: The server cannot be reached.'
    );
  });

  it('keeps the last figures and says why they are old', () => {
    render(
      <NowView
        snapshot={snapshot()}
        error="The server cannot be reached."
        trans={trans}
        warnAt={0.9}
      />
    );
    expect(screen.getByRole('alert').textContent).toContain(
      'Showing the last figures'
    );
    expect(screen.getByText('1.2 / 4.0 GiB')).toBeTruthy();
  });

  it('shows a GPU per device and no GPU, disk or network without them', () => {
    const { container, rerender } = render(
      <NowView snapshot={snapshot()} error={null} trans={trans} warnAt={0.9} />
    );
    expect(container.querySelector('[data-key^="gpu"]')).toBeNull();
    expect(container.querySelector('[data-key="disk"]')).toBeNull();
    expect(container.querySelector('[data-key="network"]')).toBeNull();
    rerender(
      <NowView
        snapshot={snapshot({
          gpus: [
            {
              index: 0,
              uuid: 'GPU-1',
              name: 'NVIDIA A100',
              utilization_percent: 50,
              memory_used_bytes: GIB,
              memory_total_bytes: 40 * GIB,
              process_memory_bytes: null,
              power_watts: 100
            }
          ],
          disk: [
            {
              path: '/home/jovyan',
              used_bytes: 5 * GIB,
              total_bytes: 10 * GIB,
              free_bytes: 5 * GIB,
              directory_bytes: null
            }
          ],
          network: {
            rx_bytes: 0,
            tx_bytes: 0,
            rx_bytes_per_second: 2048,
            tx_bytes_per_second: 0
          }
        })}
        error={null}
        trans={trans}
        warnAt={0.9}
      />
    );
    expect(
      container.querySelector('[data-key="gpu-0"]')?.textContent
    ).toContain('NVIDIA A100');
    expect(container.querySelector('[data-key="disk"]')?.textContent).toContain(
      '5.0 / 10.0 GiB'
    );
    expect(
      container.querySelector('[data-key="network"]')?.textContent
    ).toContain('↓ 2.0 KiB/s');
  });

  it('draws a chart per figure from the history, scaled to the limit', () => {
    render(
      <NowView
        snapshot={snapshot()}
        history={history([100, 104, 108])}
        chartMinutes={10}
        error={null}
        trans={trans}
        warnAt={0.9}
      />
    );
    const chart = screen.getByRole('img', {
      name: 'Memory over the last 10 minutes, now 1.2 / 4.0 GiB; peak 1.0 GiB; limit 4.0 GiB'
    });
    expect(chart).toBeTruthy();
    // The scale is written over the chart: its peak and the limit it is drawn against.
    const scale = chart.parentElement?.querySelector('.jp-Usage-sparkScale');
    expect(scale?.textContent).toBe('peak 1.0 GiB' + 'limit 4.0 GiB');
    // Every chart's text alternative says the figure it ends on.
    expect(
      screen.getByRole('img', {
        name: /^CPU over the last 10 minutes, now 0\.40 cores/
      })
    ).toBeTruthy();
    // CPU and memory have history columns; nothing else is in the snapshot.
    expect(UPlot.instances).toHaveLength(2);
    const memory = UPlot.instances.find((u: any) => u.target === chart);
    expect(memory.data).toEqual([
      [100, 104, 108],
      [GIB, GIB, GIB]
    ]);
    const range = memory.options.scales.y.range;
    expect(range(memory, 0, GIB)).toEqual([0, 4 * GIB]);
  });

  it('tells of kernels stopped for want of memory, newest first', () => {
    const notice = (time: number, message: string) => ({
      time,
      kind: 'oom',
      kernel_id: 'k1',
      path: 'a.ipynb',
      message
    });
    render(
      <NowView
        snapshot={snapshot({
          notices: [notice(1, 'First.'), notice(2, 'Second.')]
        })}
        error={null}
        trans={trans}
        warnAt={0.9}
      />
    );
    const list = screen.getByRole('list', { name: 'Notices' });
    expect(list.textContent).toBe('Second.First.');
  });

  it('has no chart before the history arrives', () => {
    render(
      <NowView snapshot={snapshot()} error={null} trans={trans} warnAt={0.9} />
    );
    expect(screen.queryByRole('img')).toBeNull();
  });
});
