import type { TranslationBundle } from '@jupyterlab/translation';
import * as React from 'react';

import { dayKey, formatDay, formatMoney } from '../format';
import { ISessionRecord } from '../wire';

export interface IDailyCostChartProps {
  sessions: readonly ISessionRecord[];
  trans: TranslationBundle;
  /** How many of the most recent days with sessions to show. */
  days?: number;
  locale?: string;
}

export interface IDayCost {
  day: string;
  /** A time within the day, for its label. */
  time: number;
  total: number;
  currency: string;
}

/**
 * Cost per local calendar day of each session's start, oldest first. Sessions in
 * another currency than the newest one are left out rather than added up.
 */
export function costPerDay(
  sessions: readonly ISessionRecord[],
  days: number
): IDayCost[] {
  const priced = sessions.filter(session => session.cost);
  if (priced.length === 0) {
    return [];
  }
  const newest = priced.reduce((a, b) => (b.started > a.started ? b : a));
  const currency = newest.cost!.currency;
  const byDay = new Map<string, IDayCost>();
  for (const session of priced) {
    if (session.cost!.currency !== currency) {
      continue;
    }
    const day = dayKey(session.started);
    const entry = byDay.get(day) ?? {
      day,
      time: session.started,
      total: 0,
      currency
    };
    entry.total += session.cost!.total;
    byDay.set(day, entry);
  }
  return [...byDay.values()]
    .sort((a, b) => a.day.localeCompare(b.day))
    .slice(-days);
}

/** A bar per day: plain HTML, so it reads as a list to a screen reader. */
export function DailyCostChart(
  props: IDailyCostChartProps
): JSX.Element | null {
  const { trans, locale } = props;
  const entries = costPerDay(props.sessions, props.days ?? 14);
  if (entries.length === 0) {
    return null;
  }
  const top = Math.max(...entries.map(entry => entry.total));
  return (
    <ul className="jp-Usage-days" aria-label={trans.__('Cost per day')}>
      {entries.map(entry => {
        const amount = formatMoney(entry.total, entry.currency, locale);
        const label = formatDay(entry.time, locale);
        return (
          <li key={entry.day} className="jp-Usage-day" data-day={entry.day}>
            <span className="jp-Usage-dayLabel">{label}</span>
            <span className="jp-Usage-dayBar" aria-hidden="true">
              <span
                className="jp-Usage-dayFill"
                style={{
                  width: `${top > 0 ? ((entry.total / top) * 100).toFixed(1) : 0}%`
                }}
              />
            </span>
            <span className="jp-Usage-dayValue">{amount}</span>
          </li>
        );
      })}
    </ul>
  );
}
