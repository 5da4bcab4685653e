import * as React from 'react';
import uPlot from 'uplot';

import { useUPlot } from '../components/useUPlot';
import { binaryTicks, formatBinaryTick } from './axes';
import { HeadlineFigures, IHeadlineFigure } from './HeadlineFigures';

/**
 * A full-width time chart of the dashboard, drawn by uPlot like the panel's
 * sparklines: axes with units, limits as dashed lines, a live legend with exact
 * values at the cursor, drag to zoom (double-click or Escape to zoom out), and keys:
 * ← → move the cursor, + − zoom around it, Escape or 0 shows the whole range.
 */

export interface IChartSeries {
  label: string;
  values: readonly (number | null)[];
  /** A CSS colour, or a `--jp-*` variable read when the chart draws (themes switch live). */
  color: string;
  dash?: boolean;
  /** Fill below the line (stacked charts fill each band). */
  fill?: boolean;
  /** What the legend shows at a point; the plotted value when absent. */
  legendValues?: readonly (number | null)[];
}

export interface IChartMark {
  time: number;
  label: string;
}

export interface ITimeChartProps {
  /** `data-chart`, for tests and styles. */
  id: string;
  title: string;
  /** The unit of the y axis, shown as its label ("cores", "bytes", …). */
  unit: string;
  times: readonly (number | null)[];
  series: readonly IChartSeries[];
  /** Values for people, in the chart's unit. */
  format: (value: number) => string;
  /**
   * The y axis counts bytes (`bytes`) or bytes per second (`rate`): ticks then fall at
   * binary-round values (512 MiB, 1 GiB, …) and read as such.
   */
  binary?: 'bytes' | 'rate';
  /** The y axis reaches at least this far (a limit); 0 … data max otherwise. */
  yMin?: number | null;
  /** Vertical marks (out-of-memory kills). */
  marks?: readonly IChartMark[];
  /** A short text of the figures for assistive technology. */
  summary: string;
  /** Figures written above the chart (now, peak, limit…). */
  figures?: readonly IHeadlineFigure[];
  /** Shown instead of the chart when there is nothing to draw. */
  empty?: string | null;
  height?: number;
}

const DEFAULT_HEIGHT = 220;

function cssColor(node: Element, value: string): string {
  if (!value.startsWith('--')) {
    return value;
  }
  const resolved = getComputedStyle(node).getPropertyValue(value).trim();
  return resolved || 'currentColor';
}

/** `color` with an alpha, for fills (CSS colour-mix keeps theme variables working). */
function translucent(color: string, alpha: number): string {
  if (/^#[0-9a-f]{6}$/i.test(color)) {
    return (
      color +
      Math.round(alpha * 255)
        .toString(16)
        .padStart(2, '0')
    );
  }
  return `color-mix(in srgb, ${color} ${Math.round(alpha * 100)}%, transparent)`;
}

/** uPlot's columns (rows without a time left out), and where each row came from. */
function toData(props: ITimeChartProps): {
  data: uPlot.AlignedData;
  rows: number[];
} {
  const rows: number[] = [];
  props.times.forEach((time, i) => {
    if (time !== null && isFinite(time)) {
      rows.push(i);
    }
  });
  return {
    data: [
      rows.map(i => props.times[i] as number),
      ...props.series.map(series => rows.map(i => series.values[i] ?? null))
    ] as uPlot.AlignedData,
    rows
  };
}

/**
 * Without a pointer on the chart, the legend gives the latest figures rather than
 * "–": the last row where the first series has a value (the cost's projection
 * reaches past it).
 */
function showLatestInLegend(u: uPlot): void {
  if (typeof u.setLegend !== 'function' || (u.cursor?.idx ?? null) !== null) {
    return;
  }
  const first = (u.data[1] ?? []) as (number | null | undefined)[];
  for (let i = first.length - 1; i >= 0; i--) {
    if (first[i] !== null && first[i] !== undefined) {
      u.setLegend({ idx: i });
      return;
    }
  }
}

