import type { TranslationBundle } from '@jupyterlab/translation';

import {
  BUDGET_WARN_FRACTION,
  budgetFraction,
  budgetUse,
  formatCountdown,
  scopeLabel
} from '../../budget/format';
import { IBudget } from '../../wire';
import { INotificationRule, IReading, stateOf } from '../types';

/** A budget's period, told apart from the next one: a new period warns anew. */
function episodeOf(budget: IBudget): string {
  const period =
    typeof budget.period === 'object'
      ? `rolling${budget.period.rolling_days}`
      : budget.period;
  const unit = budget.currency ?? budget.unit ?? '';
  // A rolling window has no fixed start: its episodes end only by falling below.
  const start = typeof budget.period === 'object' ? '' : budget.starts_at;
  return `${budget.scope}|${period}|${unit}|${start ?? ''}`;
}

/**
 * What each budget means to tell now: at 80 % a warning, once spent an error that
 * says what the hub does, and while the hub is about to stop the server a
 * countdown that says to save the work. Only the most urgent fires: a budget found
 * spent does not also warn about 80 %.
 */
export function budgetReadings(
  budgets: readonly IBudget[],
  trans: TranslationBundle,
  now: number = Date.now() / 1000,
  locale?: string
): IReading[] {
  const readings: IReading[] = [];
  for (const budget of budgets) {
    const episode = episodeOf(budget);
    const share = budget.exhausted ? 1 : budgetFraction(budget);
    const use = budgetUse(budget, trans, locale);
    const whose = scopeLabel(budget.scope, trans);
    const stopping = budget.stop_at !== null;
    const warn = stateOf(share, BUDGET_WARN_FRACTION);
    const spent = budget.exhausted ? 'firing' : stateOf(share, 1);
    readings.push({
      key: `budget-80:${episode}`,
      state: warn === 'firing' && spent === 'firing' ? 'hold' : warn,
      message: trans.__(
        'You have used %1 of %2 (%3).',
        `${Math.floor(share * 100)} %`,
        whose,
        use
      ),
      type: 'warning'
    });
    let spentMessage: string;
    if (budget.enforcement === 'stop') {
      spentMessage = trans.__(
        'You have spent %1 (%2). The hub will stop your server; save your work.',
        whose,
        use
      );
    } else if (budget.enforcement === 'spawn') {
      spentMessage = trans.__(
        'You have spent %1 (%2). This server keeps running, but no new one starts until the budget resets.',
        whose,
        use
      );
    } else {
      spentMessage = trans.__('You have spent %1 (%2).', whose, use);
    }
    readings.push({
      key: `budget-100:${episode}`,
      // The countdown says it all when the stop is already scheduled.
      state: spent === 'firing' && stopping ? 'hold' : spent,
      message: spentMessage,
      type: 'error'
    });
    readings.push({
      key: `budget-stop:${episode}`,
      state: stopping ? 'firing' : 'clear',
      message: stopping
        ? trans.__(
            'Budget spent: the hub stops this server in %1. Save your work now.',
            formatCountdown((budget.stop_at as number) - now)
          )
        : '',
      type: 'error',
      countdown: true
    });
  }
  return readings;
}

/**
 * The budgets of the hub service (the model's `budget`, which this rule keeps fresh
 * while it is on): `budgetReadings`, and the end of every episode of a budget that is
 * no longer listed (it was removed, or its period moved on), so its notification goes.
 * Each episode is told once, as every kind is; the stop countdown is one notification,
 * updated as it runs.
 */
export function makeBudgetRule(
  now: () => number = () => Date.now() / 1000
): INotificationRule {
  let previous = new Set<string>();
  return {
    kind: 'budget',
    watches: ['budget'],
    read({ model, trans }) {
      const budgets = model.budget?.budgets;
      if (!budgets) {
        return [];
      }
      const readings = budgetReadings(budgets, trans, now());
      const current = new Set(readings.map(reading => reading.key));
      for (const key of previous) {
        if (!current.has(key)) {
          readings.push({ key, state: 'clear', message: '', type: 'info' });
        }
      }
      previous = current;
      return readings;
    }
  };
}
