import { ReactWidget, UseSignal } from '@jupyterlab/apputils';
import { ITranslator, TranslationBundle } from '@jupyterlab/translation';
import { SidePanel } from '@jupyterlab/ui-components';
import { IDisposable } from '@lumino/disposable';
import { Message } from '@lumino/messaging';
import * as React from 'react';

import { NowView } from '../components/NowView';
import { UsageModel } from '../model';
import { usageIcon } from '../icons';

/** Shares of a limit from which meters warn, unless the settings say otherwise. */
export const DEFAULT_WARN_AT = 0.9;

class NowSection extends ReactWidget {
  constructor(
    private readonly _model: UsageModel,
    private readonly _trans: TranslationBundle
  ) {
    super();
    this.title.label = _trans.__('Now');
    this.addClass('jp-Usage-section');
  }

  warnAt = DEFAULT_WARN_AT;

  render(): JSX.Element {
    return (
      <UseSignal signal={this._model.changed}>
        {() => (
          <NowView
            snapshot={this._model.snapshot}
            error={this._model.error}
            trans={this._trans}
            warnAt={this.warnAt}
          />
        )}
      </UseSignal>
    );
  }
}

/**
 * The Usage side panel: one section per concern, all fed by one model.
 */
export class UsagePanel extends SidePanel {
  constructor(options: UsagePanel.IOptions) {
    const trans = options.translator.load('jupyter_usage');
    super({ translator: options.translator });
    this._model = options.model;
    this.id = 'jupyter-usage-panel';
    this.addClass('jp-Usage-panel');
    this.title.icon = usageIcon;
    this.title.caption = trans.__('Usage');
    this.header.addWidget(
      ReactWidget.create(<h2 className="jp-Usage-title">{trans.__('Usage')}</h2>)
    );
    this._now = new NowSection(this._model, trans);
    this.addWidget(this._now);
  }

  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    this._watch?.dispose();
    this._watch = this._model.watch();
  }

  protected onAfterHide(msg: Message): void {
    super.onAfterHide(msg);
    this._watch?.dispose();
    this._watch = null;
  }

  dispose(): void {
    this._watch?.dispose();
    super.dispose();
  }

  private _model: UsageModel;
  private _now: NowSection;
  private _watch: IDisposable | null = null;
}

export namespace UsagePanel {
  export interface IOptions {
    model: UsageModel;
    translator: ITranslator;
  }
}
