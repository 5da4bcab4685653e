import type { TranslationBundle } from '@jupyterlab/translation';
import * as React from 'react';

import { IConfigError } from '../wire';

export interface IConfigErrorsProps {
  /** From `/config`; nothing is shown when empty or not fetched yet. */
  errors: IConfigError[] | null | undefined;
  trans: TranslationBundle;
}

/**
 * One line naming the setting that is not in force, as the admin wrote it
 * (`CostModel.cpu_core_hour`): without it a refused rate reads as a free server.
 * Every message is in the tooltip, and read out by screen readers.
 */
export function ConfigErrors(props: IConfigErrorsProps): JSX.Element | null {
  const { errors, trans } = props;
  if (!errors || errors.length === 0) {
    return null;
  }
  const first = errors[0];
  const what =
    first.kind === 'ignored'
      ? trans.__('%1 in %2 is ignored', first.trait, fileName(first.source))
      : trans.__('%1 = %2 refused, default used', first.trait, first.value);
  const line =
    errors.length === 1
      ? trans.__('Config error: %1', what)
      : trans.__('Config error: %1 (and %2 more)', what, errors.length - 1);
  const details = errors.map(error => error.message).join('\n');
  return (
    <div
      className="jp-Usage-configErrors"
      data-key="config-errors"
      role="alert"
      title={details}
    >
      {line}
      <span className="jp-Usage-visuallyHidden"> {details}</span>
    </div>
  );
}

function fileName(path: string | null | undefined): string {
  if (!path) {
    return 'jupyter_server_config.d';
  }
  const parts = path.split('/');
  return parts.slice(-2).join('/');
}
