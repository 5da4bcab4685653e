import type { TranslationBundle } from '@jupyterlab/translation';
import type { IDisposable } from '@lumino/disposable';

import type { IUsageModel, UsagePart } from '../tokens';
import { INotificationRule, IReading, NotificationKind } from './types';
import { defaultRules } from './rules';

/** The part of JupyterLab's `Notification` API the notifier uses (injected in tests). */
export interface INotify {
  emit(
    message: string,
    type: IReading['type'],
    options: {
      autoClose: false;
      actions: { label: string; caption?: string; callback: () => void }[];
    }
  ): string;
  /** A countdown's notification, with its new words. */
  update(id: string, message: string, type: IReading['type']): void;
  dismiss(id: string): void;
}

/** What a rule keeps fresh when it does not say. */
const DEFAULT_WATCHES: readonly UsagePart[] = ['snapshot', 'session'];

export interface INotifierSettings {
  warnFraction: number;
  notifications: { [kind in NotificationKind]: boolean };
}

/**
 * Tells the user about trouble through JupyterLab's notifications, with or without
 * the Usage panel open: it reads the same model as the status bar item and keeps what
 * the rules of the kinds that are on read fresh (the snapshot and session; the
 * budgets for the budget rule).
 *
 * Each rule reports episodes. An episode is told once, when it starts firing; it ends
 * only when its figure falls clearly below the threshold (hysteresis), and only then
 * can it be told again. The notification of an episode that ended is dismissed; a
 * countdown's is updated while it fires. Each notification offers "Open Usage" and
 * "Not again this session" (for its kind, until the page is loaded again).
 */
export class UsageNotifier implements IDisposable {
  constructor(options: UsageNotifier.IOptions) {
    this._model = options.model;
    this._trans = options.trans;
    this._notify = options.notify;
    this._openUsage = options.openUsage;
    this._rules = options.rules ?? defaultRules();
    this.settings = options.settings;
    this._model.changed.connect(this._check, this);
  }

  get settings(): INotifierSettings {
    return this._settings;
  }

  set settings(settings: INotifierSettings) {
    this._settings = settings;
    this._rewatch();
  }

  /** Kinds silenced with "Not again this session". */
  get muted(): ReadonlySet<NotificationKind> {
    return this._muted;
  }

  get isDisposed(): boolean {
    return this._disposed;
  }

  dispose(): void {
    if (this._disposed) {
      return;
    }
    this._disposed = true;
    this._model.changed.disconnect(this._check, this);
    this._watch?.dispose();
    this._watch = null;
    this._watching = '';
  }

  /** Watch what the rules that are on read, and nothing while all are off. */
  private _rewatch(): void {
    const parts = new Set<UsagePart>();
    for (const rule of this._rules) {
      if (this._enabled(rule.kind)) {
        (rule.watches ?? DEFAULT_WATCHES).forEach(part => parts.add(part));
      }
    }
    const key = [...parts].sort().join();
    if (key === this._watching) {
      return;
    }
    this._watch?.dispose();
    this._watch = parts.size ? this._model.watch([...parts]) : null;
    this._watching = key;
  }

  private _enabled(kind: NotificationKind): boolean {
    return (
      this._settings.notifications[kind] !== false && !this._muted.has(kind)
    );
  }

  private _check(): void {
    const input = {
      model: this._model,
      warnFraction: this._settings.warnFraction,
      trans: this._trans
    };
    for (const rule of this._rules) {
      if (!this._enabled(rule.kind)) {
        continue;
      }
      for (const reading of rule.read(input)) {
        this._apply(rule.kind, reading);
      }
    }
  }

  private _apply(kind: NotificationKind, reading: IReading): void {
    const shown = this._told.get(reading.key);
    if (reading.state === 'clear') {
      if (shown !== undefined) {
        this._told.delete(reading.key);
        if (shown !== null) {
          this._notify.dismiss(shown);
        }
      }
      return;
    }
    if (reading.state !== 'firing') {
      return;
    }
    if (shown !== undefined) {
      if (reading.countdown && shown !== null) {
        this._notify.update(shown, reading.message, reading.type);
      }
      return;
    }
    const trans = this._trans;
    const id = this._notify.emit(reading.message, reading.type, {
      autoClose: false,
      actions: [
        {
          label: trans.__('Open Usage'),
          caption: trans.__('Open the Usage panel'),
          callback: () => this._openUsage()
        },
        {
          label: trans.__('Not again this session'),
          caption: trans.__(
            'Stop this kind of notification until the page is reloaded; turn it off for good in Settings ▸ Usage'
          ),
          callback: () => {
            this._muted.add(kind);
            this._rewatch();
          }
        }
      ]
    });
    this._told.set(reading.key, id);
  }

  private _disposed = false;
  private _model: IUsageModel;
  private _muted = new Set<NotificationKind>();
  private _notify: INotify;
  private _openUsage: () => void;
  private _rules: INotificationRule[];
  private _settings!: INotifierSettings;
  /** Episodes told, with the id of their notification. */
  private _told = new Map<string, string | null>();
  private _trans: TranslationBundle;
  private _watch: IDisposable | null = null;
  /** The parts `_watch` holds, sorted and joined. */
  private _watching = '';
}

export namespace UsageNotifier {
  export interface IOptions {
    model: IUsageModel;
    trans: TranslationBundle;
    settings: INotifierSettings;
    notify: INotify;
    openUsage: () => void;
    /** Defaults to every rule of `rules/`. */
    rules?: INotificationRule[];
  }
}
