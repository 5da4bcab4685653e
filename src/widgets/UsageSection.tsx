import { ReactWidget, UseSignal } from '@jupyterlab/apputils';
import * as React from 'react';

import { UsageModel } from '../model';

/**
 * One section of the Usage panel: re-renders its view whenever the model changes,
 * and on `update()` (a setting changed).
 */
export class UsageSection extends ReactWidget {
  constructor(options: UsageSection.IOptions) {
    super();
    this._model = options.model;
    this._render = options.render;
    this.id = `jupyter-usage-${options.name}`;
    this.title.label = options.label;
    this.addClass('jp-Usage-section');
    this.node.dataset.section = options.name;
    // A section scrolls when the panel is short: keyboard users must be able to reach
    // and scroll it (axe's scrollable-region-focusable).
    this.node.tabIndex = 0;
    this.node.setAttribute('role', 'region');
    this.node.setAttribute('aria-label', options.label);
  }

  render(): JSX.Element {
    return (
      <UseSignal signal={this._model.changed}>
        {() => this._render(this._model)}
      </UseSignal>
    );
  }

  private _model: UsageModel;
  private _render: (model: UsageModel) => JSX.Element;
}

export namespace UsageSection {
  export interface IOptions {
    model: UsageModel;
    /** Short name used in ids and `data-section`. */
    name: string;
    /** The translated title. */
    label: string;
    render: (model: UsageModel) => JSX.Element;
  }
}
