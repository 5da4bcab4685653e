/**
 * The panel's settings as the code reads them. Their defaults live in
 * schema/panel.json; `FALLBACK_SETTINGS` is used only when JupyterLab runs without
 * a setting registry.
 */

import { NOTIFICATION_KINDS, NotificationKind } from './notifications/types';

export type SectionName = 'now' | 'kernels' | 'session' | 'history';

export const SECTION_NAMES: readonly SectionName[] = [
  'now',
  'kernels',
  'session',
  'history'
];

export interface IUsageSettings {
  refreshSeconds: number;
  chartMinutes: number;
  warnFraction: number;
  statusBar: boolean;
  sections: { [name in SectionName]: boolean };
  notifications: { [kind in NotificationKind]: boolean };
}

/** Only for a JupyterLab without a setting registry; keep in step with the schema. */
export const FALLBACK_SETTINGS: IUsageSettings = {
  refreshSeconds: 2,
  chartMinutes: 10,
  warnFraction: 0.9,
  statusBar: true,
  sections: { now: true, kernels: true, session: true, history: true },
  notifications: {
    memory: true,
    disk: true,
    gpu: true,
    culler: true,
    oom: true,
    budget: true
  }
};

/** The settings from a composite settings object, each checked for its type. */
export function readSettings(
  composite: { [key: string]: unknown },
  fallback: IUsageSettings = FALLBACK_SETTINGS
): IUsageSettings {
  const number = (key: keyof IUsageSettings): number => {
    const value = composite[key];
    return typeof value === 'number' && isFinite(value)
      ? value
      : (fallback[key] as number);
  };
  const rawSections = (composite.sections ?? {}) as { [key: string]: unknown };
  const sections = { ...fallback.sections };
  for (const name of SECTION_NAMES) {
    if (typeof rawSections[name] === 'boolean') {
      sections[name] = rawSections[name] as boolean;
    }
  }
  const rawNotifications = (composite.notifications ?? {}) as {
    [key: string]: unknown;
  };
  const notifications = { ...fallback.notifications };
  for (const kind of NOTIFICATION_KINDS) {
    if (typeof rawNotifications[kind] === 'boolean') {
      notifications[kind] = rawNotifications[kind] as boolean;
    }
  }
  return {
    refreshSeconds: number('refreshSeconds'),
    chartMinutes: number('chartMinutes'),
    warnFraction: number('warnFraction'),
    statusBar:
      typeof composite.statusBar === 'boolean'
        ? composite.statusBar
        : fallback.statusBar,
    sections,
    notifications
  };
}
