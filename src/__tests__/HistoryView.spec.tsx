import { fireEvent, render, screen, within } from '@testing-library/react';
import * as React from 'react';

import { costPerDay } from '../components/DailyCostChart';
import { HistoryView } from '../components/HistoryView';
import { dayKey, formatDateTime } from '../format';
import { sessionRecord } from './fixtures';
import { trans } from './translator';

// Noon on three local days, so that time zones cannot move them across midnight.
const DAY1 = new Date(2026, 10, 2, 12).getTime() / 1000;
const DAY2 = new Date(2026, 10, 3, 12).getTime() / 1000;
const DAY3 = new Date(2026, 10, 5, 12).getTime() / 1000;

const SESSIONS = [
  sessionRecord('s4', DAY3, 2.0),
  sessionRecord('s3', DAY2 + 600, 0.5),
  sessionRecord('s2', DAY2, 0.25),
  sessionRecord('s1', DAY1, 1.0)
];

function renderHistory(
  props: Partial<React.ComponentProps<typeof HistoryView>>
) {
  return render(
    <HistoryView
      sessions={SESSIONS}
      error={null}
      trans={trans}
      csvUrl="/base/api/usage/v1/sessions.csv"
      locale="en-US"
      {...props}
    />
  );
}

describe('HistoryView', () => {
  it('lists past sessions with date, duration, cost and peaks', () => {
    renderHistory({});
    const list = screen.getByRole('list', {
      name: 'Past sessions, newest first'
    });
    const items = within(list).getAllByRole('listitem');
    expect(items).toHaveLength(4);
    expect(items[0].textContent).toContain(formatDateTime(DAY3, 'en-US'));
    expect(items[0].querySelector('[data-key="cost"]')?.textContent).toBe(
      '$2.00'
    );
    expect(items[0].querySelector('[data-key="details"]')?.textContent).toBe(
      '1 h 0 min · peak 2.0 GiB memory, 1.2 cores · the server stopped'
    );
  });

  it('leaves out the session running now', () => {
    const running = { ...sessionRecord('now', DAY3 + 3600, 0.1), ended: null };
    renderHistory({ sessions: [running, ...SESSIONS] });
    const list = screen.getByRole('list', {
      name: 'Past sessions, newest first'
    });
    expect(within(list).getAllByRole('listitem')).toHaveLength(4);
    expect(document.querySelector('[data-session="now"]')).toBeNull();
  });

  it('charts the cost per day, one bar each', () => {
    renderHistory({});
    const days = screen.getByRole('list', { name: 'Cost per day' });
    const items = within(days).getAllByRole('listitem');
    expect(items.map(item => item.getAttribute('data-day'))).toEqual([
      dayKey(DAY1),
      dayKey(DAY2),
      dayKey(DAY3)
    ]);
    expect(items[1].textContent).toContain('$0.75');
    const fill = items[2].querySelector('.jp-Usage-dayFill') as HTMLElement;
    expect(fill.style.width).toBe('100.0%');
  });

  it('links the CSV export', () => {
    renderHistory({});
    const link = screen.getByRole('link', {
      name: 'Download all sessions as CSV'
    });
    expect(link.getAttribute('href')).toBe('/base/api/usage/v1/sessions.csv');
  });

  it('opens the summary of a session', () => {
    const onShowSummary = jest.fn();
    renderHistory({ onShowSummary });
    fireEvent.click(
      screen.getByRole('button', { name: formatDateTime(DAY1, 'en-US') })
    );
    expect(onShowSummary).toHaveBeenCalledWith(SESSIONS[3]);
  });

  it('has loading, empty and error states', () => {
    const onRetry = jest.fn();
    const { rerender } = renderHistory({ sessions: null });
    expect(screen.getByRole('status').textContent).toBe(
      'Loading past sessions…'
    );
    rerender(
      <HistoryView sessions={[]} error={null} trans={trans} csvUrl="x.csv" />
    );
    expect(screen.getByRole('status').textContent).toContain(
      'No past sessions yet'
    );
    rerender(
      <HistoryView
        sessions={null}
        error="The server answered 500."
        trans={trans}
        csvUrl="x.csv"
        onRetry={onRetry}
      />
    );
    expect(screen.getByRole('alert').textContent).toContain(
      'Past sessions are not available: The server answered 500.'
    );
    fireEvent.click(screen.getByRole('button', { name: 'Try again' }));
    expect(onRetry).toHaveBeenCalled();
  });
});

describe('costPerDay', () => {
  it('adds up the sessions of each day, oldest day first', () => {
    const days = costPerDay(SESSIONS, 14);
    expect(days.map(d => [d.day, d.total])).toEqual([
      [dayKey(DAY1), 1.0],
      [dayKey(DAY2), 0.75],
      [dayKey(DAY3), 2.0]
    ]);
  });

  it('keeps the most recent days and the newest currency only', () => {
    const mixed = [...SESSIONS, sessionRecord('eur', DAY3 + 60, 9, 'EUR')];
    const days = costPerDay(mixed, 2);
    expect(days.map(d => d.currency)).toEqual(['EUR']);
    expect(costPerDay(SESSIONS, 2).map(d => d.day)).toEqual([
      dayKey(DAY2),
      dayKey(DAY3)
    ]);
    expect(costPerDay([sessionRecord('free', DAY1, null)], 14)).toEqual([]);
  });
});
