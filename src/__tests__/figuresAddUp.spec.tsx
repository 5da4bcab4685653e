import { render, screen } from '@testing-library/react';
import * as React from 'react';

import { CostBreakdown } from '../components/CostBreakdown';
import { NowView } from '../components/NowView';
import { formatBytesIn } from '../format';
import { history, session, snapshot } from './fixtures';
import { trans } from './translator';

const GIB = 2 ** 30;
const MIB = 2 ** 20;

describe('figures that add up', () => {
  it('writes a peak in the unit of the figure and limit beside it', () => {
    expect(formatBytesIn(167.8 * MIB, 4 * GIB)).toBe('0.2 GiB');
    expect(formatBytesIn(167.8 * MIB, null)).toBe('167.8 MiB');
    const past = history([100, 104, 108]);
    past.columns.memory_bytes = [100 * MIB, 167.8 * MIB, 120 * MIB];
    render(
      <NowView
        snapshot={snapshot()}
        history={past}
        chartMinutes={10}
        error={null}
        trans={trans}
        warnAt={0.9}
      />
    );
    const chart = screen.getByRole('img', { name: /^Memory over/ });
    const scale = chart.parentElement?.querySelector('.jp-Usage-sparkScale');
    expect(scale?.textContent).toBe('peak 0.2 GiB' + 'limit 4.0 GiB');
  });

  it('shows the billed quantity beside each cost', () => {
    const seconds = 252;
    const cost = {
      ...session().cost,
      breakdown: {
        cpu: 0.0056,
        memory: 0.0014,
        gpu: 0,
        disk: 0,
        server: 0.001
      },
      billed: {
        cpu_core_seconds: 2 * seconds,
        memory_byte_seconds: 4 * GIB * seconds,
        gpu_seconds: 0,
        disk_byte_seconds: 0,
        seconds
      },
      billed_reserved: ['cpu', 'memory']
    };
    const { container } = render(
      <CostBreakdown cost={cost} trans={trans} locale="en-US" />
    );
    const text = (key: string) =>
      container.querySelector(`[data-key="${key}"]`)?.textContent;
    expect(text('billed-cpu')).toBe(' · 2.0 cores reserved × 4.2 min');
    expect(text('billed-memory')).toBe(' · 4.0 GiB reserved × 4.2 min');
    expect(text('billed-server')).toBe(' · 4.2 min');
    expect(text('cost-cpu')).toMatch(/^\$0\.006 · 2\.0 cores reserved/);
  });

  it('says "used" when the use was billed, and nothing for an old cost', () => {
    const used = {
      ...session().cost,
      basis: 'used',
      billed: {
        cpu_core_seconds: 0.12 * 7200,
        memory_byte_seconds: 0,
        gpu_seconds: 0,
        disk_byte_seconds: 0,
        seconds: 7200
      },
      billed_reserved: []
    };
    const { container } = render(
      <CostBreakdown cost={used} trans={trans} locale="en-US" />
    );
    expect(
      container.querySelector('[data-key="billed-cpu"]')?.textContent
    ).toBe(' · 0.12 cores used × 2.0 h');
    const old = render(
      <CostBreakdown cost={session().cost} trans={trans} locale="en-US" />
    );
    expect(old.container.querySelector('.jp-Usage-billed')).toBeNull();
  });
});
