import type { TranslationBundle } from '@jupyterlab/translation';
import * as React from 'react';

import { basename, formatBytes, formatCores } from '../format';
import { IKernelUsage } from '../wire';
import { StateMessage } from './StateMessage';

export type KernelSortKey = 'name' | 'cpu' | 'memory' | 'gpu';

export interface IKernelSort {
  key: KernelSortKey;
  direction: 'ascending' | 'descending';
}

export interface IKernelTableProps {
  /** null while loading. */
  kernels: IKernelUsage[] | null;
  error: string | null;
  /** Whether to show the GPU memory column. */
  showGpu: boolean;
  trans: TranslationBundle;
  /** Open the kernel's notebook (or file). */
  onOpen: (path: string) => void;
  /** The order before the user picks one: by memory, largest first. */
  initialSort?: IKernelSort;
}

/** The label of a kernel: its notebook's name, else the kernel's name. */
export function kernelLabel(kernel: IKernelUsage): string {
  if (kernel.path) {
    return basename(kernel.path);
  }
  return kernel.name ?? kernel.id.slice(0, 8);
}

/**
 * A name in two parts, so that a narrow column cuts it in the middle and keeps its
 * end (`a-notebook-wi…analysis`): notebooks often differ only there.
 */
export function nameParts(name: string): [string, string] {
  const keep = Math.min(8, Math.floor(name.length / 2));
  return [name.slice(0, name.length - keep), name.slice(name.length - keep)];
}

/**
 * The name drawn in the narrow column: without `.ipynb`, which every notebook has
 * and the header already says (the full name is read out and in the tooltip).
 */
export function shownName(label: string): string {
  return label.length > 6 && label.endsWith('.ipynb')
    ? label.slice(0, -6)
    : label;
}

/** A kernel opens what its path names when that looks like a file. */
function openablePath(kernel: IKernelUsage): string | null {
  return kernel.path && /\.[^/.]+$/.test(kernel.path) ? kernel.path : null;
}

function sortValue(kernel: IKernelUsage, key: KernelSortKey): number | string {
  switch (key) {
    case 'name':
      return kernelLabel(kernel).toLocaleLowerCase();
    case 'cpu':
      return kernel.cpu_cores ?? -1;
    case 'memory':
      return kernel.memory_bytes ?? -1;
    case 'gpu':
      return kernel.gpu_memory_bytes ?? -1;
  }
}

export function sortKernels(
  kernels: readonly IKernelUsage[],
  sort: IKernelSort
): IKernelUsage[] {
  const sign = sort.direction === 'ascending' ? 1 : -1;
  return [...kernels].sort((a, b) => {
    const x = sortValue(a, sort.key);
    const y = sortValue(b, sort.key);
    const order =
      typeof x === 'string' && typeof y === 'string'
        ? x.localeCompare(y)
        : (x as number) - (y as number);
    return order * sign || a.id.localeCompare(b.id);
  });
}

