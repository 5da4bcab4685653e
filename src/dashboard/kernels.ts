import { basename } from '../format';

/** Colours for kernels, distinct on light and dark themes alike. */
export const KERNEL_COLORS = [
  '#4e79a7',
  '#f28e2b',
  '#59a14f',
  '#e15759',
  '#b07aa1',
  '#76b7b2',
  '#edc948',
  '#ff9da7',
  '#9c755f',
  '#bab0ac'
];

/** A kernel's label: its notebook's name, else its kernel name. */
export function kernelTitle(kernel: {
  path: string | null;
  name: string | null;
  id: string;
}): string {
  return kernel.path
    ? basename(kernel.path)
    : (kernel.name ?? kernel.id.slice(0, 8));
}
