import * as React from 'react';

/** One figure written above a chart: "Now 1.2 cores". */
export interface IHeadlineFigure {
  /** `data-figure`, for tests and styles: now, peak, limit, so-far, … */
  key: string;
  label: string;
  value: string;
}

/**
 * The figures a chart is about, as text above it: readable without hovering, by
 * screen readers as a list of terms, and in a screenshot.
 */
export function HeadlineFigures(props: {
  figures: readonly IHeadlineFigure[];
  label: string;
}): JSX.Element | null {
  if (props.figures.length === 0) {
    return null;
  }
  return (
    <dl className="jp-UsageDashboard-figures" aria-label={props.label}>
      {props.figures.map(figure => (
        <div
          key={figure.key}
          className="jp-UsageDashboard-figure"
          data-figure={figure.key}
        >
          <dt>{figure.label}</dt>
          <dd>{figure.value}</dd>
        </div>
      ))}
    </dl>
  );
}
