import { formatMessage } from '../../i18n/messages';
import { INotificationRule } from '../types';

/** Notices older than this at the first snapshot were told before a reload. */
export const FRESH_SECONDS = 120;

/**
 * A kernel (or another process) stopped by an OOM kill: one episode per notice, told
 * once. The notices stay in the snapshot for an hour, so each stays `firing`; one
 * from before this page was loaded (older than FRESH_SECONDS then) is not told again.
 */
export function makeOomRule(): INotificationRule {
  let since: number | null = null;
  return {
    kind: 'oom',
    read({ model, trans }) {
      const snapshot = model.snapshot;
      if (!snapshot) {
        return [];
      }
      if (since === null) {
        since = snapshot.time - FRESH_SECONDS;
      }
      const from = since;
      return (snapshot.notices ?? [])
        .filter(notice => notice.kind === 'oom' && notice.time >= from)
        .map(notice => ({
          key: `oom:${notice.time}|${notice.kernel_id}`,
          state: 'firing' as const,
          message: formatMessage(notice, trans),
          type: 'error' as const
        }));
    }
  };
}
