import type { TranslationBundle } from '@jupyterlab/translation';
import * as React from 'react';

import { StateMessage } from '../components/StateMessage';
import {
  basename,
  formatBytes,
  formatBytesIn,
  formatCores,
  formatMoney,
  formatPercent,
  formatRate
} from '../format';
import { peakOf } from '../history';
import { IHistory, IKernelHistory, ISession, ISnapshot } from '../wire';
import { KernelHistoryTable } from './KernelHistoryTable';
import { KERNEL_COLORS, kernelTitle } from './kernels';
import { IHeadlineFigure } from './HeadlineFigures';
import { IRange, RANGES } from './ranges';
import { IChartMark, IChartSeries, TimeChart } from './TimeChart';

export interface IDashboardViewProps {
  range: IRange;
  onRange: (range: IRange) => void;
  history: IHistory | null;
  historyError: string | null;
  snapshot: ISnapshot | null;
  session: ISession | null;
  currency: string;
  trans: TranslationBundle;
  onOpen: (path: string) => void;
}

const BRAND = '--jp-brand-color1';
const ACCENT = '--jp-accent-color1';
const LIMIT = '--jp-error-color1';
const MUTED = '--jp-ui-font-color2';

function latestOf(
  values: readonly (number | null)[] | undefined
): number | null {
  for (let i = (values?.length ?? 0) - 1; i >= 0; i--) {
    const value = values![i];
    if (value !== null && value !== undefined) {
      return value;
    }
  }
  return null;
}

function constant(
  times: readonly unknown[],
  value: number | null | undefined
): (number | null)[] {
  return times.map(() =>
    value === null || value === undefined ? null : value
  );
}

/** Running sums of the kernels' columns, for a stacked chart (the top band first). */
function stacked(
  kernels: readonly IKernelHistory[],
  column: string,
  length: number
): (number | null)[][] {
  const sums: (number | null)[][] = [];
  let below: (number | null)[] = new Array(length).fill(null);
  for (const kernel of kernels) {
    const values = kernel.columns[column] ?? [];
    const next = below.map((base, i) => {
      const own = values[i];
      if (own === null || own === undefined) {
        return base;
      }
      return (base ?? 0) + own;
    });
    sums.push(next);
    below = next;
  }
  return sums;
}

/** Now, peak and limit, those that are known, formatted for the headline. */
function nowPeakLimit(
  trans: TranslationBundle,
  format: (value: number) => string,
  now: number | null | undefined,
  peak: number | null | undefined,
  limit?: number | null,
  limitLabel?: string
): IHeadlineFigure[] {
  const figures: IHeadlineFigure[] = [];
  const known = (value: number | null | undefined): value is number =>
    value !== null && value !== undefined && isFinite(value);
  if (known(now)) {
    figures.push({ key: 'now', label: trans.__('Now'), value: format(now) });
  }
  if (known(peak)) {
    figures.push({ key: 'peak', label: trans.__('Peak'), value: format(peak) });
  }
  if (known(limit)) {
    figures.push({
      key: 'limit',
      label: limitLabel ?? trans.__('Limit'),
      value: format(limit)
    });
  }
  return figures;
}

/** What sets a chart's axis apart: its unit, how values read, binary ticks. */
type ChartUnit = 'cores' | 'bytes' | 'rate' | 'percent';

/** One chart of the dashboard, less what every chart shares (times, axis by unit). */
interface IChartSpec extends Omit<
  React.ComponentProps<typeof TimeChart>,
  'times' | 'unit' | 'format' | 'binary'
> {
  kind: ChartUnit;
}

