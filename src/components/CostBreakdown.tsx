import type { TranslationBundle } from '@jupyterlab/translation';
import * as React from 'react';

import { formatBytes, formatCores, formatMoney } from '../format';
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

/** `4.2 min`, `2.5 h`: the length a quantity was billed for, in one short unit. */
export function formatSpan(seconds: number): string {
  return seconds < 3600
    ? `${(seconds / 60).toFixed(1)} min`
    : `${(seconds / 3600).toFixed(1)} h`;
}

/**
 * What was billed for `key`, so that the money adds up on screen: `2.0 cores
 * reserved × 4.2 min`. Null for a cost stored without its quantities.
 */
export function billedText(
  cost: ICost,
  key: keyof ICostBreakdown,
  trans: TranslationBundle
): string | null {
  const billed = cost.billed;
  if (!billed || !(billed.seconds > 0)) {
    return null;
  }
  const span = formatSpan(billed.seconds);
  const reserved = (cost.billed_reserved ?? []).includes(key);
  const mean = (value: number) => value / billed.seconds;
  const amount = (quantity: string) =>
    reserved
      ? trans.__('%1 reserved × %2', quantity, span)
      : trans.__('%1 used × %2', quantity, span);
  switch (key) {
    case 'cpu':
      return amount(
        trans.__('%1 cores', formatCores(mean(billed.cpu_core_seconds)))
      );
    case 'memory':
      return amount(formatBytes(mean(billed.memory_byte_seconds)));
    case 'gpu':
      return amount(trans.__('%1 GPUs', formatCores(mean(billed.gpu_seconds))));
    case 'disk':
      return amount(formatBytes(mean(billed.disk_byte_seconds)));
    case 'server':
      return span;
  }
  return null;
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
                {billedText(cost, key, trans) !== null && (
                  <span className="jp-Usage-billed" data-key={`billed-${key}`}>
                    {' · '}
                    {billedText(cost, key, trans)}
                  </span>
                )}
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
