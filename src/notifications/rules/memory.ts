import { basename, formatBytesOf } from '../../format';
import { INotificationRule, stateOf } from '../types';

/** How many of the largest kernels the warning names. */
const NAMED_KERNELS = 2;

/** Memory at `warnFraction` of the limit: name the largest kernels and the way out. */
export const memoryRule: INotificationRule = {
  kind: 'memory',
  read({ model, warnFraction, trans }) {
    const memory = model.snapshot?.memory;
    if (!memory || !memory.limit_bytes || memory.used_bytes === null) {
      return [];
    }
    const largest = [...(model.snapshot?.kernels ?? [])]
      .filter(kernel => (kernel.memory_bytes ?? 0) > 0)
      .sort((a, b) => (b.memory_bytes ?? 0) - (a.memory_bytes ?? 0))
      .slice(0, NAMED_KERNELS)
      .map(kernel =>
        kernel.path ? basename(kernel.path) : (kernel.name ?? kernel.id)
      );
    const at = formatBytesOf(memory.used_bytes, memory.limit_bytes);
    // JupyterLab cuts a notification at 140 characters: the way out comes first.
    const message = largest.length
      ? trans.__(
          'Memory near its limit (%1): save, restart a kernel or pick a larger profile. Largest: %2',
          at,
          largest.join(', ')
        )
      : trans.__(
          'Memory near its limit (%1): save, restart a kernel or pick a larger profile.',
          at
        );
    return [
      {
        key: 'memory',
        state: stateOf(memory.used_bytes / memory.limit_bytes, warnFraction),
        message,
        type: 'warning'
      }
    ];
  }
};
