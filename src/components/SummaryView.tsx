import type { TranslationBundle } from '@jupyterlab/translation';
import * as React from 'react';

import {
  formatBytes,
  formatBytesOf,
  formatCores,
  formatDateTime,
  formatDuration,
  formatMoney,
  formatNumber,
  formatPercent
} from '../format';
import { ISummary } from '../wire';
import { BudgetTakes } from './BudgetTakes';
import { CostBreakdown } from './CostBreakdown';
import { StateMessage } from './StateMessage';

export interface ISummaryViewProps {
  /** null with an `error` when the summary could not be loaded. */
  summary: ISummary | null;
  error?: string | null;
  trans: TranslationBundle;
  locale?: string;
}

/** The end-of-session summary: duration, resource-hours, peaks, cost, advice. */
export function SummaryView(props: ISummaryViewProps): JSX.Element {
  const { summary, trans, locale } = props;
  if (!summary) {
    return (
      <div className="jp-Usage-summary">
        <StateMessage kind="error">
          {trans.__('The summary is not available: %1', props.error ?? '')}
        </StateMessage>
      </div>
    );
  }
  const hours = summary.resource_hours;
  const peaks = summary.peaks;
  const cost = summary.cost;
  const idle =
    summary.idle_fraction === null
      ? formatDuration(summary.idle_seconds)
      : trans.__(
          '%1 (%2)',
          formatDuration(summary.idle_seconds),
          formatPercent(summary.idle_fraction * 100)
        );
  const cpuPeak =
    peaks.cpu_limit_cores === null
      ? trans.__('%1 cores', formatCores(peaks.cpu_cores))
      : trans.__(
          '%1 of %2 cores',
          formatCores(peaks.cpu_cores),
          formatCores(peaks.cpu_limit_cores)
        );
  const hasGpu = (hours.gpu_hours ?? 0) > 0 || peaks.gpu_memory_bytes !== null;
  return (
    <div className="jp-Usage-summary">
      {cost && (
        <div className="jp-Usage-headline">
          <span className="jp-Usage-bigFigure" data-key="summary-cost">
            {formatMoney(cost.total, cost.currency, locale)}
          </span>
          <span className="jp-Usage-headlineText">
            {trans.__('for %1', formatDuration(summary.duration_seconds))}
          </span>
        </div>
      )}
      <dl className="jp-Usage-pairs">
        {summary.started !== null && (
          <>
            <dt>{trans.__('Started')}</dt>
            <dd>{formatDateTime(summary.started, locale)}</dd>
          </>
        )}
        <dt>{trans.__('Duration')}</dt>
        <dd data-key="summary-duration">
          {formatDuration(summary.duration_seconds)}
        </dd>
        <dt>{trans.__('Idle')}</dt>
        <dd>{idle}</dd>
      </dl>
      <h3 className="jp-Usage-subheading">{trans.__('Resource-hours')}</h3>
      <dl className="jp-Usage-pairs">
        <dt>{trans.__('CPU')}</dt>
        <dd>
          {trans.__(
            '%1 core-hours',
            formatNumber(hours.cpu_core_hours, 2, locale)
          )}
        </dd>
        <dt>{trans.__('Memory')}</dt>
        <dd>
          {trans.__(
            '%1 GiB-hours',
            formatNumber(hours.memory_gib_hours, 2, locale)
          )}
        </dd>
        {hasGpu && (
          <>
            <dt>{trans.__('GPU')}</dt>
            <dd>
              {trans.__(
                '%1 GPU-hours',
                formatNumber(hours.gpu_hours, 2, locale)
              )}
            </dd>
          </>
        )}
      </dl>
      <h3 className="jp-Usage-subheading">{trans.__('Peaks')}</h3>
      <dl className="jp-Usage-pairs">
        <dt>{trans.__('Memory')}</dt>
        <dd data-key="summary-peak-memory">
          {formatBytesOf(peaks.memory_bytes, peaks.memory_limit_bytes)}
        </dd>
        <dt>{trans.__('CPU')}</dt>
        <dd>{cpuPeak}</dd>
        {hasGpu && (
          <>
            <dt>{trans.__('GPU memory')}</dt>
            <dd>{formatBytes(peaks.gpu_memory_bytes)}</dd>
            <dt>{trans.__('GPU utilization')}</dt>
            <dd>{formatPercent(peaks.gpu_utilization_percent)}</dd>
          </>
        )}
      </dl>
      {cost && (
        <>
          <h3 className="jp-Usage-subheading">{trans.__('Cost')}</h3>
          <CostBreakdown cost={cost} trans={trans} locale={locale} />
        </>
      )}
      <BudgetTakes
        takes={summary.budgets ?? []}
        trans={trans}
        locale={locale}
      />
      <h3 className="jp-Usage-subheading">{trans.__('Advice')}</h3>
      {summary.advice.length > 0 ? (
        <ul className="jp-Usage-advice">
          {summary.advice.map((text, i) => (
            <li key={i}>{text}</li>
          ))}
        </ul>
      ) : (
        <p className="jp-Usage-note">
          {trans.__('No advice for this session.')}
        </p>
      )}
    </div>
  );
}
