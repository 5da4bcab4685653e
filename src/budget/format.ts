import type { TranslationBundle } from '@jupyterlab/translation';

import { formatNumber } from '../format';
import { BudgetPeriod, IBudget, IBudgetTake } from '../wire';

/** A budget or what a session took from one: the fields formatting needs. */
type BudgetLike = Pick<IBudget, 'scope' | 'period' | 'currency' | 'unit'>;

const HOUR = 3600;
const GIB = 2 ** 30;

/** Seconds of the unit per hour of what people read: core-hours, GiB-hours, hours. */
function perDisplayUnit(budget: BudgetLike): number {
  switch (budget.unit) {
    case 'memory_byte_seconds':
      return GIB * HOUR;
    case 'cpu_core_seconds':
    case 'gpu_seconds':
    case 'server_seconds':
      return HOUR;
    default:
      return 1;
  }
}

/** Share of a budget at which it is shown in the warning colour and the user is told. */
export const BUDGET_WARN_FRACTION = 0.8;

/** An amount of the budget's currency or unit, as a number for people. */
export function formatBudgetAmount(
  budget: BudgetLike,
  amount: number | null | undefined,
  locale?: string
): string {
  if (amount === null || amount === undefined || !isFinite(amount)) {
    return '–';
  }
  if (budget.currency) {
    const format = (value: number) =>
      new Intl.NumberFormat(locale, {
        minimumFractionDigits: 2,
        maximumFractionDigits: 2
      }).format(value);
    // A few minutes of a cheap server: "< 0.01", not a misleading "0.00".
    return amount > 0 && amount < 0.005 ? `< ${format(0.01)}` : format(amount);
  }
  return formatNumber(amount / perDisplayUnit(budget), 1, locale);
}

/** The unit people read after an amount: `EUR`, `h`, `core-h`, `GiB-h`. */
export function budgetUnitLabel(
  budget: BudgetLike,
  trans: TranslationBundle
): string {
  if (budget.currency) {
    return budget.currency;
  }
  switch (budget.unit) {
    case 'cpu_core_seconds':
      return trans.__('core-h');
    case 'memory_byte_seconds':
      return trans.__('GiB-h');
    default:
      return trans.__('h');
  }
}

/** What a resource budget counts (`GPU`), or null for a money budget. */
export function budgetResource(
  budget: BudgetLike,
  trans: TranslationBundle
): string | null {
  switch (budget.unit) {
    case 'cpu_core_seconds':
      return trans.__('CPU');
    case 'memory_byte_seconds':
      return trans.__('Memory');
    case 'gpu_seconds':
      return trans.__('GPU');
    case 'server_seconds':
      return trans.__('Server time');
    default:
      return null;
  }
}

/** `today`, `this week`, `this month`, `in the last 7 days`. */
export function periodPhrase(
  period: BudgetPeriod,
  trans: TranslationBundle
): string {
  if (typeof period === 'object') {
    return trans._n(
      'in the last day',
      'in the last %1 days',
      period.rolling_days
    );
  }
  switch (period) {
    case 'day':
      return trans.__('today');
    case 'week':
      return trans.__('this week');
    default:
      return trans.__('this month');
  }
}

/** Whose budget it is: `your own`, `group students`, `the default`. */
export function scopeLabel(scope: string, trans: TranslationBundle): string {
  const [kind, ...rest] = scope.split(':');
  const name = rest.join(':');
  if (kind === 'user') {
    return trans.__('your own budget');
  }
  if (kind === 'group') {
    return trans.__('the budget of group %1', name);
  }
  return trans.__('the default budget');
}

/** A rough duration for a forecast: `about 6 h`, `about 20 min`, `about 3 days`. */
export function formatApproxDuration(
  seconds: number,
  trans: TranslationBundle
): string {
  const s = Math.max(0, seconds);
  if (s < 90) {
    return trans.__('about 1 min');
  }
  if (s < HOUR) {
    return trans.__('about %1 min', Math.round(s / 60));
  }
  if (s < 48 * HOUR) {
    return trans.__('about %1 h', Math.round(s / HOUR));
  }
  return trans.__('about %1 days', Math.round(s / (24 * HOUR)));
}

