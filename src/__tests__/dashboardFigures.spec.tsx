import { render, within } from '@testing-library/react';
import * as React from 'react';

import { DashboardView } from '../dashboard/DashboardView';
import { RANGES } from '../dashboard/ranges';
import { IHistory } from '../wire';
import { GIB, session, snapshot } from './fixtures';
import { trans } from './translator';

function history(): IHistory {
  return {
    step_seconds: 12,
    columns: {
      time: [100, 112, 124],
      cpu_cores: [0.5, 1, 0.4],
      cpu_cores_max: [1, 1.8, 0.6],
      cpu_limit_cores: [2, 2, 2],
      memory_bytes: [GIB, 3 * GIB, 1.2 * GIB],
      memory_bytes_max: [GIB, 3.1 * GIB, 1.3 * GIB],
      memory_limit_bytes: [4 * GIB, 4 * GIB, 4 * GIB],
      network_rx_bytes_per_second: [1024, 4096, 2048],
      network_tx_bytes_per_second: [512, 512, 512],
      cost_total: [0.1, 0.2, 0.31]
    },
    kernels: [],
    notices: []
  };
}

function figuresOf(container: HTMLElement, chart: string): string[] {
  return [
    ...container.querySelectorAll(
      `[data-chart="${chart}"] .jp-UsageDashboard-figure`
    )
  ].map(node => {
    const term = node.querySelector('dt')?.textContent;
    const value = node.querySelector('dd')?.textContent;
    return `${term}: ${value}`;
  });
}

describe('the dashboard headline figures', () => {
  it('writes now, peak and limit above each chart, without hovering', () => {
    const { container } = render(
      <DashboardView
        range={RANGES[1]}
        onRange={jest.fn()}
        history={history()}
        historyError={null}
        snapshot={snapshot()}
        session={session()}
        currency="USD"
        trans={trans}
        onOpen={jest.fn()}
      />
    );
    expect(figuresOf(container, 'cpu')).toEqual([
      'Now: 0.40 cores',
      'Peak: 1.8 cores',
      'Limit: 2.0 cores'
    ]);
    // In one unit, the limit's: a peak of 3.1 GiB does not read as 3174 MiB.
    expect(figuresOf(container, 'memory')).toEqual([
      'Now: 1.2 GiB',
      'Peak: 3.1 GiB',
      'Limit: 4.0 GiB'
    ]);
    expect(figuresOf(container, 'network')).toEqual([
      'Received now: 2.0 KiB/s',
      'Sent now: 512 B/s',
      'Peak received: 4.0 KiB/s'
    ]);
    expect(figuresOf(container, 'cost')).toEqual([
      'So far: $0.31',
      'Per hour now: $0.12',
      "At the culler's stop: $0.43"
    ]);
    // Screen readers get them as a list of terms named by the chart.
    const cost = container.querySelector('[data-chart="cost"] dl');
    expect(cost?.getAttribute('aria-label')).toBe('Cost of this session');
    expect(within(cost as HTMLElement).getAllByRole('definition')).toHaveLength(
      3
    );
  });
});
