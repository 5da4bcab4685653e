import { Notification } from '@jupyterlab/apputils';
import { TranslationBundle } from '@jupyterlab/translation';

import { postUsage, requestUsage } from '../api';
import { formatDuration, formatMoney } from '../format';
import { ISummary } from '../wire';
import { showSummaryDialog } from './summaryDialog';

/**
 * Announce the last session that ended while JupyterLab was not open (stopped by
 * the hub or the idle culler), once: a notification with "Show summary".
 */
export async function notifyLastSession(
  trans: TranslationBundle
): Promise<void> {
  let summary: ISummary | null;
  try {
    // 204 (no body, so null) when every past session has been shown.
    summary = await requestUsage<ISummary | null>('summary', {
      last_unseen: 1
    });
  } catch (error) {
    console.debug('jupyter-usage: no last session summary', error);
    return;
  }
  if (!summary) {
    return;
  }
  const cost = summary.cost
    ? formatMoney(summary.cost.total, summary.cost.currency)
    : null;
  const duration = formatDuration(summary.duration_seconds);
  Notification.info(
    cost
      ? trans.__('Your last session: %1, %2.', duration, cost)
      : trans.__('Your last session: %1.', duration),
    {
      autoClose: false,
      actions: [
        {
          label: trans.__('Show summary'),
          caption: trans.__('Show the summary of your last session'),
          callback: () => {
            void showSummaryDialog({ summary, error: null, trans });
          }
        }
      ]
    }
  );
  await postUsage('summary/seen', { session: summary.session_id }).catch(
    error =>
      console.debug('jupyter-usage: could not mark the summary as seen', error)
  );
}