/** A countdown to the second under a minute: `4 min 05 s`, `42 s`. */
export function formatCountdown(seconds: number): string {
  const s = Math.max(0, Math.ceil(seconds));
  const m = Math.floor(s / 60);
  return m > 0 ? `${m} min ${String(s % 60).padStart(2, '0')} s` : `${s} s`;
}

/** `12.40 of 20.00 EUR this month`, `GPU: 3.5 of 10 h this week`. */
export function budgetUse(
  budget: IBudget | IBudgetTake,
  trans: TranslationBundle,
  locale?: string
): string {
  const figures = trans.__(
    '%1 of %2 %3 %4',
    formatBudgetAmount(budget, budget.used, locale),
    formatBudgetAmount(budget, budget.limit, locale),
    budgetUnitLabel(budget, trans),
    periodPhrase(budget.period, trans)
  );
  const resource = budgetResource(budget, trans);
  return resource ? trans.__('%1: %2', resource, figures) : figures;
}

/** What the forecast says: `lasts about 6 h at this rate`, `spent`; null: nothing to say. */
export function budgetForecast(
  budget: IBudget,
  trans: TranslationBundle,
  now: number = Date.now() / 1000
): string | null {
  if (budget.stop_at !== null) {
    return trans.__(
      'spent: the server stops in %1',
      formatCountdown(budget.stop_at - now)
    );
  }
  if (budget.exhausted) {
    return budget.enforcement === 'none'
      ? trans.__('spent')
      : trans.__('spent: no new servers until it resets');
  }
  const seconds = budget.projected_exhaustion_seconds;
  if (seconds === null) {
    return null;
  }
  // A rolling window never resets all at once: only a calendar period can outlast the use.
  if (
    typeof budget.period === 'string' &&
    budget.resets_at !== null &&
    now + seconds >= budget.resets_at
  ) {
    return trans.__('lasts until it resets at this rate');
  }
  return trans.__(
    'lasts %1 at this rate',
    formatApproxDuration(seconds, trans)
  );
}

/** The whole line of a budget bar: use, then forecast. */
export function budgetLine(
  budget: IBudget,
  trans: TranslationBundle,
  locale?: string,
  now?: number
): string {
  const forecast = budgetForecast(budget, trans, now);
  const use = budgetUse(budget, trans, locale);
  return forecast ? trans.__('%1 · %2', use, forecast) : use;
}

/** Share of the limit used, in [0, 1]; a zero limit with any use is spent. */
export function budgetFraction(budget: IBudget | IBudgetTake): number {
  if (budget.limit <= 0) {
    return budget.used > 0 || ('exhausted' in budget && budget.exhausted)
      ? 1
      : 0;
  }
  return Math.min(1, Math.max(0, budget.used / budget.limit));
}

/** The budget nearest its limit (a spent one first), for the status bar. */
export function mostPressing(budgets: readonly IBudget[]): IBudget | null {
  let best: IBudget | null = null;
  for (const budget of budgets) {
    if (
      best === null ||
      Number(budget.exhausted) > Number(best.exhausted) ||
      (budget.exhausted === best.exhausted &&
        budgetFraction(budget) > budgetFraction(best))
    ) {
      best = budget;
    }
  }
  return best;
}

/** `This session took 2.10 EUR of the budget of group students.` */
export function budgetTake(
  take: IBudgetTake,
  trans: TranslationBundle,
  locale?: string
): string {
  return trans.__(
    'This session took %1 %2 of %3.',
    formatBudgetAmount(take, take.taken, locale),
    budgetUnitLabel(take, trans),
    scopeLabel(take.scope, trans)
  );
}
