import { fireEvent, render, screen, within } from '@testing-library/react';
import * as React from 'react';

import { KernelTable, nameParts, shownName } from '../components/KernelTable';
import { IKernelUsage } from '../wire';
import { GIB } from './fixtures';
import { trans } from './translator';

function kernel(
  id: string,
  path: string | null,
  cpu: number | null,
  memory: number | null
): IKernelUsage {
  return {
    id,
    name: 'python3',
    path,
    pid: 100,
    cpu_cores: cpu,
    memory_bytes: memory,
    gpu_memory_bytes: null,
    execution_state: 'idle'
  };
}

const KERNELS = [
  kernel('k1', 'work/analysis.ipynb', 0.1, 2 * GIB),
  kernel('k2', 'big.ipynb', 1.5, 0.5 * GIB),
  kernel('k3', 'notes/zeta.ipynb', 0.7, GIB)
];

function names(): string[] {
  const rows = screen.getAllByRole('row').slice(1);
  // The name as read out: drawn in two parts (cut in the middle), read whole.
  return rows.map(
    row =>
      within(row)
        .getByRole('rowheader')
        .querySelector('.jp-Usage-visuallyHidden')?.textContent ?? ''
  );
}

function renderTable(onOpen = jest.fn(), kernels = KERNELS) {
  render(
    <KernelTable
      kernels={kernels}
      error={null}
      showGpu={false}
      trans={trans}
      onOpen={onOpen}
    />
  );
  return onOpen;
}

describe('KernelTable', () => {
  it('lists kernels by notebook name, largest memory first', () => {
    renderTable();
    expect(names()).toEqual(['analysis.ipynb', 'zeta.ipynb', 'big.ipynb']);
    const memory = screen.getByRole('columnheader', { name: 'Memory' });
    expect(memory.getAttribute('aria-sort')).toBe('descending');
  });

  it('sorts by the header clicked, and reverses on a second click', () => {
    renderTable();
    fireEvent.click(screen.getByRole('button', { name: 'CPU cores' }));
    expect(names()).toEqual(['big.ipynb', 'zeta.ipynb', 'analysis.ipynb']);
    const cpu = screen.getByRole('columnheader', { name: /CPU cores/ });
    expect(cpu.getAttribute('aria-sort')).toBe('descending');
    expect(
      screen
        .getByRole('columnheader', { name: 'Memory' })
        .getAttribute('aria-sort')
    ).toBe('none');

    fireEvent.click(screen.getByRole('button', { name: /CPU cores/ }));
    expect(names()).toEqual(['analysis.ipynb', 'zeta.ipynb', 'big.ipynb']);
    expect(cpu.getAttribute('aria-sort')).toBe('ascending');

    fireEvent.click(screen.getByRole('button', { name: 'Notebook' }));
    expect(names()).toEqual(['analysis.ipynb', 'big.ipynb', 'zeta.ipynb']);
  });

  it('opens a notebook on click and from the keyboard', () => {
    const onOpen = renderTable();
    const row = screen.getByText('big.ipynb').closest('tr') as HTMLElement;
    expect(row.tabIndex).toBe(0);
    fireEvent.click(row);
    expect(onOpen).toHaveBeenLastCalledWith('big.ipynb');
    fireEvent.keyDown(screen.getByText('zeta.ipynb').closest('tr')!, {
      key: 'Enter'
    });
    expect(onOpen).toHaveBeenLastCalledWith('notes/zeta.ipynb');
    expect(onOpen).toHaveBeenCalledTimes(2);
  });

  it('does not offer to open a kernel without a file', () => {
    const onOpen = renderTable(jest.fn(), [kernel('abcdef123456', null, 0, 0)]);
    const row = screen.getByText('python3').closest('tr') as HTMLElement;
    expect(row.hasAttribute('tabindex')).toBe(false);
    fireEvent.click(row);
    expect(onOpen).not.toHaveBeenCalled();
  });

  it('shows notebook and kernel names that look like HTML as text', () => {
    const markup = '<img src=x onerror=alert(1)>';
    const { container } = render(
      <KernelTable
        kernels={[
          kernel('k1', `notes/${markup}.ipynb`, 0.1, GIB),
          { ...kernel('k2', null, 0.1, 0.5 * GIB), name: markup }
        ]}
        error={null}
        showGpu={false}
        trans={trans}
        onOpen={jest.fn()}
      />
    );
    expect(names()).toEqual([`${markup}.ipynb`, markup]);
    expect(container.querySelector('img')).toBeNull();
    // Serialized, the names are escaped text (an attribute value needs no escaping).
    expect(container.innerHTML).toContain(
      '>&lt;img src=x onerror=alert(1)&gt;.ipynb<'
    );
    const row = screen.getByText(`${markup}.ipynb`).closest('tr')!;
    expect(row.getAttribute('title')).toBe(`Open notes/${markup}.ipynb`);
  });

  it('shows GPU memory only when asked', () => {
    const { rerender } = render(
      <KernelTable
        kernels={KERNELS}
        error={null}
        showGpu={false}
        trans={trans}
        onOpen={jest.fn()}
      />
    );
    expect(screen.queryByRole('button', { name: 'GPU memory' })).toBeNull();
    rerender(
      <KernelTable
        kernels={KERNELS}
        error={null}
        showGpu={true}
        trans={trans}
        onOpen={jest.fn()}
      />
    );
    expect(screen.getByRole('button', { name: 'GPU memory' })).toBeTruthy();
  });

  it('says when nothing runs, while loading and on errors', () => {
    const { rerender } = render(
      <KernelTable
        kernels={[]}
        error={null}
        showGpu={false}
        trans={trans}
        onOpen={jest.fn()}
      />
    );
    expect(screen.getByRole('status').textContent).toBe(
      'No kernel is running.'
    );
    rerender(
      <KernelTable
        kernels={null}
        error={null}
        showGpu={false}
        trans={trans}
        onOpen={jest.fn()}
      />
    );
    expect(screen.getByRole('status').textContent).toBe('Loading kernels…');
    rerender(
      <KernelTable
        kernels={null}
        error="Forbidden"
        showGpu={false}
        trans={trans}
        onOpen={jest.fn()}
      />
    );
    expect(screen.getByRole('alert').textContent).toBe(
      'Kernels are not available: Forbidden'
    );
  });
});

describe('a kernel name in a narrow column', () => {
  it('is cut in the middle: its end is drawn apart and kept', () => {
    expect(nameParts('a-notebook-with-a-rather-long-name.ipynb')).toEqual([
      'a-notebook-with-a-rather-long-na',
      'me.ipynb'
    ]);
    expect(nameParts('ab.ipynb')).toEqual(['ab.i', 'pynb']);
    expect(nameParts('')).toEqual(['', '']);
    // Every notebook ends in .ipynb: it is not drawn, only read out.
    expect(shownName('analysis.ipynb')).toBe('analysis');
    expect(shownName('.ipynb')).toBe('.ipynb');
    expect(shownName('script.py')).toBe('script.py');
  });
});
