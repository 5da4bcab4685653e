import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { Notification } from '@jupyterlab/apputils';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { IStatusBar } from '@jupyterlab/statusbar';
import { ITranslator, nullTranslator } from '@jupyterlab/translation';
import { Signal } from '@lumino/signaling';

import { describeError } from '../i18n/messages';
import { UsageModel } from '../model';
import { UsageNotifier } from '../notifications';
import { FALLBACK_SETTINGS, IUsageSettings, readSettings } from '../settings';
import { CommandIDs, IUsageModel } from '../tokens';
import { showSessionSummary } from '../widgets/summaryDialog';
import { UsagePanel } from '../widgets/UsagePanel';
import { UsageStatus } from '../widgets/UsageStatus';

const PANEL_PLUGIN_ID = 'jupyter-usage:panel';

/** The settings now, with the schema's defaults for whatever is missing. */
function settingsOf(settings: ISettingRegistry.ISettings): IUsageSettings {
  const defaults: { [key: string]: unknown } = {};
  for (const key of Object.keys(FALLBACK_SETTINGS)) {
    defaults[key] = settings.default(key);
  }
  return readSettings(settings.composite, readSettings(defaults));
}

/**
 * The Usage side panel and its status bar item, fed by one model. It requires
 * nothing JupyterLab's shell alone provides, so Notebook 7 shows it in its right
 * sidebar too (without a status bar there).
 */
export const panelPlugin: JupyterFrontEndPlugin<IUsageModel> = {
  id: PANEL_PLUGIN_ID,
  description: 'Shows what this Jupyter server uses and costs.',
  autoStart: true,
  provides: IUsageModel,
  optional: [ILayoutRestorer, ISettingRegistry, ITranslator, IStatusBar],
  activate: async (
    app: JupyterFrontEnd,
    restorer: ILayoutRestorer | null,
    settingRegistry: ISettingRegistry | null,
    translator: ITranslator | null,
    statusBar: IStatusBar | null
  ) => {
    translator = translator ?? nullTranslator;
    const trans = translator.load('jupyter_usage');
    let registered: ISettingRegistry.ISettings | null = null;
    if (settingRegistry) {
      try {
        registered = await settingRegistry.load(PANEL_PLUGIN_ID);
      } catch (error) {
        console.warn('jupyter-usage: settings not loaded', error);
      }
    }
    let current = registered ? settingsOf(registered) : FALLBACK_SETTINGS;

    const model = new UsageModel({
      refreshSeconds: current.refreshSeconds,
      historySeconds: current.chartMinutes * 60,
      describeError: error => describeError(error, trans)
    });
    const panel = new UsagePanel({
      model,
      settings: current,
      translator,
      openPath: path => {
        void app.commands.execute('docmanager:open', { path });
      },
      showSummary: record => {
        void showSessionSummary(record, trans);
      },
      openDashboard: () => {
        void app.commands.execute(CommandIDs.openDashboard);
      }
    });
    app.shell.add(panel, 'right', { rank: 900 });
    restorer?.add(panel, panel.id);

    const statusChanged = new Signal<UsagePanel, void>(panel);
    const status = statusBar
      ? new UsageStatus({
          model,
          trans,
          warnAt: current.warnFraction,
          onClick: () => app.shell.activateById(panel.id)
        })
      : null;
    if (statusBar && status) {
      statusBar.registerStatusItem('jupyter-usage:status', {
        item: status,
        align: 'left',
        rank: 100,
        isActive: () => current.statusBar,
        activeStateChanged: statusChanged
      });
    }
    const notifier = new UsageNotifier({
      model,
      trans,
      settings: current,
      notify: {
        emit: (message, type, options) =>
          Notification.emit(message, type, options),
        update: (id, message, type) => {
          Notification.update({ id, message, type, autoClose: false });
        },
        dismiss: id => Notification.dismiss(id)
      },
      openUsage: () => app.shell.activateById(panel.id)
    });
    void model.start();

    registered?.changed.connect(settings => {
      current = settingsOf(settings);
      model.refreshSeconds = current.refreshSeconds;
      model.historySeconds = current.chartMinutes * 60;
      panel.settings = current;
      notifier.settings = current;
      if (status) {
        status.warnAt = current.warnFraction;
        status.update();
        statusChanged.emit();
      }
    });
    return model;
  }
};
