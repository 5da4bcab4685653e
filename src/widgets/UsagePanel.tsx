import { ReactWidget, UseSignal } from '@jupyterlab/apputils';
import { ITranslator } from '@jupyterlab/translation';
import { SidePanel } from '@jupyterlab/ui-components';
import { IDisposable } from '@lumino/disposable';
import { Message } from '@lumino/messaging';
import { AccordionPanel } from '@lumino/widgets';
import * as React from 'react';

import { usageUrl } from '../api';
import { BudgetBars } from '../components/BudgetBars';
import { ConfigErrors } from '../components/ConfigErrors';
import { HistoryView } from '../components/HistoryView';
import { KernelTable } from '../components/KernelTable';
import { NowView } from '../components/NowView';
import { SessionView } from '../components/SessionView';
import { usageIcon } from '../icons';
import { UsageModel, UsagePart } from '../model';
import { IUsageSettings, SECTION_NAMES, SectionName } from '../settings';
import { ISessionRecord } from '../wire';
import { firstLinesHeight, shareHeight } from './panelFit';
import { UsageSection } from './UsageSection';

/** Shares of the panel's height each section starts with. */
const RELATIVE_SIZES: { [name in SectionName]: number } = {
  now: 4,
  kernels: 2,
  session: 3,
  history: 3
};

/** What each section needs the model to fetch. */
const PARTS: { [name in SectionName]: UsagePart[] } = {
  now: ['snapshot', 'history'],
  kernels: ['snapshot'],
  session: ['session'],
  history: ['sessions']
};

/**
 * The Usage side panel: one section per concern, all fed by one model.
 */
export class UsagePanel extends SidePanel {
  constructor(options: UsagePanel.IOptions) {
    const trans = options.translator.load('jupyter_usage');
    super({ translator: options.translator });
    this._model = options.model;
    this._settings = options.settings;
    this.id = 'jupyter-usage-panel';
    this.addClass('jp-Usage-panel');
    this.title.icon = usageIcon;
    this.title.caption = trans.__('Usage');
    const openDashboard = options.openDashboard;
    this.header.addWidget(
      ReactWidget.create(
        <div className="jp-Usage-header">
          <h2 className="jp-Usage-title">{trans.__('Usage')}</h2>
          {openDashboard && (
            <button
              type="button"
              className="jp-Usage-dashboardButton"
              data-command="jupyter-usage:open-dashboard"
              title={trans.__('Open the Usage dashboard: full-size charts')}
              onClick={openDashboard}
            >
              {trans.__('Dashboard')}
            </button>
          )}
        </div>
      )
    );
    // Above the sections, so a budget stays in sight whichever are open.
    const model = this._model;
    const budgets = ReactWidget.create(
      <UseSignal signal={model.changed}>
        {() => (
          <>
            <ConfigErrors errors={model.config?.config_errors} trans={trans} />
            <BudgetBars budgets={model.budget} trans={trans} />
          </>
        )}
      </UseSignal>
    );
    budgets.addClass('jp-Usage-budgetHeader');
    this.header.addWidget(budgets);
    const csvUrl = usageUrl('sessions.csv');
    const views: {
      [name in SectionName]: [string, (m: UsageModel) => JSX.Element];
    } = {
      now: [
        trans.__('Now'),
        model => (
          <NowView
            snapshot={model.snapshot}
            history={model.history}
            chartMinutes={this._settings.chartMinutes}
            error={model.error}
            trans={trans}
            warnAt={this._settings.warnFraction}
          />
        )
      ],
      kernels: [
        trans.__('Kernels'),
        model => (
          <KernelTable
            kernels={model.snapshot?.kernels ?? null}
            error={model.error}
            showGpu={model.hasSource('gpu')}
            trans={trans}
            onOpen={options.openPath}
          />
        )
      ],
      session: [
        trans.__('Session'),
        model => (
          <SessionView
            session={model.session}
            error={model.errorOf('session')}
            showGpu={model.hasSource('gpu')}
            trans={trans}
          />
        )
      ],
      history: [
        trans.__('History'),
        model => (
          <HistoryView
            sessions={model.sessions}
            error={model.errorOf('sessions')}
            trans={trans}
            csvUrl={csvUrl}
            onShowSummary={options.showSummary}
            onRetry={() => model.reloadSessions()}
          />
        )
      ]
    };
    for (const name of SECTION_NAMES) {
      const [label, render] = views[name];
      const section = new UsageSection({
        model: this._model,
        name,
        label,
        render
      });
      this._sections[name] = section;
    }
    this._applySections();
    this._model.changed.connect(this._scheduleFit, this);
    // Once the user drags a divider, the sizes are theirs.
    this.content.node.addEventListener('pointerdown', event => {
      if ((event.target as Element).closest?.('.lm-SplitPanel-handle')) {
        this._userSized = true;
      }
    });
  }

