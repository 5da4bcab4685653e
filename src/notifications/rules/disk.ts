import { formatBytesOf } from '../../format';
import { INotificationRule, stateOf } from '../types';

/** A filesystem (or quota) this full warns, whatever warnFraction says. */
export const DISK_WARN_FRACTION = 0.95;

export const diskRule: INotificationRule = {
  kind: 'disk',
  read({ model, trans }) {
    return (model.snapshot?.disk ?? []).flatMap(disk => {
      if (!disk.total_bytes || disk.used_bytes === null) {
        return [];
      }
      return [
        {
          key: `disk:${disk.path}`,
          state: stateOf(
            disk.used_bytes / disk.total_bytes,
            DISK_WARN_FRACTION
          ),
          message: trans.__(
            'Disk almost full (%1): delete or move files before saving fails. %2',
            formatBytesOf(disk.used_bytes, disk.total_bytes),
            disk.path
          ),
          type: 'warning' as const
        }
      ];
    });
  }
};
