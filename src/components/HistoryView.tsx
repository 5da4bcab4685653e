import type { TranslationBundle } from '@jupyterlab/translation';
import * as React from 'react';

import {
  formatBytes,
  formatCores,
  formatDateTime,
  formatDuration,
  formatMoney
} from '../format';
import { ISessionRecord } from '../wire';
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
      return trans.__('shut down by you');
    case 'stop':
      return trans.__('the server stopped');
    case 'culler':
      return trans.__('stopped by the idle culler');
    case 'recovered':
      return trans.__('ended unexpectedly; recovered at the next start');
    case null:
      return trans.__('ended');
    default:
      return trans.__('ended (%1)', endedBy);
  }
}

/** Past sessions with their cost and peaks, a per-day chart and a CSV export. */
export function HistoryView(props: IHistoryViewProps): JSX.Element {
  const { trans, locale } = props;
  // The list may hold the session running now; it is not past yet.
  const sessions =
    props.sessions?.filter(session => session.ended !== null) ?? null;
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
        <ul
          className="jp-Usage-sessions"
          aria-label={trans.__('Past sessions, newest first')}
        >
          {sessions.map(session => {
            const started = formatDateTime(session.started, locale);
            return (
              <li
                key={session.id}
                className="jp-Usage-pastSession"
                data-session={session.id}
              >
                <div className="jp-Usage-pastSessionHead">
                  {props.onShowSummary ? (
                    <button
                      type="button"
                      className="jp-Usage-linkButton"
                      title={trans.__('Show the summary of this session')}
                      onClick={() => props.onShowSummary?.(session)}
                    >
                      {started}
                    </button>
                  ) : (
                    <span>{started}</span>
                  )}
                  <span className="jp-Usage-pastSessionCost" data-key="cost">
                    {session.cost
                      ? formatMoney(
                          session.cost.total,
                          session.cost.currency,
                          locale
                        )
                      : '–'}
                  </span>
                </div>
                <div className="jp-Usage-note" data-key="details">
                  {trans.__(
                    '%1 · peak %2 memory, %3 cores · %4',
                    formatDuration(session.duration_seconds),
                    formatBytes(session.totals?.peak_memory_bytes),
                    formatCores(session.totals?.peak_cpu_cores),
                    endedByText(session.ended_by, trans)
                  )}
                </div>
              </li>
            );
          })}
        </ul>
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
