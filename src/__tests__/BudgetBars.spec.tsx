import { render, screen } from '@testing-library/react';
import * as React from 'react';

import { BudgetBars } from '../components/BudgetBars';
import { BudgetTakes } from '../components/BudgetTakes';
import { StatusText } from '../components/StatusText';
import { SummaryView } from '../components/SummaryView';
import { budget, gpuBudget, session, snapshot, summary } from './fixtures';
import { trans } from './translator';

const NOW = 1_790_000_000 + 86400;

describe('BudgetBars', () => {
  it('shows one bar per budget with its use, forecast and reset', () => {
    const { container } = render(
      <BudgetBars
        budgets={{
          user: 'ada',
          budgets: [budget(), gpuBudget()],
          fetched_at: NOW
        }}
        trans={trans}
        locale="en-US"
        now={NOW}
      />
    );
    const bars = container.querySelectorAll('[data-key="budget"]');
    expect(bars).toHaveLength(2);
    expect(bars[0].querySelector('.jp-Usage-budgetText')?.textContent).toBe(
      '12.40 of 20.00 EUR this month · lasts about 6 h at this rate'
    );
    expect(bars[1].querySelector('.jp-Usage-budgetText')?.textContent).toBe(
      'GPU: 3.5 of 10 h this week'
    );
    const meters = screen.getAllByRole('meter');
    expect(meters[0].getAttribute('aria-valuenow')).toBe('62');
    expect(meters[0].getAttribute('aria-label')).toBe(
      'Budget: The budget of group students'
    );
    expect(bars[0].textContent).toContain(
      'The budget of group students, resets'
    );
  });

  it('colours a budget past 80 % and a spent one', () => {
    const { container } = render(
      <BudgetBars
        budgets={{
          user: 'ada',
          budgets: [
            budget({ used: 17 }),
            budget({ used: 21, exhausted: true, scope: 'user:ada' })
          ],
          fetched_at: NOW
        }}
        trans={trans}
        now={NOW}
      />
    );
    const bars = container.querySelectorAll('[data-key="budget"]');
    expect(bars[0].className).toContain('jp-Usage-budget-warn');
    expect(bars[1].className).toContain('jp-Usage-budget-spent');
  });

  it('shows nothing without budgets', () => {
    const { container } = render(
      <BudgetBars
        budgets={{
          user: null,
          budgets: [],
          reason: 'not running under JupyterHub',
          fetched_at: null
        }}
        trans={trans}
      />
    );
    expect(container.textContent).toBe('');
  });
});

describe('the budget in the status bar', () => {
  it('follows the other figures with the budget nearest its limit', () => {
    render(
      <StatusText
        snapshot={snapshot()}
        session={session()}
        budgets={{
          user: 'ada',
          budgets: [gpuBudget(), budget()],
          fetched_at: NOW
        }}
        error={null}
        warnAt={0.9}
        trans={trans}
        onClick={jest.fn()}
        locale="en-US"
        now={NOW}
      />
    );
    expect(screen.getByRole('button').textContent).toBe(
      'CPU 0.40/2.0 · Mem 1.2/4.0 GiB · $0.31 · 12.40 of 20.00 EUR this month · lasts about 6 h at this rate'
    );
  });
});

describe('the budget in the summary', () => {
  it('says what the session took from each budget', () => {
    const take = { ...budget(), taken: 2.1 };
    render(
      <SummaryView summary={summary({ budgets: [take] })} trans={trans} />
    );
    expect(screen.getByText('Budget')).toBeTruthy();
    expect(
      document.querySelector('[data-key="summary-budgets"]')?.textContent
    ).toBe(
      'This session took 2.10 EUR of the budget of group students. Used so far: 12.40 of 20.00 EUR this month.'
    );
  });

  it('has no budget part without budgets', () => {
    const { container } = render(<BudgetTakes takes={[]} trans={trans} />);
    expect(container.textContent).toBe('');
  });

  it('leaves out resources the session did not use', () => {
    const { container } = render(
      <BudgetTakes takes={[{ ...gpuBudget(), taken: 0 }]} trans={trans} />
    );
    expect(container.textContent).toBe('');
  });
});
