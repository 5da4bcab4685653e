import { ReactWidget, UseSignal } from '@jupyterlab/apputils';
import type { TranslationBundle } from '@jupyterlab/translation';
import { Message } from '@lumino/messaging';
import * as React from 'react';

import { DashboardModel } from './DashboardModel';
import { DashboardView } from './DashboardView';
import { usageIcon } from '../icons';

/** The main-area Usage dashboard; fetches only while it is shown. */
export class UsageDashboard extends ReactWidget {
  static readonly ID = 'jupyter-usage-dashboard';

  constructor(options: UsageDashboard.IOptions) {
    super();
    this.model = options.model;
    this._trans = options.trans;
    this._onOpen = options.openPath;
    this.id = UsageDashboard.ID;
    this.addClass('jp-UsageDashboard');
    this.title.icon = usageIcon;
    this.title.label = options.trans.__('Usage dashboard');
    this.title.caption = options.trans.__('What this server used over time');
    this.title.closable = true;
  }

  readonly model: DashboardModel;

  render(): JSX.Element {
    return (
      <UseSignal signal={this.model.changed}>
        {() => {
          const usage = this.model.usage;
          const rates = usage.config?.rates as
            { currency?: string } | undefined;
          return (
            <DashboardView
              range={this.model.range}
              onRange={range => {
                this.model.range = range;
              }}
              history={this.model.history}
              historyError={this.model.error}
              snapshot={usage.snapshot}
              session={usage.session}
              currency={rates?.currency ?? 'USD'}
              trans={this._trans}
              onOpen={this._onOpen}
            />
          );
        }}
      </UseSignal>
    );
  }

  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    this.model.show();
  }

  protected onAfterAttach(msg: Message): void {
    super.onAfterAttach(msg);
    if (this.isVisible) {
      this.model.show();
    }
  }

  protected onBeforeHide(msg: Message): void {
    super.onBeforeHide(msg);
    this.model.hide();
  }

  protected onBeforeDetach(msg: Message): void {
    this.model.hide();
    super.onBeforeDetach(msg);
  }

  dispose(): void {
    this.model.dispose();
    super.dispose();
  }

  private _onOpen: (path: string) => void;
  private _trans: TranslationBundle;
}

export namespace UsageDashboard {
  export interface IOptions {
    model: DashboardModel;
    trans: TranslationBundle;
    openPath: (path: string) => void;
  }
}
