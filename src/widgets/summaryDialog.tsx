import { Dialog, ReactWidget, showDialog } from '@jupyterlab/apputils';
import { TranslationBundle } from '@jupyterlab/translation';
import * as React from 'react';

import { requestUsage, UsageQuery } from '../api';
import { SummaryView } from '../components/SummaryView';
import { ISessionRecord, ISummary } from '../wire';

export interface ILoadedSummary {
  summary: ISummary | null;
  /** A message fit for people when the summary could not be loaded. */
  error: string | null;
}

/** GET `/summary` (the current session, or `?session=ID`), never rejecting. */
export async function loadSummary(
  query: UsageQuery = {}
): Promise<ILoadedSummary> {
  try {
    return {
      summary: await requestUsage<ISummary>('summary', query),
      error: null
    };
  } catch (error) {
    return { summary: null, error: (error as Error).message };
  }
}

/** The "Session summary" dialog; resolves with the button the user chose. */
export function showSummaryDialog(
  options: ILoadedSummary & {
    trans: TranslationBundle;
    buttons?: ReadonlyArray<Dialog.IButton>;
  }
): Promise<Dialog.IResult<unknown>> {
  const { trans } = options;
  const body = ReactWidget.create(
    <SummaryView
      summary={options.summary}
      error={options.error}
      trans={trans}
    />
  );
  body.addClass('jp-Usage-summaryDialog');
  return showDialog({
    title: trans.__('Session summary'),
    body,
    buttons: options.buttons ?? [Dialog.okButton({ label: trans.__('Close') })]
  });
}

/** The summary of a past session: the stored one, else asked of the server. */
export async function showSessionSummary(
  record: ISessionRecord,
  trans: TranslationBundle
): Promise<void> {
  const loaded = record.summary
    ? { summary: record.summary, error: null }
    : await loadSummary({ session: record.id });
  await showSummaryDialog({ ...loaded, trans });
}