/** What each kernel uses; click a header to sort, a row to open its notebook. */
export function KernelTable(props: IKernelTableProps): JSX.Element {
  const { kernels, trans } = props;
  const [sort, setSort] = React.useState<IKernelSort>(
    props.initialSort ?? { key: 'memory', direction: 'descending' }
  );
  if (kernels === null) {
    return props.error ? (
      <StateMessage kind="error">
        {trans.__('Kernels are not available: %1', props.error)}
      </StateMessage>
    ) : (
      <StateMessage kind="loading">{trans.__('Loading kernels…')}</StateMessage>
    );
  }
  if (kernels.length === 0) {
    return (
      <StateMessage kind="empty">
        {trans.__('No kernel is running.')}
      </StateMessage>
    );
  }

  // Short headers fit a 250 px panel; the full name is the button's name and tooltip.
  const columns: {
    key: KernelSortKey;
    label: string;
    short: string;
    numeric: boolean;
  }[] = [
    {
      key: 'name',
      label: trans.__('Notebook'),
      short: trans.__('Notebook'),
      numeric: false
    },
    {
      key: 'cpu',
      label: trans.__('CPU cores'),
      short: trans._p('column header, short for CPU cores', 'CPU'),
      numeric: true
    },
    {
      key: 'memory',
      label: trans.__('Memory'),
      short: trans._p('column header, short for Memory', 'Mem'),
      numeric: true
    }
  ];
  if (props.showGpu) {
    columns.push({
      key: 'gpu',
      label: trans.__('GPU memory'),
      short: trans._p('column header, short for GPU memory', 'GPU'),
      numeric: true
    });
  }
  const pick = (key: KernelSortKey) => {
    setSort(current =>
      current.key === key
        ? {
            key,
            direction:
              current.direction === 'ascending' ? 'descending' : 'ascending'
          }
        : { key, direction: key === 'name' ? 'ascending' : 'descending' }
    );
  };

  return (
    <table className="jp-Usage-kernels">
      <caption className="jp-Usage-visuallyHidden">
        {trans.__('Kernels by resource use')}
      </caption>
      <thead>
        <tr>
          {columns.map(column => (
            <th
              key={column.key}
              scope="col"
              aria-sort={sort.key === column.key ? sort.direction : 'none'}
              className={column.numeric ? 'jp-Usage-numeric' : undefined}
            >
              <button
                type="button"
                className="jp-Usage-sortButton"
                data-key={column.key}
                title={column.label}
                onClick={() => pick(column.key)}
              >
                <span className="jp-Usage-visuallyHidden">{column.label}</span>
                <span className="jp-Usage-sortLabel" aria-hidden="true">
                  {column.short}
                </span>
                <span className="jp-Usage-sortMark" aria-hidden="true">
                  {sort.key !== column.key
                    ? ''
                    : sort.direction === 'ascending'
                      ? ' ▲'
                      : ' ▼'}
                </span>
              </button>
            </th>
          ))}
        </tr>
      </thead>
      <tbody>
        {sortKernels(kernels, sort).map(kernel => {
          const path = openablePath(kernel);
          const open = () => path && props.onOpen(path);
          return (
            <tr
              key={kernel.id}
              data-kernel={kernel.id}
              className={
                path
                  ? 'jp-Usage-kernelRow jp-mod-openable'
                  : 'jp-Usage-kernelRow'
              }
              tabIndex={path ? 0 : undefined}
              title={path ? trans.__('Open %1', path) : undefined}
              onClick={open}
              onKeyDown={event => {
                if (event.key === 'Enter' || event.key === ' ') {
                  event.preventDefault();
                  open();
                }
              }}
            >
              <th
                scope="row"
                className="jp-Usage-kernelName"
                title={kernel.path ?? kernelLabel(kernel)}
              >
                <div className="jp-Usage-kernelNameBox">
                  <span className="jp-Usage-kernelLabel">
                    {/* Read whole; drawn in two parts. */}
                    <span className="jp-Usage-visuallyHidden">
                      {kernelLabel(kernel)}
                    </span>
                    <span
                      className="jp-Usage-kernelLabelStart"
                      aria-hidden="true"
                    >
                      {nameParts(shownName(kernelLabel(kernel)))[0]}
                    </span>
                    <span
                      className="jp-Usage-kernelLabelEnd"
                      aria-hidden="true"
                    >
                      {nameParts(shownName(kernelLabel(kernel)))[1]}
                    </span>
                  </span>
                  {kernel.execution_state === 'busy' && (
                    // A dot beside the name, not a word that takes its room.
                    <span className="jp-Usage-busy" title={trans.__('busy')}>
                      <span className="jp-Usage-visuallyHidden">
                        {trans.__('busy')}
                      </span>
                    </span>
                  )}
                </div>
              </th>
              <td className="jp-Usage-numeric">
                {formatCores(kernel.cpu_cores)}
              </td>
              <td className="jp-Usage-numeric">
                {formatBytes(kernel.memory_bytes)}
              </td>
              {props.showGpu && (
                <td className="jp-Usage-numeric">
                  {formatBytes(kernel.gpu_memory_bytes)}
                </td>
              )}
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}
