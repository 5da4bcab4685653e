import { Notification } from '@jupyterlab/apputils';

import { UsageModel } from '../model';
import { INotice } from '../wire';

/** Notices older than this at the first snapshot were told before a reload. */
const FRESH_SECONDS = 120;

/**
 * Tell the user about each new notice (a kernel stopped by an OOM kill) once, as
 * a JupyterLab notification, whether or not the panel is open.
 */
export function notifyNotices(model: UsageModel): void {
  const told = new Set<string>();
  let since: number | null = null;
  const key = (notice: INotice) => `${notice.time}|${notice.kernel_id}`;
  model.changed.connect(() => {
    const snapshot = model.snapshot;
    if (!snapshot) {
      return;
    }
    if (since === null) {
      since = snapshot.time - FRESH_SECONDS;
    }
    for (const notice of snapshot.notices ?? []) {
      if (notice.time < since || told.has(key(notice))) {
        continue;
      }
      told.add(key(notice));
      Notification.warning(notice.message, { autoClose: false });
    }
  });
}