/** The main-area dashboard: full-size charts of the chosen range and the kernels in it. */
export function DashboardView(props: IDashboardViewProps): JSX.Element {
  const { history, snapshot, trans } = props;
  const columns = history?.columns;
  const times = columns?.time ?? [];
  const kernels = history?.kernels ?? [];
  const marks: IChartMark[] = (history?.notices ?? []).map(notice => ({
    time: notice.time,
    label: trans.__(
      'OOM · %1',
      notice.path ? basename(notice.path) : trans.__('a process')
    )
  }));
  const units: {
    [kind in ChartUnit]: Pick<
      React.ComponentProps<typeof TimeChart>,
      'unit' | 'format' | 'binary'
    >;
  } = {
    cores: { unit: trans.__('cores'), format: formatCores },
    bytes: { unit: trans.__('bytes'), format: formatBytes, binary: 'bytes' },
    rate: { unit: trans.__('bytes/s'), format: formatRate, binary: 'rate' },
    percent: { unit: '%', format: formatPercent }
  };
  const chart = ({ kind, ...spec }: IChartSpec): JSX.Element => (
    <TimeChart key={spec.id} times={times} {...units[kind]} {...spec} />
  );
  const limit = (value: number | null, label: string): IChartSeries[] =>
    value === null
      ? []
      : [{ label, values: constant(times, value), color: LIMIT, dash: true }];
  /** A total's mean and its peak in each bucket. */
  const usedAndPeak = (column: string, label: string): IChartSeries[] => [
    { label, values: columns?.[column] ?? [], color: BRAND },
    {
      label: trans.__('Peak in bucket'),
      values: columns?.[`${column}_max`] ?? [],
      color: ACCENT
    }
  ];
  const noKernel = trans.__('No kernel ran in this range.');
  const specs: IChartSpec[] = [];

  if (columns && times.length) {
    const cpuLimit =
      latestOf(columns.cpu_limit_cores) ?? snapshot?.cpu.limit_cores ?? null;
    const cpuTop = cpuLimit ?? snapshot?.cpu.host_cores ?? null;
    const memoryLimit =
      latestOf(columns.memory_limit_bytes) ??
      snapshot?.memory.limit_bytes ??
      null;
    const withMemory = kernels.filter(k => k.columns.memory_bytes);
    const bands = stacked(withMemory, 'memory_bytes', times.length);
    const withCpu = kernels.filter(k => k.columns.cpu_cores);
    specs.push(
      {
        id: 'cpu',
        kind: 'cores',
        title: trans.__('CPU'),
        yMin: cpuTop,
        series: [
          ...usedAndPeak('cpu_cores', trans.__('CPU used')),
          ...(cpuLimit !== null
            ? limit(cpuLimit, trans.__('Limit'))
            : limit(cpuTop, trans.__("Limit (the machine's cores)")))
        ],
        figures: nowPeakLimit(
          trans,
          value => trans.__('%1 cores', formatCores(value)),
          latestOf(columns.cpu_cores),
          peakOf(columns.cpu_cores_max),
          cpuTop,
          cpuLimit === null ? trans.__('Machine') : undefined
        ),
        summary: trans.__(
          'Now %1 of %2 cores, peak %3 cores.',
          formatCores(latestOf(columns.cpu_cores)),
          formatCores(cpuTop),
          formatCores(peakOf(columns.cpu_cores_max))
        )
      },
      {
        id: 'memory',
        kind: 'bytes',
        title: trans.__('Memory'),
        yMin: memoryLimit,
        marks,
        series: [
          ...usedAndPeak('memory_bytes', trans.__('Memory used')),
          ...limit(memoryLimit, trans.__('Limit'))
        ],
        figures: nowPeakLimit(
          trans,
          value => formatBytesIn(value, memoryLimit),
          latestOf(columns.memory_bytes),
          peakOf(columns.memory_bytes_max),
          memoryLimit
        ),
        summary: trans.__(
          'Now %1 of %2, peak %3; %4 out-of-memory kills in the range.',
          formatBytes(latestOf(columns.memory_bytes)),
          formatBytes(memoryLimit),
          formatBytes(peakOf(columns.memory_bytes_max)),
          marks.length
        )
      },
      {
        id: 'kernel-memory',
        kind: 'bytes',
        title: trans.__('Memory per kernel (stacked)'),
        empty: withMemory.length ? null : noKernel,
        yMin: memoryLimit,
        marks,
        series: [
          // The top band first, so each lower one is drawn over it.
          ...withMemory
            .map((kernel, i) => ({
              label: kernelTitle(kernel),
              values: bands[i],
              legendValues: kernel.columns.memory_bytes,
              color: KERNEL_COLORS[i % KERNEL_COLORS.length],
              fill: true
            }))
            .reverse(),
          ...limit(memoryLimit, trans.__('Limit'))
        ],
        summary: withMemory.length
          ? withMemory
              .map(
                k => `${kernelTitle(k)}: ${formatBytes(k.peak_memory_bytes)}`
              )
              .join(', ')
          : noKernel
      },
      {
        id: 'kernel-cpu',
        kind: 'cores',
        title: trans.__('CPU per kernel'),
        empty: withCpu.length ? null : noKernel,
        yMin: cpuTop,
        series: [
          ...withCpu.map((kernel, i) => ({
            label: kernelTitle(kernel),
            values: kernel.columns.cpu_cores,
            color: KERNEL_COLORS[i % KERNEL_COLORS.length]
          })),
          ...limit(cpuLimit, trans.__('Limit'))
        ],
        summary: withCpu.length
          ? withCpu
              .map(k => `${kernelTitle(k)}: ${formatCores(k.peak_cpu_cores)}`)
              .join(', ')
          : noKernel
      }
    );
    for (const gpu of snapshot?.gpus ?? []) {
      const name = `gpu${gpu.index}`;
      specs.push(
        {
          id: `${name}-utilization`,
          kind: 'percent',
          title: trans.__('GPU %1 utilization · %2', gpu.index, gpu.name ?? ''),
          yMin: 100,
          series: [
            {
              label: trans.__('Utilization'),
              values: columns[`${name}_utilization_percent`] ?? [],
              color: BRAND
            },
            ...limit(100, trans.__('100 %'))
          ],
          figures: nowPeakLimit(
            trans,
            formatPercent,
            gpu.utilization_percent,
            peakOf(columns[`${name}_utilization_percent`])
          ),
          summary: trans.__('Now %1.', formatPercent(gpu.utilization_percent))
        },
        {
          id: `${name}-memory`,
          kind: 'bytes',
          title: trans.__('GPU %1 memory · %2', gpu.index, gpu.name ?? ''),
          yMin: gpu.memory_total_bytes,
          series: [
            {
              label: trans.__('GPU memory used'),
              values: columns[`${name}_memory_bytes`] ?? [],
              color: BRAND
            },
            ...limit(gpu.memory_total_bytes, trans.__('GPU memory'))
          ],
          figures: nowPeakLimit(
            trans,
            value => formatBytesIn(value, gpu.memory_total_bytes),
            gpu.memory_used_bytes,
            peakOf(columns[`${name}_memory_bytes`]),
            gpu.memory_total_bytes
          ),
          summary: trans.__(
            'Now %1 of %2.',
            formatBytes(gpu.memory_used_bytes),
            formatBytes(gpu.memory_total_bytes)
          )
        }
      );
    }
    const disk = snapshot?.disk[0];
    if (disk && columns.disk_used_bytes) {
      specs.push({
        id: 'disk',
        kind: 'bytes',
        title: trans.__('Disk · %1', disk.path),
        yMin: disk.total_bytes,
        series: [
          {
            label: trans.__('Disk used'),
            values: columns.disk_used_bytes,
            color: BRAND
          },
          ...limit(disk.total_bytes, trans.__('Quota or filesystem size'))
        ],
        figures: nowPeakLimit(
          trans,
          value => formatBytesIn(value, disk.total_bytes),
          disk.used_bytes,
          peakOf(columns.disk_used_bytes),
          disk.total_bytes,
          trans.__('Size')
        ),
        summary: trans.__(
          'Now %1 of %2.',
          formatBytes(disk.used_bytes),
          formatBytes(disk.total_bytes)
        )
      });
    }
    if (columns.network_rx_bytes_per_second) {
      specs.push({
        id: 'network',
        kind: 'rate',
        title: trans.__('Network'),
        series: [
          {
            label: trans.__('Received'),
            values: columns.network_rx_bytes_per_second,
            color: BRAND
          },
          {
            label: trans.__('Sent'),
            values: columns.network_tx_bytes_per_second ?? [],
            color: ACCENT
          }
        ],
        figures: [
          {
            key: 'received',
            label: trans.__('Received now'),
            value: formatRate(latestOf(columns.network_rx_bytes_per_second))
          },
          {
            key: 'sent',
            label: trans.__('Sent now'),
            value: formatRate(latestOf(columns.network_tx_bytes_per_second))
          },
          {
            key: 'peak',
            label: trans.__('Peak received'),
            value: formatRate(peakOf(columns.network_rx_bytes_per_second))
          }
        ],
        summary: trans.__(
          'Now %1 received, %2 sent.',
          formatRate(latestOf(columns.network_rx_bytes_per_second)),
          formatRate(latestOf(columns.network_tx_bytes_per_second))
        )
      });
    }
  }
  const charts = specs.map(chart);
  if (columns && times.length) {
    charts.push(costChart(props, times, columns.cost_total ?? []));
  }

  return (
    <div className="jp-UsageDashboard-content">
      <div className="jp-UsageDashboard-toolbar">
        <h1 className="jp-UsageDashboard-title">
          {trans.__('Usage dashboard')}
        </h1>
        <RangePicker
          range={props.range}
          onRange={props.onRange}
          trans={trans}
        />
      </div>
      <p className="jp-UsageDashboard-keys" id="jp-UsageDashboard-keys">
        {trans.__(
          'Drag across a chart to zoom, double-click to zoom out. On a focused chart: ← → move the cursor, + − zoom, Escape shows the whole range.'
        )}
      </p>
      {props.historyError && (
        <StateMessage kind="error">
          {trans.__('The history is not available: %1', props.historyError)}
        </StateMessage>
      )}
      {!history && !props.historyError && (
        <StateMessage kind="loading">
          {trans.__('Loading the history…')}
        </StateMessage>
      )}
      <div className="jp-UsageDashboard-charts">{charts}</div>
      {history && (
        <section
          className="jp-UsageDashboard-kernels"
          aria-label={trans.__('Kernels')}
        >
          <h2 className="jp-UsageDashboard-heading">
            {trans.__('Kernels over the last %1', props.range.label)}
          </h2>
          <KernelHistoryTable
            kernels={kernels}
            trans={trans}
            onOpen={props.onOpen}
          />
        </section>
      )}
    </div>
  );
}

