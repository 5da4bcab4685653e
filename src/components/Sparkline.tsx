import * as React from 'react';
import uPlot from 'uplot';

import { useUPlot } from './useUPlot';

/**
 * The small live charts are drawn by uPlot because it is small: 51 KB minified
 * (about 22 KB gzipped) with no dependencies, where general chart libraries weigh
 * several times that for what are four sparklines; see docs/ui.md.
 */

export interface ISparkSeries {
  values: readonly (number | null)[];
  /** A `--jp-*` colour variable, read when the chart draws (themes switch live). */
  colorVar: string;
}

export interface ISparklineProps {
  /** What the chart shows, for assistive technology. */
  label: string;
  times: readonly (number | null)[];
  series: readonly ISparkSeries[];
  /** The top of the scale (a limit); the data's maximum when null. */
  max?: number | null;
  /** The scale in words, shown over the chart: its peak and its limit. */
  peakText?: string;
  limitText?: string;
  height?: number;
}

const DEFAULT_HEIGHT = 48;

function cssColor(node: Element, name: string): string {
  const value = getComputedStyle(node).getPropertyValue(name).trim();
  return value || 'currentColor';
}

function toData(props: ISparklineProps): uPlot.AlignedData {
  const keep: number[] = [];
  props.times.forEach((time, i) => {
    if (time !== null && isFinite(time)) {
      keep.push(i);
    }
  });
  return [
    keep.map(i => props.times[i] as number),
    ...props.series.map(series => keep.map(i => series.values[i] ?? null))
  ];
}

/** A small line chart of the last minutes; decorative next to its figures. */
export function Sparkline(props: ISparklineProps): JSX.Element {
  const height = props.height ?? DEFAULT_HEIGHT;
  const node = React.useRef<HTMLDivElement>(null);
  // The chart's callbacks read the latest props, not those of its creation.
  const latest = React.useRef(props);
  latest.current = props;
  const data = toData(props);

  const plot = useUPlot(node, height, [props.series.length], target => {
    const options: uPlot.Options = {
      width: target.clientWidth || 200,
      height,
      legend: { show: false },
      cursor: { show: false },
      axes: [{ show: false }, { show: false }],
      scales: {
        x: { time: true },
        y: {
          range: (_self, _min, dataMax) => {
            const top = Math.max(latest.current.max ?? 0, dataMax ?? 0);
            return [0, top > 0 ? top : 1];
          }
        }
      },
      series: [
        {},
        ...latest.current.series.map((_series, i) => ({
          stroke: () => cssColor(target, latest.current.series[i].colorVar),
          width: 1.5,
          points: { show: false }
        }))
      ]
    };
    return { options, data: toData(latest.current) };
  });

  React.useEffect(() => {
    plot.current?.setData(data);
  });

  return (
    <div className="jp-Usage-sparklineBox">
      {(props.peakText || props.limitText) && (
        <div className="jp-Usage-sparkScale" aria-hidden="true">
          {props.peakText && (
            <span className="jp-Usage-sparkPeak" title={props.peakText}>
              {props.peakText}
            </span>
          )}
          {props.limitText && (
            <span className="jp-Usage-sparkLimit" title={props.limitText}>
              {props.limitText}
            </span>
          )}
        </div>
      )}
      <div
        className="jp-Usage-sparkline"
        ref={node}
        role="img"
        aria-label={[props.label, props.peakText, props.limitText]
          .filter(Boolean)
          .join('; ')}
        style={{ height }}
      />
    </div>
  );
}
