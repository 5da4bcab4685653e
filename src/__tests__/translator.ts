import type { TranslationBundle } from '@jupyterlab/translation';

/** The null translation bundle: `%1`-style placeholders filled in order. */
export const trans = {
  __: (text: string, ...args: unknown[]) =>
    args.reduce<string>(
      (out, arg, i) => out.replace(`%${i + 1}`, String(arg)),
      text
    ),
  _n: (singular: string, plural: string, n: number, ...args: unknown[]) =>
    (n === 1 ? singular : plural).replace('%1', String(n)),
  _p: (_context: string, text: string) => text
} as unknown as TranslationBundle;
