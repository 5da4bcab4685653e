import { JupyterFrontEnd } from '@jupyterlab/application';
import {
  Dialog,
  ReactWidget,
  showDialog,
  showErrorMessage
} from '@jupyterlab/apputils';
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';
import { TranslationBundle } from '@jupyterlab/translation';
import * as React from 'react';

import { postUsage } from '../api';
import { loadSummary, showSummaryDialog } from './summaryDialog';

/**
 * File ▸ Shut Down with the session summary: the same confirmation as
 * JupyterLab's `filemenu:shutdown`, then the summary of this session, then the
 * same shutdown (kernels and terminals first, then `POST api/shutdown`).
 */
export async function shutdownWithSummary(
  app: JupyterFrontEnd,
  trans: TranslationBundle
): Promise<void> {
  const confirmed = await showDialog({
    title: trans.__('Shutdown confirmation'),
    body: trans.__('Please confirm you want to shut down %1.', app.name),
    buttons: [
      Dialog.cancelButton(),
      Dialog.warnButton({ label: trans.__('Shut Down') })
    ]
  });
  if (!confirmed.button.accept) {
    return;
  }
  const loaded = await loadSummary();
  const result = await showSummaryDialog({
    ...loaded,
    trans,
    buttons: [
      Dialog.cancelButton({ label: trans.__('Keep Running') }),
      Dialog.warnButton({ label: trans.__('Shut Down') })
    ]
  });
  if (!result.button.accept) {
    return;
  }
  if (loaded.summary) {
    // Seen here, so it is not announced again at the next start.
    await postUsage('summary/seen', {
      session: loaded.summary.session_id
    }).catch(() => undefined);
  }
  await shutdownServer(app, trans);
}

/** Stop kernels and terminals, then the server, as JupyterLab's File ▸ Shut Down. */
export async function shutdownServer(
  app: JupyterFrontEnd,
  trans: TranslationBundle
): Promise<void> {
  try {
    await Promise.all([
      app.serviceManager.sessions.shutdownAll(),
      app.serviceManager.terminals.shutdownAll()
    ]);
  } catch (error) {
    // The server is stopped next anyway, and that stops them too.
    console.warn('jupyter-usage: could not shut down sessions first', error);
  }
  const settings = ServerConnection.makeSettings();
  let response: Response;
  try {
    response = await ServerConnection.makeRequest(
      URLExt.join(settings.baseUrl, 'api/shutdown'),
      { method: 'POST' },
      settings
    );
  } catch (error) {
    await showErrorMessage(
      trans.__('Shutdown failed'),
      new ServerConnection.NetworkError(error as TypeError)
    );
    return;
  }
  if (!response.ok) {
    await showErrorMessage(
      trans.__('Shutdown failed'),
      new ServerConnection.ResponseError(response)
    );
    return;
  }
  void showDialog({
    title: trans.__('Server stopped'),
    body: ReactWidget.create(
      <div>
        <p>
          {trans.__(
            'You have shut down the Jupyter server. You can now close this tab.'
          )}
        </p>
        <p>
          {trans.__('To use %1 again, you will need to relaunch it.', app.name)}
        </p>
      </div>
    ),
    buttons: []
  });
  window.close();
}
