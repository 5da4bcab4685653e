import { formatBytesOf } from '../../format';
import { INotificationRule, stateOf } from '../types';

export const gpuRule: INotificationRule = {
  kind: 'gpu',
  read({ model, warnFraction, trans }) {
    return (model.snapshot?.gpus ?? []).flatMap(gpu => {
      if (!gpu.memory_total_bytes || gpu.memory_used_bytes === null) {
        return [];
      }
      return [
        {
          key: `gpu:${gpu.uuid ?? gpu.index}`,
          state: stateOf(
            gpu.memory_used_bytes / gpu.memory_total_bytes,
            warnFraction
          ),
          message: trans.__(
            'GPU %1 memory %2, near its capacity: free tensors you no longer need or restart the kernel that holds them.',
            gpu.index,
            formatBytesOf(gpu.memory_used_bytes, gpu.memory_total_bytes)
          ),
          type: 'warning' as const
        }
      ];
    });
  }
};
