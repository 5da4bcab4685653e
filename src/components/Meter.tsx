import * as React from 'react';

import { fraction } from '../format';

export interface IMeterProps {
  /** Stable key used by tests and styles (`data-key`). */
  id: string;
  label: string;
  value: string;
  used: number | null | undefined;
  limit: number | null | undefined;
  /** Share of the limit from which the meter turns to the warning colour. */
  warnAt: number;
  children?: React.ReactNode;
}

/** One resource: its label, a figure against its limit, and a bar. */
export function Meter(props: IMeterProps): JSX.Element {
  const share = fraction(props.used, props.limit);
  const warn = share !== null && share >= props.warnAt;
  return (
    <div
      className={`jp-Usage-meter${warn ? ' jp-Usage-meter-warn' : ''}`}
      data-key={props.id}
    >
      <div className="jp-Usage-meterHeader">
        <span className="jp-Usage-meterLabel" title={props.label}>
          {props.label}
        </span>
        <span className="jp-Usage-meterValue" title={props.value}>
          {props.value}
        </span>
      </div>
      {share !== null && (
        <div
          className="jp-Usage-bar"
          role="meter"
          aria-label={props.label}
          aria-valuemin={0}
          aria-valuemax={100}
          aria-valuenow={Math.round(share * 100)}
          aria-valuetext={props.value}
        >
          <div
            className="jp-Usage-barFill"
            style={{ width: `${(share * 100).toFixed(1)}%` }}
          />
        </div>
      )}
      {props.children}
    </div>
  );
}
