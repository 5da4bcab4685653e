import type { TranslationBundle } from '@jupyterlab/translation';
import * as React from 'react';

import { budgetTake, budgetUse } from '../budget/format';
import { IBudgetTake } from '../wire';

export interface IBudgetTakesProps {
  takes: readonly IBudgetTake[];
  trans: TranslationBundle;
  locale?: string;
}

/** What the session took from each budget, and where each budget stands now. */
export function BudgetTakes(props: IBudgetTakesProps): JSX.Element | null {
  const { trans, locale } = props;
  // A resource this session did not use (no GPU, say) took nothing worth a line.
  const takes = props.takes.filter(take => take.currency || take.taken > 0);
  if (takes.length === 0) {
    return null;
  }
  return (
    <>
      <h3 className="jp-Usage-subheading">{trans.__('Budget')}</h3>
      <ul className="jp-Usage-budgetTakes" data-key="summary-budgets">
        {takes.map((take, i) => (
          <li key={`${take.scope}|${take.currency ?? take.unit}|${i}`}>
            {trans.__(
              '%1 Used so far: %2.',
              budgetTake(take, trans, locale),
              budgetUse(take, trans, locale)
            )}
          </li>
        ))}
      </ul>
    </>
  );
}
