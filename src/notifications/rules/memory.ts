import { basename, formatBytes, formatBytesOf } from '../../format';
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
        trans.__(
          '%1 (%2)',
          kernel.path ? basename(kernel.path) : (kernel.name ?? kernel.id),
          formatBytes(kernel.memory_bytes)
        )
      );
    const at = formatBytesOf(memory.used_bytes, memory.limit_bytes);
    const message = largest.length
      ? trans.__(
          'Memory is at %1, close to the limit; the largest kernels: %2. Save your work, then restart or shut down a kernel you do not need, or pick a larger server profile.',
          at,
          largest.join(', ')
        )
      : trans.__(
          'Memory is at %1, close to the limit. Save your work, then restart or shut down a kernel you do not need, or pick a larger server profile.',
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
