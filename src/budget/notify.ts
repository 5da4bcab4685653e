import { Notification } from '@jupyterlab/apputils';

import { IBudgetNotify } from './notices';

/** The budget notifier's view of JupyterLab's Notification API. */
export function notificationApi(): IBudgetNotify {
  return {
    emit: (message, type, options) => Notification.emit(message, type, options),
    update: (id, message, type) => {
      Notification.update({ id, message, type, autoClose: false });
    },
    dismiss: id => Notification.dismiss(id)
  };
}
