import {
  ILabShell,
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette, WidgetTracker } from '@jupyterlab/apputils';
import { PageConfig, URLExt } from '@jupyterlab/coreutils';
import { ILauncher } from '@jupyterlab/launcher';
import { IMainMenu } from '@jupyterlab/mainmenu';
import { ITranslator, nullTranslator } from '@jupyterlab/translation';
import { TabPanel } from '@lumino/widgets';

import { usageIcon } from '../icons';
import { CommandIDs, IUsageModel } from '../tokens';
import { UsageDashboard } from './UsageDashboard';
import { DashboardModel } from './DashboardModel';
import { rangeOf } from './ranges';

/** `/tree?usage-dashboard`: Notebook 7 opens the tree page on the dashboard's tab. */
const DASHBOARD_QUERY = 'usage-dashboard';

/**
 * Notebook 7's tree page: its main widget is a tab panel (Files, Running, …) that
 * extensions may add tabs to. Its token lives in a package JupyterLab does not ship, so
 * it is found by shape; null in JupyterLab and on Notebook 7's other pages.
 */
function notebookTreePanel(app: JupyterFrontEnd): TabPanel | null {
  for (const widget of app.shell.widgets('main')) {
    if (widget instanceof TabPanel && widget.hasClass('jp-TreePanel')) {
      return widget;
    }
  }
  return null;
}

/**
 * The Usage dashboard in the main area (JupyterLab) or as a tab of its own
 * (Notebook 7: on the tree page, opened in a browser tab from the other pages).
 */
export const dashboardPlugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyter-usage:dashboard',
  description: 'A main-area dashboard of what this server used over time.',
  autoStart: true,
  requires: [IUsageModel],
  optional: [
    ILabShell,
    ILayoutRestorer,
    ICommandPalette,
    ILauncher,
    IMainMenu,
    ITranslator
  ],
  activate: (
    app: JupyterFrontEnd,
    usage: IUsageModel,
    labShell: ILabShell | null,
    restorer: ILayoutRestorer | null,
    palette: ICommandPalette | null,
    launcher: ILauncher | null,
    mainMenu: IMainMenu | null,
    translator: ITranslator | null
  ) => {
    const trans = (translator ?? nullTranslator).load('jupyter_usage');
    const tracker = new WidgetTracker<UsageDashboard>({
      namespace: 'jupyter-usage-dashboard'
    });
    const openPath = (path: string) => {
      void app.commands.execute('docmanager:open', { path });
    };
    let dashboard: UsageDashboard | null = null;
    const create = (range?: string) => {
      if (!dashboard || dashboard.isDisposed) {
        dashboard = new UsageDashboard({
          model: new DashboardModel({ usage, range: rangeOf(range) }),
          trans,
          openPath
        });
        // The range is what the layout keeps; save it only when it changes.
        let saved = dashboard.model.range.key;
        dashboard.model.changed.connect(model => {
          if (model.range.key !== saved && dashboard) {
            saved = model.range.key;
            void tracker.save(dashboard);
          }
        });
        void tracker.add(dashboard);
      }
      return dashboard;
    };

    const inTree = () => notebookTreePanel(app);
    app.commands.addCommand(CommandIDs.openDashboard, {
      label: trans.__('Usage Dashboard'),
      caption: trans.__('Charts of what this server used over time'),
      icon: args => (args.isPalette ? undefined : usageIcon),
      execute: args => {
        const range = typeof args.range === 'string' ? args.range : undefined;
        const tree = inTree();
        if (labShell) {
          const widget = create(range);
          if (!widget.isAttached) {
            labShell.add(widget, 'main');
          }
          labShell.activateById(widget.id);
        } else if (tree) {
          const widget = create(range);
          if (widget.parent !== tree) {
            tree.addWidget(widget);
          }
          tree.currentWidget = widget;
        } else {
          // Notebook 7's notebook and editor pages hold one document each.
          window.open(
            URLExt.join(PageConfig.getBaseUrl(), 'tree') +
              `?${DASHBOARD_QUERY}`,
            '_blank'
          );
        }
      }
    });
    palette?.addItem({
      command: CommandIDs.openDashboard,
      category: trans.__('Usage')
    });
    launcher?.add({
      command: CommandIDs.openDashboard,
      category: trans.__('Other'),
      rank: 90
    });
    mainMenu?.viewMenu.addGroup([{ command: CommandIDs.openDashboard }], 90);

    if (restorer && labShell) {
      void restorer.restore(tracker, {
        command: CommandIDs.openDashboard,
        args: widget => ({ range: widget.model.range.key }),
        name: () => 'usage-dashboard'
      });
    } else {
      void app.restored.then(() => {
        const tree = inTree();
        if (!tree) {
          return;
        }
        // A tab of the tree page, next to Files and Running; open when asked for.
        const widget = create();
        tree.addWidget(widget);
        if (new URLSearchParams(window.location.search).has(DASHBOARD_QUERY)) {
          tree.currentWidget = widget;
        }
      });
    }
  }
};
