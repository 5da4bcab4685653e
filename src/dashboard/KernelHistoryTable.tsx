import type { TranslationBundle } from '@jupyterlab/translation';
import * as React from 'react';

import { StateMessage } from '../components/StateMessage';
import { formatBytes, formatCores } from '../format';
import { IKernelHistory } from '../wire';
import { KERNEL_COLORS, kernelTitle } from './kernels';

export interface IKernelHistoryTableProps {
  /** As the server orders them: largest peak memory first. */
  kernels: readonly IKernelHistory[];
  trans: TranslationBundle;
  onOpen: (path: string) => void;
}

/** Every kernel of the range with its notebook, peak and average CPU and memory. */
export function KernelHistoryTable(
  props: IKernelHistoryTableProps
): JSX.Element {
  const { kernels, trans } = props;
  if (!kernels.length) {
    return (
      <StateMessage kind="empty">
        {trans.__('No kernel ran in this range.')}
      </StateMessage>
    );
  }
  return (
    <div
      className="jp-UsageDashboard-tableScroll"
      tabIndex={0}
      role="region"
      aria-label={trans.__('Kernels table')}
    >
      <table className="jp-UsageDashboard-table">
        <caption className="jp-Usage-visuallyHidden">
          {trans.__('Kernels with their peak and average use over the range')}
        </caption>
        <thead>
          <tr>
            <th scope="col">{trans.__('Notebook')}</th>
            <th scope="col">{trans.__('Kernel')}</th>
            <th scope="col">{trans.__('State')}</th>
            <th scope="col" className="jp-Usage-numeric">
              {trans.__('Peak CPU (cores)')}
            </th>
            <th scope="col" className="jp-Usage-numeric">
              {trans.__('Avg CPU (cores)')}
            </th>
            <th scope="col" className="jp-Usage-numeric">
              {trans.__('Peak memory')}
            </th>
            <th scope="col" className="jp-Usage-numeric">
              {trans.__('Avg memory')}
            </th>
          </tr>
        </thead>
        <tbody>
          {kernels.map((kernel, i) => {
            const path =
              kernel.path && /\.[^/.]+$/.test(kernel.path) ? kernel.path : null;
            return (
              <tr key={kernel.id} data-kernel={kernel.id}>
                <th scope="row" className="jp-UsageDashboard-notebook">
                  <span
                    className="jp-UsageDashboard-swatch"
                    style={{
                      background: KERNEL_COLORS[i % KERNEL_COLORS.length]
                    }}
                    aria-hidden="true"
                  />
                  {path ? (
                    <button
                      type="button"
                      className="jp-Usage-linkButton"
                      title={trans.__('Open %1', path)}
                      onClick={() => props.onOpen(path)}
                    >
                      {kernelTitle(kernel)}
                    </button>
                  ) : (
                    <span title={kernel.path ?? undefined}>
                      {kernelTitle(kernel)}
                    </span>
                  )}
                </th>
                <td>{kernel.name ?? '–'}</td>
                <td>
                  {kernel.running ? trans.__('running') : trans.__('ended')}
                </td>
                <td className="jp-Usage-numeric">
                  {formatCores(kernel.peak_cpu_cores)}
                </td>
                <td className="jp-Usage-numeric">
                  {formatCores(kernel.mean_cpu_cores)}
                </td>
                <td className="jp-Usage-numeric">
                  {formatBytes(kernel.peak_memory_bytes)}
                </td>
                <td className="jp-Usage-numeric">
                  {formatBytes(kernel.mean_memory_bytes)}
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}
