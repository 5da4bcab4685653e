import type { TranslationBundle } from '@jupyterlab/translation';
import * as React from 'react';

import {
  formatBytes,
  formatCores,
  formatDateTime,
  formatDuration,
  formatMoney,
  formatNumber
} from '../format';
import { ISession } from '../wire';
import { CostBreakdown } from './CostBreakdown';
import { StateMessage } from './StateMessage';

export interface ISessionViewProps {
  session: ISession | null;
  error: string | null;
  trans: TranslationBundle;
  /** Whether to list GPU-hours (the server has a GPU source). */
  showGpu: boolean;
  locale?: string;
}

const HOUR = 3600;
const GIB = 2 ** 30;

function perHour(value: number | null, divisor = 1): number | null {
  return value === null ? null : value / divisor / HOUR;
}

/** This session: its cost so far, per hour, projected, and what it used. */
export function SessionView(props: ISessionViewProps): JSX.Element {
  const { session, trans, locale } = props;
  if (!session) {
    return props.error ? (
      <StateMessage kind="error">
        {trans.__('The session is not available: %1', props.error)}
      </StateMessage>
    ) : (
      <StateMessage kind="loading">
        {trans.__('Loading the session…')}
      </StateMessage>
    );
  }
  const cost = session.cost;
  const money = (amount: number | null | undefined) =>
    formatMoney(amount, cost.currency, locale);
  const projected = session.projected;
  const cull =
    projected &&
    projected.until_cull_seconds !== null &&
    projected.total_at_cull !== null
      ? projected
      : null;
  return (
    <div className="jp-Usage-session">
      {props.error && (
        <StateMessage kind="error">
          {trans.__('Showing the last figures: %1', props.error)}
        </StateMessage>
      )}
      <div className="jp-Usage-headline">
        <span className="jp-Usage-bigFigure" data-key="cost-total">
          {money(cost.total)}
        </span>
        <span className="jp-Usage-headlineText">{trans.__('so far')}</span>
      </div>
      <p className="jp-Usage-line" data-key="cost-per-hour">
        {trans.__('%1 per hour at the current use', money(cost.per_hour))}
      </p>
      {cull && (
        <p className="jp-Usage-line" data-key="cost-projected">
          {trans.__(
            '%1 by the time the idle culler would stop this server (in %2, if it stays idle)',
            money(cull.total_at_cull),
            formatDuration(cull.until_cull_seconds)
          )}
        </p>
      )}
      <h3 className="jp-Usage-subheading">{trans.__('Cost by resource')}</h3>
      <CostBreakdown cost={cost} trans={trans} locale={locale} />
      <h3 className="jp-Usage-subheading">{trans.__('Use')}</h3>
      <dl className="jp-Usage-pairs">
        <dt>{trans.__('Started')}</dt>
        <dd>{formatDateTime(session.started, locale)}</dd>
        <dt>{trans.__('Duration')}</dt>
        <dd data-key="duration">{formatDuration(session.duration_seconds)}</dd>
        <dt>{trans.__('Idle')}</dt>
        <dd>{formatDuration(session.idle_seconds)}</dd>
        <dt>{trans.__('CPU')}</dt>
        <dd>
          {trans.__(
            '%1 core-hours',
            formatNumber(perHour(session.cpu_core_seconds), 2, locale)
          )}
        </dd>
        <dt>{trans.__('Memory')}</dt>
        <dd>
          {trans.__(
            '%1 GiB-hours',
            formatNumber(perHour(session.memory_byte_seconds, GIB), 2, locale)
          )}
        </dd>
        {props.showGpu && (
          <>
            <dt>{trans.__('GPU')}</dt>
            <dd>
              {trans.__(
                '%1 GPU-hours',
                formatNumber(perHour(session.gpu_seconds), 2, locale)
              )}
            </dd>
          </>
        )}
        <dt>{trans.__('Peak memory')}</dt>
        <dd>{formatBytes(session.peak_memory_bytes)}</dd>
        <dt>{trans.__('Peak CPU')}</dt>
        <dd>{trans.__('%1 cores', formatCores(session.peak_cpu_cores))}</dd>
      </dl>
    </div>
  );
}
