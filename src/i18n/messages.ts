import type { TranslationBundle } from '@jupyterlab/translation';

import {
  basename,
  formatBytes,
  formatBytesOf,
  formatDuration,
  formatMoney,
  formatPercent
} from '../format';

/**
 * What the server says in codes: a stable `code`, its `params`, and a plain English
 * `message` for API clients. The UI formats the code with `trans`, so the words can be
 * translated; a code it does not know falls back to the server's English message.
 */
export interface ICodedMessage {
  code?: string;
  params?: { [name: string]: unknown };
  message: string;
}

type Params = { [name: string]: unknown };
type Formatter = (trans: TranslationBundle, params: Params) => string;

const num = (value: unknown): number | null =>
  typeof value === 'number' && isFinite(value) ? value : null;
const text = (value: unknown): string =>
  typeof value === 'string' ? value : String(value ?? '');
const bytesAt = (params: Params): string =>
  num(params.limit_bytes) !== null
    ? formatBytesOf(num(params.used_bytes), num(params.limit_bytes))
    : formatBytes(num(params.used_bytes));
const cores = (value: unknown): string =>
  String(Math.round((num(value) ?? 0) * 10) / 10);
const ratio = (part: unknown, whole: unknown): string => {
  const p = num(part);
  const w = num(whole);
  return p !== null && w ? formatPercent((100 * p) / w) : '–';
};

// Each code once, with the English words the translation templates are made from.
const FORMATTERS: { [code: string]: Formatter } = {
  'error.unreachable': trans => trans.__('The server cannot be reached.'),
  'error.not_ready': trans =>
    trans.__('The first sample is not taken yet; try again in a second.'),
  'error.no_session': (trans, p) =>
    trans.__('There is no session %1.', text(p.session)),
  'error.bad_request': (trans, p) =>
    trans.__('The server refused the request: %1', text(p.message)),
  'error.http': (trans, p) =>
    trans.__('The server answered %1: %2', text(p.status), text(p.message)),
  'oom.kernel': (trans, p) =>
    trans.__(
      'Your kernel in %1 was stopped: the server ran out of memory at %2.',
      // The file name: a notification shows 140 characters, a path can take them all.
      basename(text(p.notebook)),
      bytesAt(p)
    ),
  'oom.process': (trans, p) =>
    trans.__(
      'A process of your server was stopped: the server ran out of memory at %1.',
      bytesAt(p)
    ),
  'advice.memory_near_limit': (trans, p) =>
    trans.__(
      'Your memory peaked at %1 of the %2 limit (%3): a larger server profile would keep your kernels from running out of memory.',
      formatBytes(num(p.peak_bytes)),
      formatBytes(num(p.limit_bytes)),
      ratio(p.peak_bytes, p.limit_bytes)
    ),
  'advice.cpu_at_limit': (trans, p) =>
    trans.__(
      'Your CPU use reached %1 of %2 cores: a profile with more CPU would run your code faster.',
      (num(p.peak_cores) ?? 0).toFixed(1),
      (num(p.limit_cores) ?? 0).toFixed(1)
    ),
  'advice.memory_oversized': (trans, p) =>
    trans.__(
      'Your memory peaked at %1 of %2: a %3 profile would have been enough; %4 was reserved and unused for %5.',
      formatBytes(num(p.peak_bytes)),
      formatBytes(num(p.limit_bytes)),
      formatBytes(num(p.suggested_bytes)),
      formatBytes(num(p.unused_bytes)),
      formatDuration(num(p.duration_seconds))
    ),
  'advice.memory_fits': (trans, p) =>
    trans.__(
      'Your memory peaked at %1 of the %2 limit (%3): this size fits, with room to spare.',
      formatBytes(num(p.peak_bytes)),
      formatBytes(num(p.limit_bytes)),
      ratio(p.peak_bytes, p.limit_bytes)
    ),
  'advice.memory_peak': (trans, p) =>
    trans.__(
      'Your memory peaked at %1: ask for at least %2 next time.',
      formatBytes(num(p.peak_bytes)),
      formatBytes(num(p.suggested_bytes))
    ),
  'advice.cpu_oversized': (trans, p) =>
    trans.__(
      'Your CPU use peaked at %1 of %2 cores: %3 cores would have been enough; %4 cores were reserved and unused for %5.',
      cores(p.peak_cores),
      cores(p.limit_cores),
      cores(p.suggested_cores),
      cores(p.unused_cores),
      formatDuration(num(p.duration_seconds))
    ),
  'advice.gpu_underused': (trans, p) => {
    const busy = formatPercent(100 * (num(p.utilization_fraction) ?? 0));
    return (num(p.gpu_count) ?? 1) > 1
      ? trans.__(
          'The GPUs were busy only %1 of the time: a CPU profile would cost less.',
          busy
        )
      : trans.__(
          'The GPU was busy only %1 of the time: a CPU profile would cost less.',
          busy
        );
  },
  'advice.mostly_idle': (trans, p) =>
    trans.__(
      'The server was idle %1 of the time at %2/h: stop it when you are done.',
      formatPercent(100 * (num(p.idle_fraction) ?? 0)),
      formatMoney(num(p.per_hour) ?? 0, text(p.currency))
    )
};

/** The message in the user's language, or the server's English for an unknown code. */
export function formatMessage(
  message: ICodedMessage,
  trans: TranslationBundle
): string {
  const format = message.code ? FORMATTERS[message.code] : undefined;
  return format ? format(trans, message.params ?? {}) : message.message;
}

/** Words for a failed request: by its code when it has one, else its message. */
export function describeError(
  error: unknown,
  trans: TranslationBundle
): string {
  if (error instanceof Error) {
    const coded = error as Error & Partial<ICodedMessage>;
    return typeof coded.code === 'string'
      ? formatMessage(
          { code: coded.code, params: coded.params, message: error.message },
          trans
        )
      : error.message;
  }
  return String(error);
}

/** Whether the UI has words of its own for `code`. */
export function knowsCode(code: string): boolean {
  return code in FORMATTERS;
}