/** Cost so far, and what it will be when the idle culler stops the server. */
function costChart(
  props: IDashboardViewProps,
  times: readonly (number | null)[],
  cost: readonly (number | null)[]
): JSX.Element {
  const { trans, session } = props;
  const currency = session?.cost.currency ?? props.currency;
  const format = (value: number) => formatMoney(value, currency);
  const projected = session?.projected;
  const allTimes = [...times];
  const spent = [...cost];
  const projection: (number | null)[] = times.map(() => null);
  const last = latestOf(cost) ?? session?.cost.total ?? null;
  const lastTime = times.length ? times[times.length - 1] : null;
  if (
    projected?.until_cull_seconds !== null &&
    projected?.until_cull_seconds !== undefined &&
    projected.total_at_cull !== null &&
    last !== null &&
    lastTime !== null
  ) {
    projection[projection.length - 1] = last;
    allTimes.push(lastTime + projected.until_cull_seconds);
    spent.push(null);
    projection.push(projected.total_at_cull);
  }
  const figures: IHeadlineFigure[] = [
    {
      key: 'so-far',
      label: trans.__('So far'),
      value: formatMoney(last, currency)
    }
  ];
  const perHour = session?.cost.per_hour;
  if (perHour !== null && perHour !== undefined) {
    figures.push({
      key: 'per-hour',
      label: trans.__('Per hour now'),
      value: formatMoney(perHour, currency)
    });
  }
  if (
    projected?.total_at_cull !== null &&
    projected?.total_at_cull !== undefined
  ) {
    figures.push({
      key: 'at-cull',
      label: trans.__("At the culler's stop"),
      value: formatMoney(projected.total_at_cull, currency)
    });
  }
  return (
    <TimeChart
      key="cost"
      id="cost"
      title={trans.__('Cost of this session')}
      figures={figures}
      unit={currency}
      times={allTimes}
      format={format}
      series={[
        {
          label: trans.__('Cost so far'),
          values: spent,
          color: BRAND,
          fill: true
        },
        {
          label: trans.__('Projected until the idle culler stops the server'),
          values: projection,
          color: MUTED,
          dash: true
        }
      ]}
      summary={
        projected?.total_at_cull !== null &&
        projected?.total_at_cull !== undefined
          ? trans.__(
              '%1 so far; %2 when the idle culler stops the server.',
              formatMoney(last, currency),
              formatMoney(projected.total_at_cull, currency)
            )
          : trans.__('%1 so far.', formatMoney(last, currency))
      }
    />
  );
}

