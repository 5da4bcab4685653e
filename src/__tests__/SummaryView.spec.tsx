import { render, screen } from '@testing-library/react';
import * as React from 'react';

import { SummaryView } from '../components/SummaryView';
import { summary } from './fixtures';
import { trans } from './translator';

describe('SummaryView', () => {
  it('shows duration, resource-hours, peaks, cost and advice', () => {
    const { container } = render(
      <SummaryView summary={summary()} trans={trans} locale="en-US" />
    );
    const text = (key: string) =>
      container.querySelector(`[data-key="${key}"]`)?.textContent;
    expect(text('summary-cost')).toBe('€1.50');
    expect(text('summary-duration')).toBe('2 h 0 min');
    expect(text('summary-peak-memory')).toBe('3.8 / 4.0 GiB');
    expect(screen.getByText('1 h 0 min (50 %)')).toBeTruthy();
    expect(screen.getByText('1.25 core-hours')).toBeTruthy();
    expect(screen.getByText('6.5 GiB-hours')).toBeTruthy();
    expect(screen.getByText('1.9 of 2.0 cores')).toBeTruthy();
    expect(screen.getByText('Billed on what was used.')).toBeTruthy();
    expect(screen.getByRole('listitem').textContent).toContain(
      'a larger server profile'
    );
    // No GPU in this session.
    expect(screen.queryByText('GPU-hours', { exact: false })).toBeNull();
  });

  it('says when there is nothing to advise', () => {
    render(<SummaryView summary={summary({ advice: [] })} trans={trans} />);
    expect(screen.getByText('No advice for this session.')).toBeTruthy();
  });

  it('shows GPU figures for a session with a GPU', () => {
    const s = summary();
    s.resource_hours.gpu_hours = 2;
    s.peaks.gpu_memory_bytes = 2 ** 30;
    s.peaks.gpu_utilization_percent = 80;
    render(<SummaryView summary={s} trans={trans} locale="en-US" />);
    expect(screen.getByText('2 GPU-hours')).toBeTruthy();
    expect(screen.getByText('80 %')).toBeTruthy();
  });

  it('says in plain words when the summary is missing', () => {
    render(
      <SummaryView
        summary={null}
        error="The server cannot be reached."
        trans={trans}
      />
    );
    expect(screen.getByRole('alert').textContent).toBe(
      'The summary is not available: The server cannot be reached.'
    );
  });
});
