export * from './types';
export { UsageNotifier } from './notifier';
export type { INotifierSettings, INotify } from './notifier';
export { defaultRules } from './rules';
export { budgetReadings, makeBudgetRule } from './rules/budget';
