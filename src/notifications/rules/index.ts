import { INotificationRule } from '../types';
import { makeBudgetRule } from './budget';
import { cullerRule } from './culler';
import { diskRule } from './disk';
import { gpuRule } from './gpu';
import { memoryRule } from './memory';
import { makeOomRule } from './oom';

/** Every rule, in the order their notifications are shown. */
export function defaultRules(): INotificationRule[] {
  return [
    makeOomRule(),
    memoryRule,
    gpuRule,
    diskRule,
    cullerRule,
    makeBudgetRule()
  ];
}
