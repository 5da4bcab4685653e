import {
  ILabShell,
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { ITranslator, nullTranslator } from '@jupyterlab/translation';

import { UsageModel } from './model';
import { UsagePanel } from './widgets/UsagePanel';

const PLUGIN_ID = 'jupyter-usage:panel';

/**
 * The Usage side panel.
 */
const panelPlugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description: 'Shows what this Jupyter server uses and costs.',
  autoStart: true,
  requires: [ILabShell],
  optional: [ILayoutRestorer, ISettingRegistry, ITranslator],
  activate: (
    app: JupyterFrontEnd,
    labShell: ILabShell,
    restorer: ILayoutRestorer | null,
    settingRegistry: ISettingRegistry | null,
    translator: ITranslator | null
  ) => {
    const model = new UsageModel();
    const panel = new UsagePanel({
      model,
      translator: translator ?? nullTranslator
    });
    labShell.add(panel, 'right', { rank: 900 });
    restorer?.add(panel, panel.id);
    void model.start();

    if (settingRegistry) {
      void settingRegistry.load(PLUGIN_ID).then(settings => {
        const apply = () => {
          model.refreshSeconds = settings.get('refreshSeconds')
            .composite as number;
        };
        apply();
        settings.changed.connect(apply);
      });
    }
  }
};

export default [panelPlugin];
