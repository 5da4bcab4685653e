import {
  budgetForecast,
  budgetLine,
  budgetTake,
  budgetUse,
  formatApproxDuration,
  formatCountdown,
  mostPressing,
  periodPhrase,
  scopeLabel
} from '../budget/format';
import { budget, gpuBudget } from './fixtures';
import { trans } from './translator';

const NOW = 1_790_000_000 + 86400;

describe('budget formatting', () => {
  it('reads a money budget with its forecast', () => {
    expect(budgetLine(budget(), trans, 'en-US', NOW)).toBe(
      '12.40 of 20.00 EUR this month · lasts about 6 h at this rate'
    );
  });

  it('reads a resource budget in its unit', () => {
    expect(budgetUse(gpuBudget(), trans, 'en-US')).toBe(
      'GPU: 3.5 of 10 h this week'
    );
    expect(
      budgetUse(
        gpuBudget({ unit: 'memory_byte_seconds', limit: 2 ** 30 * 3600 * 8 }),
        trans,
        'en-US'
      )
    ).toBe('Memory: < 0.1 of 8 GiB-h this week');
    expect(
      budgetUse(
        gpuBudget({ unit: 'cpu_core_seconds', used: 36000, limit: 72000 }),
        trans,
        'en-US'
      )
    ).toBe('CPU: 10 of 20 core-h this week');
  });

  it('leaves the forecast out when the rate says nothing', () => {
    expect(budgetLine(gpuBudget(), trans, 'en-US', NOW)).toBe(
      'GPU: 3.5 of 10 h this week'
    );
  });

  it('says when a budget lasts past its reset', () => {
    const b = budget({ projected_exhaustion_seconds: 40 * 86400 });
    expect(budgetForecast(b, trans, NOW)).toBe(
      'lasts until it resets at this rate'
    );
  });

  it('says what a spent budget means and counts down to a stop', () => {
    const spent = budget({ used: 20.5, remaining: 0, exhausted: true });
    expect(budgetForecast({ ...spent, enforcement: 'none' }, trans, NOW)).toBe(
      'spent'
    );
    expect(budgetForecast(spent, trans, NOW)).toBe(
      'spent: no new servers until it resets'
    );
    expect(
      budgetForecast(
        { ...spent, enforcement: 'stop', stop_at: NOW + 245 },
        trans,
        NOW
      )
    ).toBe('spent: the server stops in 4 min 05 s');
  });

  it('rounds forecasts as people speak', () => {
    expect(formatApproxDuration(30, trans)).toBe('about 1 min');
    expect(formatApproxDuration(20 * 60, trans)).toBe('about 20 min');
    expect(formatApproxDuration(6.4 * 3600, trans)).toBe('about 6 h');
    expect(formatApproxDuration(3 * 86400, trans)).toBe('about 3 days');
    expect(formatCountdown(42.2)).toBe('43 s');
    expect(formatCountdown(-5)).toBe('0 s');
  });

  it('names periods and scopes', () => {
    expect(periodPhrase('day', trans)).toBe('today');
    expect(periodPhrase('week', trans)).toBe('this week');
    expect(periodPhrase({ rolling_days: 7 }, trans)).toBe('in the last 7 days');
    expect(scopeLabel('group:students', trans)).toBe(
      'the budget of group students'
    );
    expect(scopeLabel('user:ada', trans)).toBe('your own budget');
    expect(scopeLabel('default', trans)).toBe('the default budget');
  });

  it('shows the budget nearest its limit first, a spent one above all', () => {
    const low = budget({ used: 2 });
    const high = gpuBudget({ used: 9.5 * 3600 });
    const spent = budget({ used: 0, exhausted: true, scope: 'user:ada' });
    expect(mostPressing([low, high])).toBe(high);
    expect(mostPressing([low, high, spent])).toBe(spent);
    expect(mostPressing([])).toBeNull();
  });

  it('says what a session took', () => {
    const take = { ...budget(), taken: 2.1 };
    expect(budgetTake(take, trans, 'en-US')).toBe(
      'This session took 2.10 EUR of the budget of group students.'
    );
    expect(budgetTake({ ...take, taken: 0.003 }, trans, 'en-US')).toBe(
      'This session took < 0.01 EUR of the budget of group students.'
    );
  });
});
