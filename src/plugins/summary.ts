import {
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { PageConfig } from '@jupyterlab/coreutils';
import { ITranslator, nullTranslator } from '@jupyterlab/translation';

import { CommandIDs } from '../tokens';
import { notifyLastSession } from '../widgets/lastSession';
import { shutdownWithSummary } from '../widgets/shutdown';

const SUMMARY_PLUGIN_ID = 'jupyter-usage:summary';

/**
 * File ▸ Shut Down with the session summary, and the summary of the last session
 * that ended while JupyterLab was closed. The schema swaps JupyterLab's
 * `filemenu:shutdown` for `jupyter-usage:shutdown` in the File menu.
 */
export const summaryPlugin: JupyterFrontEndPlugin<void> = {
  id: SUMMARY_PLUGIN_ID,
  description:
    'Shows the session summary at shutdown and after a session ended.',
  autoStart: true,
  optional: [ITranslator],
  activate: (app: JupyterFrontEnd, translator: ITranslator | null) => {
    const trans = (translator ?? nullTranslator).load('jupyter_usage');
    // As JupyterLab's own Shut Down: only when the server offers it.
    const canQuit = () =>
      PageConfig.getOption('quitButton').toLowerCase() === 'true';
    app.commands.addCommand(CommandIDs.shutdown, {
      label: trans.__('Shut Down'),
      caption: trans.__('Shut down %1 and show the session summary', app.name),
      isVisible: canQuit,
      isEnabled: canQuit,
      execute: () => shutdownWithSummary(app, trans)
    });
    void app.restored.then(() => notifyLastSession(trans));
  }
};
