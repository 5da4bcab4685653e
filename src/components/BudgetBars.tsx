import type { TranslationBundle } from '@jupyterlab/translation';
import * as React from 'react';

import {
  BUDGET_WARN_FRACTION,
  budgetFraction,
  budgetLine,
  scopeLabel
} from '../budget/format';
import { formatDateTime } from '../format';
import { IBudget, IBudgets } from '../wire';

export interface IBudgetBarsProps {
  /** null while loading; no bars without budgets. */
  budgets: IBudgets | null;
  trans: TranslationBundle;
  locale?: string;
  /** Unix seconds (the stop countdown); injected in tests. */
  now?: number;
}

/** The class of a bar by how much of its budget is used. */
export function budgetClass(budget: IBudget): string {
  if (budget.exhausted) {
    return 'jp-Usage-budget jp-Usage-budget-spent';
  }
  return budgetFraction(budget) >= BUDGET_WARN_FRACTION
    ? 'jp-Usage-budget jp-Usage-budget-warn'
    : 'jp-Usage-budget';
}

function capitalized(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/**
 * One bar per budget of the user: `12.40 of 20.00 EUR this month · lasts about
 * 6 h at this rate`, whose budget it is and when it resets. Nothing at all when
 * no budget applies (outside a hub, say): the reason is in `/budget` for admins.
 */
export function BudgetBars(props: IBudgetBarsProps): JSX.Element | null {
  const { budgets, trans, locale, now } = props;
  if (!budgets || budgets.budgets.length === 0) {
    return null;
  }
  return (
    <div className="jp-Usage-budgets" data-key="budgets">
      {budgets.budgets.map((budget, i) => {
        const line = budgetLine(budget, trans, locale, now);
        const share = budgetFraction(budget);
        const whose = capitalized(scopeLabel(budget.scope, trans));
        return (
          <div
            key={`${budget.scope}|${budget.currency ?? budget.unit}|${i}`}
            className={budgetClass(budget)}
            data-key="budget"
            data-scope={budget.scope}
          >
            <div className="jp-Usage-budgetText">{line}</div>
            <div
              className="jp-Usage-bar"
              role="meter"
              aria-label={trans.__('Budget: %1', whose)}
              aria-valuemin={0}
              aria-valuemax={100}
              aria-valuenow={Math.round(share * 100)}
              aria-valuetext={line}
            >
              <div
                className="jp-Usage-barFill"
                style={{ width: `${(share * 100).toFixed(1)}%` }}
              />
            </div>
            <div className="jp-Usage-budgetScope">
              {budget.resets_at === null
                ? whose
                : trans.__(
                    '%1, resets %2',
                    whose,
                    formatDateTime(budget.resets_at, locale)
                  )}
            </div>
          </div>
        );
      })}
    </div>
  );
}