  /** The settings in force; sections, thresholds and windows follow them. */
  get settings(): IUsageSettings {
    return this._settings;
  }

  set settings(settings: IUsageSettings) {
    this._settings = settings;
    this._applySections();
    for (const section of Object.values(this._sections)) {
      section.update();
    }
    if (this.isVisible) {
      this._rewatch();
    }
  }

  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    this._rewatch();
    this._scheduleFit();
  }

  protected onAfterHide(msg: Message): void {
    super.onAfterHide(msg);
    this._watch?.dispose();
    this._watch = null;
  }

  dispose(): void {
    this._model.changed.disconnect(this._scheduleFit, this);
    this._watch?.dispose();
    this._watch = null;
    // Sections taken out by the settings are not children any more.
    for (const section of Object.values(this._sections)) {
      section.dispose();
    }
    super.dispose();
  }

  /**
   * Sections turned off in the settings leave the panel (a hidden widget would
   * keep its title in the accordion); those turned on go back in their place.
   */
  private _applySections(): void {
    const shown = SECTION_NAMES.filter(name => this._settings.sections[name]);
    if (shown.join() === this._shown) {
      // Unchanged: keep the sizes the user may have dragged.
      return;
    }
    this._shown = shown.join();
    let index = 0;
    for (const name of SECTION_NAMES) {
      const section = this._sections[name];
      if (!section) {
        continue;
      }
      if (this._settings.sections[name]) {
        if (this.widgets[index] !== section) {
          this.insertWidget(index, section);
        }
        index++;
      } else if (section.parent) {
        section.parent = null;
      }
    }
    if (this.content instanceof AccordionPanel) {
      this.content.setRelativeSizes(shown.map(name => RELATIVE_SIZES[name]));
    }
  }

  private _scheduleFit(): void {
    if (this._userSized || this._fitPending || !this.isVisible) {
      return;
    }
    this._fitPending = true;
    requestAnimationFrame(() => {
      this._fitPending = false;
      this._fitSections();
    });
  }

  /**
   * Size each section to its content, so that no section scrolls while another
   * stands half empty; the space left over is shared in the same proportions. When
   * the panel is too short for everything (a laptop), each section first gets its
   * first lines (`firstLinesHeight`), and what remains goes to each in proportion to
   * what it still lacks: a long history does not squeeze the kernels to half a row.
   */
  private _fitSections(): void {
    if (this._userSized || !(this.content instanceof AccordionPanel)) {
      return;
    }
    const shown = SECTION_NAMES.filter(name => this._settings.sections[name]);
    const measured = shown.map(name => {
      const node = this._sections[name]?.node;
      const content = node?.firstElementChild as HTMLElement | null;
      // The content's own height, with the margins of the tables and lists in it.
      const full = Math.max(40, (content?.offsetHeight ?? 0) + 16);
      const first = content ? firstLinesHeight(name, content) : null;
      return { full, first: Math.min(full, first ?? full) };
    });
    const available = shown.reduce(
      (sum, name) => sum + (this._sections[name]?.node.offsetHeight ?? 0),
      0
    );
    const heights = shareHeight(measured, available);
    const changed =
      heights.length !== this._fitted.length ||
      heights.some((height, i) => Math.abs(height - this._fitted[i]) > 8);
    if (changed) {
      this._fitted = heights;
      this.content.setRelativeSizes(heights);
      this.content.fit();
    }
  }

  private _rewatch(): void {
    const parts = new Set<UsagePart>(['budget']);
    for (const name of SECTION_NAMES) {
      if (this._settings.sections[name]) {
        PARTS[name].forEach(part => parts.add(part));
      }
    }
    this._watch?.dispose();
    this._watch = this._model.watch([...parts]);
  }

  private _model: UsageModel;
  private _sections: { [name in SectionName]?: UsageSection } = {};
  private _settings: IUsageSettings;
  /** The sections in the panel now, comma-separated. */
  private _shown: string | null = null;
  private _watch: IDisposable | null = null;
  private _fitPending = false;
  private _fitted: number[] = [];
  private _userSized = false;
}

export namespace UsagePanel {
  export interface IOptions {
    model: UsageModel;
    settings: IUsageSettings;
    translator: ITranslator;
    /** Open a notebook (a kernel's path). */
    openPath: (path: string) => void;
    /** Show the summary of a past session. */
    showSummary: (session: ISessionRecord) => void;
    /** Open the main-area dashboard; no button without it. */
    openDashboard?: () => void;
  }
}
