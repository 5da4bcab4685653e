import type { TranslationBundle } from '@jupyterlab/translation';
import * as React from 'react';

import { StateMessage } from '../components/StateMessage';
import {
  basename,
  formatBytes,
  formatCores,
  formatMoney,
  formatPercent,
  formatRate
} from '../format';
import { IHistory, IKernelHistory, ISession, ISnapshot } from '../wire';
import { KernelHistoryTable } from './KernelHistoryTable';
import { KERNEL_COLORS, kernelTitle } from './kernels';
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

function peakOf(values: readonly (number | null)[] | undefined): number | null {
  let peak: number | null = null;
  for (const value of values ?? []) {
    if (value !== null && (peak === null || value > peak)) {
      peak = value;
    }
  }
  return peak;
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
  const charts: JSX.Element[] = [];

  if (columns && times.length) {
    const cpuLimit =
      latestOf(columns.cpu_limit_cores) ?? snapshot?.cpu.limit_cores ?? null;
    const cpuTop = cpuLimit ?? snapshot?.cpu.host_cores ?? null;
    const limitSeries = (
      value: number | null,
      label: string
    ): IChartSeries[] =>
      value === null
        ? []
        : [{ label, values: constant(times, value), color: LIMIT, dash: true }];
    charts.push(
      <TimeChart
        key="cpu"
        id="cpu"
        title={trans.__('CPU')}
        unit={trans.__('cores')}
        times={times}
        format={formatCores}
        yMin={cpuTop}
        series={[
          {
            label: trans.__('CPU used'),
            values: columns.cpu_cores ?? [],
            color: BRAND
          },
          {
            label: trans.__('Peak in bucket'),
            values: columns.cpu_cores_max ?? [],
            color: ACCENT
          },
          ...(cpuLimit !== null
            ? limitSeries(cpuLimit, trans.__('Limit'))
            : limitSeries(cpuTop, trans.__("Limit (the machine's cores)")))
        ]}
        summary={trans.__(
          'Now %1 of %2 cores, peak %3 cores.',
          formatCores(latestOf(columns.cpu_cores)),
          formatCores(cpuTop),
          formatCores(peakOf(columns.cpu_cores_max))
        )}
      />
    );
    const memoryLimit =
      latestOf(columns.memory_limit_bytes) ??
      snapshot?.memory.limit_bytes ??
      null;
    charts.push(
      <TimeChart
        key="memory"
        id="memory"
        title={trans.__('Memory')}
        unit={trans.__('bytes')}
        times={times}
        format={formatBytes}
        yMin={memoryLimit}
        marks={marks}
        series={[
          {
            label: trans.__('Memory used'),
            values: columns.memory_bytes ?? [],
            color: BRAND
          },
          {
            label: trans.__('Peak in bucket'),
            values: columns.memory_bytes_max ?? [],
            color: ACCENT
          },
          ...limitSeries(memoryLimit, trans.__('Limit'))
        ]}
        summary={trans.__(
          'Now %1 of %2, peak %3; %4 out-of-memory kills in the range.',
          formatBytes(latestOf(columns.memory_bytes)),
          formatBytes(memoryLimit),
          formatBytes(peakOf(columns.memory_bytes_max)),
          marks.length
        )}
      />
    );
    const withMemory = kernels.filter(k => k.columns.memory_bytes);
    const bands = stacked(withMemory, 'memory_bytes', times.length);
    charts.push(
      <TimeChart
        key="kernel-memory"
        id="kernel-memory"
        title={trans.__('Memory per kernel (stacked)')}
        empty={
          withMemory.length ? null : trans.__('No kernel ran in this range.')
        }
        unit={trans.__('bytes')}
        times={times}
        format={formatBytes}
        yMin={memoryLimit}
        marks={marks}
        series={[
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
          ...limitSeries(memoryLimit, trans.__('Limit'))
        ]}
        summary={
          withMemory.length
            ? withMemory
                .map(
                  k => `${kernelTitle(k)}: ${formatBytes(k.peak_memory_bytes)}`
                )
                .join(', ')
            : trans.__('No kernel ran in this range.')
        }
      />
    );
    const withCpu = kernels.filter(k => k.columns.cpu_cores);
    charts.push(
      <TimeChart
        key="kernel-cpu"
        id="kernel-cpu"
        title={trans.__('CPU per kernel')}
        empty={withCpu.length ? null : trans.__('No kernel ran in this range.')}
        unit={trans.__('cores')}
        times={times}
        format={formatCores}
        yMin={cpuTop}
        series={[
          ...withCpu.map((kernel, i) => ({
            label: kernelTitle(kernel),
            values: kernel.columns.cpu_cores,
            color: KERNEL_COLORS[i % KERNEL_COLORS.length]
          })),
          ...limitSeries(cpuLimit, trans.__('Limit'))
        ]}
        summary={
          withCpu.length
            ? withCpu
                .map(k => `${kernelTitle(k)}: ${formatCores(k.peak_cpu_cores)}`)
                .join(', ')
            : trans.__('No kernel ran in this range.')
        }
      />
    );
    for (const gpu of snapshot?.gpus ?? []) {
      const name = `gpu${gpu.index}`;
      charts.push(
        <TimeChart
          key={`${name}-utilization`}
          id={`${name}-utilization`}
          title={trans.__('GPU %1 utilization · %2', gpu.index, gpu.name ?? '')}
          unit="%"
          times={times}
          format={formatPercent}
          yMin={100}
          series={[
            {
              label: trans.__('Utilization'),
              values: columns[`${name}_utilization_percent`] ?? [],
              color: BRAND
            },
            ...limitSeries(100, trans.__('100 %'))
          ]}
          summary={trans.__('Now %1.', formatPercent(gpu.utilization_percent))}
        />,
        <TimeChart
          key={`${name}-memory`}
          id={`${name}-memory`}
          title={trans.__('GPU %1 memory · %2', gpu.index, gpu.name ?? '')}
          unit={trans.__('bytes')}
          times={times}
          format={formatBytes}
          yMin={gpu.memory_total_bytes}
          series={[
            {
              label: trans.__('GPU memory used'),
              values: columns[`${name}_memory_bytes`] ?? [],
              color: BRAND
            },
            ...limitSeries(gpu.memory_total_bytes, trans.__('GPU memory'))
          ]}
          summary={trans.__(
            'Now %1 of %2.',
            formatBytes(gpu.memory_used_bytes),
            formatBytes(gpu.memory_total_bytes)
          )}
        />
      );
    }
    const disk = snapshot?.disk[0];
    if (disk && columns.disk_used_bytes) {
      charts.push(
        <TimeChart
          key="disk"
          id="disk"
          title={trans.__('Disk · %1', disk.path)}
          unit={trans.__('bytes')}
          times={times}
          format={formatBytes}
          yMin={disk.total_bytes}
          series={[
            {
              label: trans.__('Disk used'),
              values: columns.disk_used_bytes,
              color: BRAND
            },
            ...limitSeries(
              disk.total_bytes,
              trans.__('Quota or filesystem size')
            )
          ]}
          summary={trans.__(
            'Now %1 of %2.',
            formatBytes(disk.used_bytes),
            formatBytes(disk.total_bytes)
          )}
        />
      );
    }
    if (columns.network_rx_bytes_per_second) {
      charts.push(
        <TimeChart
          key="network"
          id="network"
          title={trans.__('Network')}
          unit={trans.__('bytes/s')}
          times={times}
          format={formatRate}
          series={[
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
          ]}
          summary={trans.__(
            'Now %1 received, %2 sent.',
            formatRate(latestOf(columns.network_rx_bytes_per_second)),
            formatRate(latestOf(columns.network_tx_bytes_per_second))
          )}
        />
      );
    }
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
  return (
    <TimeChart
      key="cost"
      id="cost"
      title={trans.__('Cost of this session')}
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
