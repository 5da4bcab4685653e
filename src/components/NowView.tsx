import type { TranslationBundle } from '@jupyterlab/translation';
import * as React from 'react';

import {
  formatBytesIn,
  formatBytesOf,
  formatCores,
  formatPercent,
  formatRate,
  fraction
} from '../format';
import { IHistory, ISnapshot } from '../wire';
import { Meter } from './Meter';
import { Sparkline } from './Sparkline';
import { StateMessage } from './StateMessage';
import { formatMessage } from '../i18n/messages';

export interface INowViewProps {
  snapshot: ISnapshot | null;
  /** The last minutes, for the charts; no charts while null. */
  history?: IHistory | null;
  /** Minutes the charts span, for their accessible names. */
  chartMinutes?: number;
  error: string | null;
  trans: TranslationBundle;
  warnAt: number;
}

const BRAND = '--jp-brand-color1';
const WARN = '--jp-warn-color1';
const SECOND = '--jp-accent-color1';

/** Live usage of this server against its limits, each with a small chart. */
export function NowView(props: INowViewProps): JSX.Element {
  const { snapshot, error, trans, warnAt } = props;
  if (!snapshot) {
    return error ? (
      <StateMessage kind="error">
        {trans.__('Usage is not available: %1', error)}
      </StateMessage>
    ) : (
      <StateMessage kind="loading">{trans.__('Loading usage…')}</StateMessage>
    );
  }
  const columns = props.history?.columns;
  const minutes = props.chartMinutes ?? 10;
  const chart = (
    label: string,
    names: string[],
    max: number | null | undefined,
    warn: boolean,
    format: (value: number) => string,
    now: string
  ): JSX.Element | null => {
    if (!columns?.time || !names.every(name => columns[name])) {
      return null;
    }
    let peak: number | null = null;
    for (const name of names) {
      for (const value of columns[name]) {
        if (value !== null && (peak === null || value > peak)) {
          peak = value;
        }
      }
    }
    return (
      <Sparkline
        peakText={peak === null ? undefined : trans.__('peak %1', format(peak))}
        limitText={
          max === null || max === undefined
            ? undefined
            : trans.__('limit %1', format(max))
        }
        // The text alternative of the chart says the figure it ends on.
        label={trans.__(
          '%1 over the last %2 minutes, now %3',
          label,
          minutes,
          now
        )}
        times={columns.time}
        series={names.map((name, i) => ({
          values: columns[name],
          colorVar: warn ? WARN : i === 0 ? BRAND : SECOND
        }))}
        max={max}
      />
    );
  };
  const warns = (used: number | null, limit: number | null | undefined) => {
    const share = fraction(used, limit);
    return share !== null && share >= warnAt;
  };

  const cpu = snapshot.cpu;
  const memory = snapshot.memory;
  const cpuLimit = cpu.limit_cores ?? cpu.host_cores;
  const disk = snapshot.disk;
  const network = snapshot.network;
  const notices = snapshot.notices ?? [];
  return (
    <div className="jp-Usage-now">
      {error && (
        <StateMessage kind="error">
          {trans.__('Showing the last figures: %1', error)}
        </StateMessage>
      )}
      {notices.length > 0 && (
        <ul className="jp-Usage-notices" aria-label={trans.__('Notices')}>
          {[...notices].reverse().map(notice => (
            <li
              key={`${notice.time}-${notice.kernel_id}`}
              className="jp-Usage-notice"
            >
              {formatMessage(notice, trans)}
            </li>
          ))}
        </ul>
      )}
      <Meter
        id="cpu"
        label={trans.__('CPU')}
        value={trans.__(
          '%1 of %2 cores · %3',
          formatCores(cpu.cores),
          formatCores(cpuLimit),
          formatPercent(cpu.percent)
        )}
        used={cpu.cores}
        limit={cpuLimit}
        warnAt={warnAt}
      >
        {chart(
          trans.__('CPU'),
          ['cpu_cores'],
          cpuLimit,
          warns(cpu.cores, cpuLimit),
          value => trans.__('%1 cores', formatCores(value)),
          trans.__('%1 cores', formatCores(cpu.cores))
        )}
      </Meter>
      <Meter
        id="memory"
        label={trans.__('Memory')}
        value={formatBytesOf(memory.used_bytes, memory.limit_bytes)}
        used={memory.used_bytes}
        limit={memory.limit_bytes}
        warnAt={warnAt}
      >
        {chart(
          trans.__('Memory'),
          ['memory_bytes'],
          memory.limit_bytes,
          warns(memory.used_bytes, memory.limit_bytes),
          value => formatBytesIn(value, memory.limit_bytes),
          formatBytesOf(memory.used_bytes, memory.limit_bytes)
        )}
      </Meter>
      {snapshot.gpus.map(gpu => (
        <Meter
          key={`gpu-${gpu.index}`}
          id={`gpu-${gpu.index}`}
          label={trans.__('GPU %1 · %2', gpu.index, gpu.name ?? '')}
          value={trans.__(
            '%1 busy · %2',
            formatPercent(gpu.utilization_percent),
            formatBytesOf(gpu.memory_used_bytes, gpu.memory_total_bytes)
          )}
          used={gpu.memory_used_bytes}
          limit={gpu.memory_total_bytes}
          warnAt={warnAt}
        >
          {chart(
            trans.__('GPU %1 utilization', gpu.index),
            [`gpu${gpu.index}_utilization_percent`],
            100,
            false,
            formatPercent,
            formatPercent(gpu.utilization_percent)
          )}
        </Meter>
      ))}
      {disk.map((entry, i) => (
        <Meter
          key={`disk-${entry.path}`}
          id={i === 0 ? 'disk' : `disk-${i}`}
          label={trans.__('Disk · %1', entry.path)}
          value={formatBytesOf(entry.used_bytes, entry.total_bytes)}
          used={entry.used_bytes}
          limit={entry.total_bytes}
          warnAt={warnAt}
        >
          {i === 0 &&
            chart(
              trans.__('Disk'),
              ['disk_used_bytes'],
              entry.total_bytes,
              warns(entry.used_bytes, entry.total_bytes),
              value => formatBytesIn(value, entry.total_bytes),
              formatBytesOf(entry.used_bytes, entry.total_bytes)
            )}
        </Meter>
      ))}
      {network && (
        <Meter
          id="network"
          label={trans.__('Network')}
          value={trans.__(
            '↓ %1 · ↑ %2',
            formatRate(network.rx_bytes_per_second),
            formatRate(network.tx_bytes_per_second)
          )}
          used={null}
          limit={null}
          warnAt={warnAt}
        >
          {chart(
            trans.__('Network received and sent'),
            ['network_rx_bytes_per_second', 'network_tx_bytes_per_second'],
            null,
            false,
            formatRate,
            trans.__(
              '%1 received, %2 sent',
              formatRate(network?.rx_bytes_per_second),
              formatRate(network?.tx_bytes_per_second)
            )
          )}
        </Meter>
      )}
    </div>
  );
}
