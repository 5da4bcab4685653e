import { render, screen } from '@testing-library/react';
import * as React from 'react';

import { SessionView } from '../components/SessionView';
import { session } from './fixtures';
import { trans } from './translator';

function renderSession(s = session(), error: string | null = null) {
  return render(
    <SessionView
      session={s}
      error={error}
      trans={trans}
      showGpu={false}
      locale="en-US"
    />
  );
}

describe('SessionView', () => {
  it('shows the cost so far, per hour and until the idle culler', () => {
    const { container } = renderSession();
    const text = (key: string) =>
      container.querySelector(`[data-key="${key}"]`)?.textContent;
    expect(text('cost-total')).toBe('$0.31');
    expect(text('cost-per-hour')).toBe('$0.12 per hour at the current use');
    expect(text('cost-projected')).toBe(
      '$0.43 by the time the idle culler would stop this server (in 1 h 0 min, if it stays idle)'
    );
    expect(text('duration')).toBe('1 h 30 min');
  });

  it('breaks the cost down by the resources that cost anything', () => {
    const { container } = renderSession();
    expect(container.querySelector('[data-key="cost-cpu"]')?.textContent).toBe(
      '$0.05'
    );
    expect(
      container.querySelector('[data-key="cost-server"]')?.textContent
    ).toBe('$0.24');
    expect(container.querySelector('[data-key="cost-gpu"]')).toBeNull();
    expect(
      screen.getByText(
        'Billed on what was used or reserved, whichever is more.'
      )
    ).toBeTruthy();
  });

  it('shows resource-hours in plain units', () => {
    renderSession();
    expect(screen.getByText('1.5 core-hours')).toBeTruthy();
    expect(screen.getByText('2 GiB-hours')).toBeTruthy();
    expect(screen.getByText('3.0 GiB')).toBeTruthy();
  });

  it('leaves the projection out when the idle culler is unknown', () => {
    const { container } = renderSession(
      session({ projected: { until_cull_seconds: null, total_at_cull: null } })
    );
    expect(container.querySelector('[data-key="cost-projected"]')).toBeNull();
  });

  it('says so when nothing is priced', () => {
    const s = session();
    s.cost = {
      ...s.cost,
      total: 0,
      per_hour: 0,
      breakdown: { cpu: 0, memory: 0, gpu: 0, disk: 0, server: 0 }
    };
    renderSession(s);
    expect(
      screen.getByText('No prices are set on this server: its use is free.')
    ).toBeTruthy();
  });

  it('names the resources billed on use for want of a reservation', () => {
    const s = session();
    s.cost.basis_fallbacks = ['memory'];
    renderSession(s);
    expect(
      screen.getByText(
        /Billed on use for Memory, as no reservation was known\./
      )
    ).toBeTruthy();
  });

  it('has loading and error states', () => {
    const { rerender } = render(
      <SessionView session={null} error={null} trans={trans} showGpu={false} />
    );
    expect(screen.getByRole('status').textContent).toBe('Loading the session…');
    rerender(
      <SessionView
        session={null}
        error="Not found"
        trans={trans}
        showGpu={false}
      />
    );
    expect(screen.getByRole('alert').textContent).toBe(
      'The session is not available: Not found'
    );
  });
});
