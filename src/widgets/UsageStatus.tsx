import { ReactWidget, UseSignal } from '@jupyterlab/apputils';
import { TranslationBundle } from '@jupyterlab/translation';
import { IDisposable } from '@lumino/disposable';
import { Message } from '@lumino/messaging';
import * as React from 'react';

import { StatusText } from '../components/StatusText';
import { UsageModel } from '../model';

/**
 * The status bar item: CPU, memory, the cost so far and the budget nearest its
 * limit. It keeps the model's snapshot, session and budgets fresh while it is on
 * screen.
 */
export class UsageStatus extends ReactWidget {
  constructor(options: UsageStatus.IOptions) {
    super();
    this._model = options.model;
    this._trans = options.trans;
    this._onClick = options.onClick;
    this.warnAt = options.warnAt;
    this.addClass('jp-Usage-statusItem');
  }

  /** Share of a limit from which a figure turns to the warning colour. */
  warnAt: number;

  render(): JSX.Element {
    return (
      <UseSignal signal={this._model.changed}>
        {() => (
          <StatusText
            snapshot={this._model.snapshot}
            session={this._model.session}
            error={this._model.error}
            budgets={this._model.budget}
            warnAt={this.warnAt}
            trans={this._trans}
            onClick={this._onClick}
          />
        )}
      </UseSignal>
    );
  }

  // Keep the figures fresh only while the item is on screen (the setting
  // `statusBar` hides it).
  protected onAfterAttach(msg: Message): void {
    super.onAfterAttach(msg);
    this._setWatching(this.isVisible);
  }

  protected onBeforeDetach(msg: Message): void {
    this._setWatching(false);
    super.onBeforeDetach(msg);
  }

  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    this._setWatching(true);
  }

  protected onAfterHide(msg: Message): void {
    super.onAfterHide(msg);
    this._setWatching(false);
  }

  dispose(): void {
    this._setWatching(false);
    super.dispose();
  }

  private _setWatching(watching: boolean): void {
    if (watching && !this._watch) {
      this._watch = this._model.watch(['snapshot', 'session', 'budget']);
    } else if (!watching && this._watch) {
      this._watch.dispose();
      this._watch = null;
    }
  }

  private _model: UsageModel;
  private _onClick: () => void;
  private _trans: TranslationBundle;
  private _watch: IDisposable | null = null;
}

export namespace UsageStatus {
  export interface IOptions {
    model: UsageModel;
    trans: TranslationBundle;
    warnAt: number;
    onClick: () => void;
  }
}
