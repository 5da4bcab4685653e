import type { TranslationBundle } from '@jupyterlab/translation';
import * as React from 'react';

import { formatMoney } from '../format';
import { ICost, ICostBreakdown } from '../wire';

export interface ICostBreakdownProps {
  cost: ICost;
  trans: TranslationBundle;
  locale?: string;
}

/** How the cost was reckoned, in words. */
export function basisText(basis: string, trans: TranslationBundle): string {
  switch (basis) {
    case 'used':
      return trans.__('Billed on what was used.');
    case 'allocated':
      return trans.__('Billed on what was reserved for you.');
    case 'max':
      return trans.__(
        'Billed on what was used or reserved, whichever is more.'
      );
    default:
      return trans.__('Billed on %1.', basis);
  }
}

export function resourceLabels(trans: TranslationBundle): {
  [key in keyof ICostBreakdown]: string;
} {
  return {
    cpu: trans.__('CPU'),
    memory: trans.__('Memory'),
    gpu: trans.__('GPU'),
    disk: trans.__('Disk'),
    server: trans.__('Server')
  };
}

/** The cost per resource (those that cost anything), and how it was reckoned. */
export function CostBreakdown(props: ICostBreakdownProps): JSX.Element {
  const { cost, trans } = props;
  const labels = resourceLabels(trans);
  const parts = (Object.keys(labels) as (keyof ICostBreakdown)[]).filter(
    key => (cost.breakdown?.[key] ?? 0) !== 0
  );
  const fallbacks = cost.basis_fallbacks ?? [];
  return (
    <div className="jp-Usage-breakdown">
      {parts.length === 0 ? (
        <p className="jp-Usage-note">
          {trans.__('No prices are set on this server: its use is free.')}
        </p>
      ) : (
        <dl
          className="jp-Usage-pairs"
          aria-label={trans.__('Cost by resource')}
        >
          {parts.map(key => (
            <React.Fragment key={key}>
              <dt>{labels[key]}</dt>
              <dd data-key={`cost-${key}`}>
                {formatMoney(cost.breakdown[key], cost.currency, props.locale)}
              </dd>
            </React.Fragment>
          ))}
        </dl>
      )}
      <p className="jp-Usage-note">
        {basisText(cost.basis, trans)}
        {fallbacks.length > 0 &&
          ' ' +
            trans.__(
              'Billed on use for %1, as no reservation was known.',
              fallbacks
                .map(key => labels[key as keyof ICostBreakdown] ?? key)
                .join(', ')
            )}
      </p>
    </div>
  );
}
