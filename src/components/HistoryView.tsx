import type { TranslationBundle } from '@jupyterlab/translation';
import * as React from 'react';

import {
  formatBytes,
  formatCores,
  formatDateTime,
  formatDuration,
  formatMoney
} from '../format';
import { ISessionRecord } from '../tokens';
import { DailyCostChart } from './DailyCostChart';
import { StateMessage } from './StateMessage';

export interface IHistoryViewProps {
  /** Past sessions, newest first; null while loading. */
  sessions: readonly ISessionRecord[] | null;
  error: string | null;
  trans: TranslationBundle;
  /** Where the CSV export downloads from. */
  csvUrl: string;
  /** Show the summary of a past session. */
  onShowSummary?: (session: ISessionRecord) => void;
  onRetry?: () => void;
  locale?: string;
}

/** Why a session ended, in words. */
export function endedByText(
  endedBy: string | null,
  trans: TranslationBundle
): string {
  switch (endedBy) {
    case 'user':
      return trans.__('stopped by you');
    case 'culler':
    case 'idle':
      return trans.__('stopped by the idle culler');
    case 'hub':
      return trans.__('stopped by JupyterHub');
    case 'crash':
    case 'recovered':
      return trans.__('ended unexpectedly');
    case null:
      return trans.__('ended');
    default:
      return trans.__('ended (%1)', endedBy);
  }
}

/** Past sessions with their cost and peaks, a per-day chart and a CSV export. */
export function HistoryView(props: IHistoryViewProps): JSX.Element {
  const { sessions, trans, locale } = props;
  let body: JSX.Element;
  if (sessions === null) {
    body = props.error ? (
      <StateMessage kind="error">
        {trans.__('Past sessions are not available: %1', props.error)}{' '}
        {props.onRetry && (
          <button
            type="button"
            className="jp-Usage-linkButton"
            onClick={props.onRetry}
          >
            {trans.__('Try again')}
          </button>
        )}
      </StateMessage>
    ) : (
      <StateMessage kind="loading">
        {trans.__('Loading past sessions…')}
      </StateMessage>
    );
  } else if (sessions.length === 0) {
    body = (
      <StateMessage kind="empty">
        {trans.__(
          'No past sessions yet: a session is listed here once its server has stopped.'
        )}
      </StateMessage>
    );
  } else {
    body = (
      <>
        <DailyCostChart sessions={sessions} trans={trans} locale={locale} />
        <table className="jp-Usage-sessions">
          <caption className="jp-Usage-visuallyHidden">
            {trans.__('Past sessions, newest first')}
          </caption>
          <thead>
            <tr>
              <th scope="col">{trans.__('Started')}</th>
              <th scope="col" className="jp-Usage-numeric">
                {trans.__('Duration')}
              </th>
              <th scope="col" className="jp-Usage-numeric">
                {trans.__('Cost')}
              </th>
              <th scope="col" className="jp-Usage-numeric">
                {trans.__('Peak memory')}
              </th>
              <th scope="col" className="jp-Usage-numeric">
                {trans.__('Peak CPU')}
              </th>
            </tr>
          </thead>
          <tbody>
            {sessions.map(session => (
              <tr key={session.id} data-session={session.id}>
                <th scope="row" title={endedByText(session.ended_by, trans)}>
                  {props.onShowSummary ? (
                    <button
                      type="button"
                      className="jp-Usage-linkButton"
                      title={trans.__('Show the summary of this session')}
                      onClick={() => props.onShowSummary?.(session)}
                    >
                      {formatDateTime(session.started, locale)}
                    </button>
                  ) : (
                    formatDateTime(session.started, locale)
                  )}
                </th>
                <td className="jp-Usage-numeric">
                  {formatDuration(session.duration_seconds)}
                </td>
                <td className="jp-Usage-numeric">
                  {session.cost
                    ? formatMoney(session.cost.total, session.cost.currency, locale)
                    : '–'}
                </td>
                <td className="jp-Usage-numeric">
                  {formatBytes(session.totals?.peak_memory_bytes)}
                </td>
                <td className="jp-Usage-numeric">
                  {formatCores(session.totals?.peak_cpu_cores)}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </>
    );
  }
  return (
    <div className="jp-Usage-history">
      {body}
      <a
        className="jp-Usage-csv"
        href={props.csvUrl}
        download="jupyter-usage-sessions.csv"
      >
        {trans.__('Download all sessions as CSV')}
      </a>
    </div>
  );
}
