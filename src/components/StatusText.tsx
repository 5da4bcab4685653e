import type { TranslationBundle } from '@jupyterlab/translation';
import * as React from 'react';

import { budgetFraction, budgetLine, mostPressing } from '../budget/format';
import { formatBytesOf, formatCores, formatMoney, fraction } from '../format';
import { IBudgets, ISession, ISnapshot } from '../wire';
import { budgetClass } from './BudgetBars';

export interface IStatusTextProps {
  snapshot: ISnapshot | null;
  session: ISession | null;
  error: string | null;
  warnAt: number;
  trans: TranslationBundle;
  onClick: () => void;
  locale?: string;
  /** The user's budgets; the one nearest its limit is shown. */
  budgets?: IBudgets | null;
  /** Unix seconds (the stop countdown); injected in tests. */
  now?: number;
}

/** `CPU 0.40/2.0 · Mem 1.2/4.0 GiB · $0.31`: a button that opens the panel. */
export function StatusText(props: IStatusTextProps): JSX.Element {
  const { snapshot, session, trans } = props;
  const parts: { key: string; text: string; warn: boolean }[] = [];
  if (snapshot) {
    const cpu = snapshot.cpu;
    const cpuLimit = cpu.limit_cores ?? cpu.host_cores;
    const cpuShare = fraction(cpu.cores, cpuLimit);
    parts.push({
      key: 'cpu',
      text: trans.__(
        'CPU %1',
        cpuLimit === null
          ? formatCores(cpu.cores)
          : `${formatCores(cpu.cores)}/${formatCores(cpuLimit)}`
      ),
      warn: cpuShare !== null && cpuShare >= props.warnAt
    });
    const memory = snapshot.memory;
    const memoryShare = fraction(memory.used_bytes, memory.limit_bytes);
    parts.push({
      key: 'memory',
      text: trans.__(
        'Mem %1',
        formatBytesOf(memory.used_bytes, memory.limit_bytes, '/')
      ),
      warn: memoryShare !== null && memoryShare >= props.warnAt
    });
  }
  if (session) {
    parts.push({
      key: 'cost',
      text: formatMoney(
        session.cost.total,
        session.cost.currency,
        props.locale
      ),
      warn: false
    });
  }
  const budget = mostPressing(props.budgets?.budgets ?? []);
  const budgetTitle = budget
    ? budgetLine(budget, trans, props.locale, props.now)
    : null;
  const label =
    parts.length === 0 && !budget
      ? props.error
        ? trans.__('Usage unavailable')
        : trans.__('Usage…')
      : null;
  return (
    <button
      type="button"
      className="jp-Usage-status"
      title={
        props.error
          ? trans.__('Usage: %1', props.error)
          : trans.__('Show the Usage panel')
      }
      onClick={props.onClick}
    >
      {label ??
        parts.map((part, i) => (
          <React.Fragment key={part.key}>
            {i > 0 && <span aria-hidden="true"> · </span>}
            <span
              data-key={part.key}
              className={part.warn ? 'jp-Usage-status-warn' : undefined}
            >
              {part.text}
            </span>
          </React.Fragment>
        ))}
      {label === null && budget && (
        <>
          {parts.length > 0 && <span aria-hidden="true"> · </span>}
          <span data-key="budget" className={budgetClass(budget)}>
            <span className="jp-Usage-miniBar" aria-hidden="true">
              <span
                className="jp-Usage-miniBarFill"
                style={{
                  width: `${(budgetFraction(budget) * 100).toFixed(0)}%`
                }}
              />
            </span>
            {budgetTitle}
          </span>
        </>
      )}
    </button>
  );
}
