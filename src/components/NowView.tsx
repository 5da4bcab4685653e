import type { TranslationBundle } from '@jupyterlab/translation';
import * as React from 'react';

import {
  formatBytesOf,
  formatCores,
  formatPercent,
  formatRate
} from '../format';
import { ISnapshot } from '../tokens';

export interface INowViewProps {
  snapshot: ISnapshot | null;
  error: string | null;
  trans: TranslationBundle;
  warnAt: number;
}

import { Meter } from './Meter';

/** Live usage of this server against its limits. */
export function NowView(props: INowViewProps): JSX.Element {
  const { snapshot, error, trans, warnAt } = props;
  if (!snapshot) {
    return (
      <div className="jp-Usage-empty" role="status">
        {error
          ? trans.__('Usage is not available: %1', error)
          : trans.__('Loading usage…')}
      </div>
    );
  }
  const cpu = snapshot.cpu;
  const memory = snapshot.memory;
  const cpuLimit = cpu.limit_cores ?? cpu.host_cores;
  return (
    <div className="jp-Usage-now">
      {error && (
        <div className="jp-Usage-error" role="alert">
          {trans.__('Showing the last figures: %1', error)}
        </div>
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
      />
      <Meter
        id="memory"
        label={trans.__('Memory')}
        value={formatBytesOf(memory.used_bytes, memory.limit_bytes)}
        used={memory.used_bytes}
        limit={memory.limit_bytes}
        warnAt={warnAt}
      />
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
        />
      ))}
      {snapshot.disk.map(disk => (
        <Meter
          key={`disk-${disk.path}`}
          id="disk"
          label={trans.__('Disk · %1', disk.path)}
          value={formatBytesOf(disk.used_bytes, disk.total_bytes)}
          used={disk.used_bytes}
          limit={disk.total_bytes}
          warnAt={warnAt}
        />
      ))}
      {snapshot.network && (
        <Meter
          id="network"
          label={trans.__('Network')}
          value={trans.__(
            '↓ %1 · ↑ %2',
            formatRate(snapshot.network.rx_bytes_per_second),
            formatRate(snapshot.network.tx_bytes_per_second)
          )}
          used={null}
          limit={null}
          warnAt={warnAt}
        />
      )}
    </div>
  );
}
