import { render, screen } from '@testing-library/react';
import * as React from 'react';

import { NowView } from '../components/NowView';
import { ISnapshot } from '../tokens';
import { trans } from './translator';

export function snapshot(overrides: Partial<ISnapshot> = {}): ISnapshot {
  return {
    time: 1_700_000_000,
    cpu: {
      cores: 0.4,
      percent: 20,
      limit_cores: 2,
      guarantee_cores: null,
      source: 'cgroup',
      limit_source: 'cgroup',
      host_cores: 8
    },
    memory: {
      used_bytes: 1.2 * 2 ** 30,
      limit_bytes: 4 * 2 ** 30,
      guarantee_bytes: null,
      source: 'cgroup',
      limit_source: 'env',
      oom_kills: 0
    },
    gpus: [],
    disk: [],
    network: null,
    kernels: [],
    idle: false,
    errors: {},
    ...overrides
  };
}

describe('NowView', () => {
  it('shows CPU and memory against their limits', () => {
    render(
      <NowView snapshot={snapshot()} error={null} trans={trans} warnAt={0.9} />
    );
    expect(screen.getByText('0.40 of 2.0 cores · 20 %')).toBeTruthy();
    expect(screen.getByText('1.2 / 4.0 GiB')).toBeTruthy();
    const memory = screen.getByRole('meter', { name: 'Memory' });
    expect(memory.getAttribute('aria-valuenow')).toBe('30');
  });

  it('turns a meter to the warning colour near its limit', () => {
    const s = snapshot();
    s.memory.used_bytes = 3.8 * 2 ** 30;
    const { container } = render(
      <NowView snapshot={s} error={null} trans={trans} warnAt={0.9} />
    );
    const memory = container.querySelector('[data-key="memory"]');
    expect(memory?.classList.contains('jp-Usage-meter-warn')).toBe(true);
    const cpu = container.querySelector('[data-key="cpu"]');
    expect(cpu?.classList.contains('jp-Usage-meter-warn')).toBe(false);
  });

  it('says in plain words when usage cannot be loaded', () => {
    render(
      <NowView
        snapshot={null}
        error="The server cannot be reached."
        trans={trans}
        warnAt={0.9}
      />
    );
    expect(
      screen.getByText('Usage is not available: The server cannot be reached.')
    ).toBeTruthy();
  });

  it('shows a GPU per device and hides the section without one', () => {
    const { container, rerender } = render(
      <NowView snapshot={snapshot()} error={null} trans={trans} warnAt={0.9} />
    );
    expect(container.querySelector('[data-key^="gpu"]')).toBeNull();
    rerender(
      <NowView
        snapshot={snapshot({
          gpus: [
            {
              index: 0,
              uuid: 'GPU-1',
              name: 'NVIDIA A100',
              utilization_percent: 50,
              memory_used_bytes: 2 ** 30,
              memory_total_bytes: 40 * 2 ** 30,
              process_memory_bytes: null,
              power_watts: 100
            }
          ]
        })}
        error={null}
        trans={trans}
        warnAt={0.9}
      />
    );
    expect(container.querySelector('[data-key="gpu-0"]')?.textContent).toContain(
      'NVIDIA A100'
    );
  });
});