/** The ranges as a radio group: Tab reaches it, arrow keys pick. */
function RangePicker(props: {
  range: IRange;
  onRange: (range: IRange) => void;
  trans: TranslationBundle;
}): JSX.Element {
  const buttons = React.useRef<(HTMLButtonElement | null)[]>([]);
  const index = RANGES.findIndex(range => range.key === props.range.key);
  const pick = (i: number) => {
    const next = (i + RANGES.length) % RANGES.length;
    props.onRange(RANGES[next]);
    buttons.current[next]?.focus();
  };
  return (
    <div
      className="jp-UsageDashboard-ranges"
      role="radiogroup"
      aria-label={props.trans.__('Time range')}
      onKeyDown={event => {
        if (event.key === 'ArrowRight' || event.key === 'ArrowDown') {
          event.preventDefault();
          pick(index + 1);
        } else if (event.key === 'ArrowLeft' || event.key === 'ArrowUp') {
          event.preventDefault();
          pick(index - 1);
        }
      }}
    >
      {RANGES.map((range, i) => (
        <button
          key={range.key}
          ref={node => {
            buttons.current[i] = node;
          }}
          type="button"
          role="radio"
          aria-checked={i === index}
          tabIndex={i === index ? 0 : -1}
          data-range={range.key}
          className={
            i === index
              ? 'jp-UsageDashboard-range jp-mod-active'
              : 'jp-UsageDashboard-range'
          }
          onClick={() => pick(i)}
        >
          {range.label}
        </button>
      ))}
    </div>
  );
}