function timeText(seconds: number): string {
  return new Date(seconds * 1000).toLocaleString(undefined, {
    month: 'short',
    day: 'numeric',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit'
  });
}

export function TimeChart(props: ITimeChartProps): JSX.Element {
  const height = props.height ?? DEFAULT_HEIGHT;
  const node = React.useRef<HTMLDivElement>(null);
  const cursor = React.useRef<number | null>(null);
  /** Whether the user zoomed in: new data then keeps the zoomed window. */
  const zoomed = React.useRef(false);
  const latest = React.useRef(props);
  latest.current = props;
  const { data, rows } = toData(props);
  const rowsRef = React.useRef(rows);
  rowsRef.current = rows;
  const shape = props.series.map(s => `${s.label}|${s.dash}|${s.fill}`).join();

  const plot = useUPlot(node, height, [shape], target => {
    const format = (value: number | null | undefined) =>
      value === null || value === undefined || !isFinite(value)
        ? '–'
        : latest.current.format(value);
    const axisColor = () => cssColor(target, '--jp-ui-font-color2');
    const gridColor = () => cssColor(target, '--jp-border-color2');
    const options: uPlot.Options = {
      width: target.clientWidth || 600,
      height,
      legend: { show: true, live: true },
      cursor: {
        drag: { x: true, y: false, setScale: true },
        points: { size: 6 }
      },
      scales: {
        x: { time: true },
        y: {
          range: (_self, _min, dataMax) => {
            const top = Math.max(latest.current.yMin ?? 0, dataMax ?? 0);
            return [0, top > 0 ? top * 1.05 : 1];
          }
        }
      },
      axes: [
        {
          stroke: axisColor,
          grid: { stroke: gridColor, width: 1 },
          ticks: { stroke: gridColor, width: 1 }
        },
        {
          label: latest.current.unit,
          labelSize: 18,
          size: 72,
          stroke: axisColor,
          grid: { stroke: gridColor, width: 1 },
          ticks: { stroke: gridColor, width: 1 },
          ...(latest.current.binary
            ? {
                splits: (
                  _u: uPlot,
                  _axis: number,
                  min: number,
                  max: number,
                  found: number
                ) => binaryTicks(min, max, found),
                values: (_u: uPlot, splits: number[]) =>
                  splits.map(value =>
                    formatBinaryTick(
                      value,
                      latest.current.binary === 'rate' ? '/s' : ''
                    )
                  )
              }
            : {
                values: (_u: uPlot, splits: number[]) =>
                  splits.map(value => format(value))
              })
        }
      ],
      series: [
        {
          label: 'Time',
          value: (_u, value) => (value === null ? '–' : timeText(value))
        },
        ...latest.current.series.map((spec, i) => ({
          label: spec.label,
          stroke: () =>
            cssColor(target, latest.current.series[i]?.color ?? spec.color),
          fill: spec.fill
            ? () =>
                translucent(
                  cssColor(
                    target,
                    latest.current.series[i]?.color ?? spec.color
                  ),
                  0.75
                )
            : undefined,
          width: spec.dash ? 1.5 : 2,
          dash: spec.dash ? [6, 4] : undefined,
          points: { show: false },
          value: (
            _u: uPlot,
            value: number | null,
            _s: number,
            idx: number | null
          ) => {
            const own = latest.current.series[i]?.legendValues;
            if (idx === null || !own) {
              return format(value);
            }
            return format(own[rowsRef.current[idx]] ?? null);
          }
        }))
      ],
      hooks: {
        ready: [showLatestInLegend],
        setCursor: [showLatestInLegend],
        setScale: [
          (u, key) => {
            if (key !== 'x') {
              return;
            }
            const times = u.data[0];
            const min = u.scales.x.min;
            const max = u.scales.x.max;
            zoomed.current =
              times.length > 1 &&
              min !== undefined &&
              max !== undefined &&
              (min > times[0] + 1e-6 || max < times[times.length - 1] - 1e-6);
            // Said on the figure, for styles and tests.
            target
              .closest('figure')
              ?.toggleAttribute('data-zoomed', zoomed.current);
          }
        ],
        draw: [
          u => {
            const marks = latest.current.marks ?? [];
            if (!marks.length) {
              return;
            }
            const ctx = u.ctx;
            ctx.save();
            ctx.strokeStyle = cssColor(target, '--jp-error-color1');
            ctx.fillStyle = ctx.strokeStyle;
            ctx.lineWidth = 2 * devicePixelRatio;
            ctx.font = `${11 * devicePixelRatio}px sans-serif`;
            for (const mark of marks) {
              const x = u.valToPos(mark.time, 'x', true);
              if (x < u.bbox.left || x > u.bbox.left + u.bbox.width) {
                continue;
              }
              ctx.beginPath();
              ctx.moveTo(x, u.bbox.top);
              ctx.lineTo(x, u.bbox.top + u.bbox.height);
              ctx.stroke();
              ctx.fillText(
                mark.label,
                x + 3 * devicePixelRatio,
                u.bbox.top + 12 * devicePixelRatio
              );
            }
            ctx.restore();
          }
        ]
      }
    };
    return { options, data: toData(latest.current).data };
  });

  React.useEffect(() => {
    const chart = plot.current;
    if (!chart) {
      return;
    }
    const range = zoomed.current
      ? { min: chart.scales.x.min as number, max: chart.scales.x.max as number }
      : null;
    chart.setData(data, range === null);
    if (range) {
      chart.setScale('x', range);
    }
    showLatestInLegend(chart);
  });

  const onKeyDown = (event: React.KeyboardEvent) => {
    const chart = plot.current;
    const times = chart?.data[0] ?? [];
    if (!chart || !times.length) {
      return;
    }
    const move = (index: number) => {
      cursor.current = Math.max(0, Math.min(times.length - 1, index));
      const left = chart.valToPos(times[cursor.current], 'x');
      chart.setCursor({ left, top: chart.bbox.height / devicePixelRatio / 2 });
    };
    const current = cursor.current ?? times.length - 1;
    switch (event.key) {
      case 'ArrowLeft':
        move(current - 1);
        break;
      case 'ArrowRight':
        move(current + 1);
        break;
      case 'Home':
        move(0);
        break;
      case 'End':
        move(times.length - 1);
        break;
      case '+':
      case '=':
      case '-': {
        const min = chart.scales.x.min ?? times[0];
        const max = chart.scales.x.max ?? times[times.length - 1];
        const middle = times[current];
        const half = ((max - min) / 2) * (event.key === '-' ? 2 : 0.5);
        chart.setScale('x', {
          min: Math.max(times[0], middle - half),
          max: Math.min(times[times.length - 1], middle + half)
        });
        break;
      }
      case 'Escape':
      case '0':
        chart.setScale('x', { min: times[0], max: times[times.length - 1] });
        break;
      default:
        return;
    }
    event.preventDefault();
  };

  return (
    <figure className="jp-UsageDashboard-chart" data-chart={props.id}>
      <figcaption className="jp-UsageDashboard-chartTitle">
        {props.title}
      </figcaption>
      <HeadlineFigures figures={props.figures ?? []} label={props.title} />
      {props.empty && (
        <p className="jp-UsageDashboard-empty" role="status">
          {props.empty}
        </p>
      )}
      <div
        hidden={!!props.empty}
        className="jp-UsageDashboard-plot"
        ref={node}
        tabIndex={0}
        role="img"
        aria-label={`${props.title}. ${props.summary}`}
        aria-describedby={`jp-UsageDashboard-keys`}
        onKeyDown={onKeyDown}
        onMouseLeave={() => {
          cursor.current = null;
        }}
      />
    </figure>
  );
}
