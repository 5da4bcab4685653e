import type { TranslationBundle } from '@jupyterlab/translation';

import { describeError, formatMessage } from '../i18n/messages';
import { GIB } from './fixtures';
import { trans } from './translator';

describe('formatMessage', () => {
  it('says a coded message through trans, not the server English', () => {
    const seen: string[] = [];
    const recording = {
      ...trans,
      __: (text: string, ...args: unknown[]) => {
        seen.push(text);
        return (trans.__ as any)(text, ...args);
      }
    } as unknown as TranslationBundle;
    const text = formatMessage(
      {
        code: 'oom.kernel',
        params: { notebook: 'a.ipynb', used_bytes: GIB, limit_bytes: 2 * GIB },
        message: 'server English'
      },
      recording
    );
    expect(text).toBe(
      'Your kernel in a.ipynb was stopped: the server ran out of memory at 1.0 / 2.0 GiB.'
    );
    expect(seen).toEqual([
      'Your kernel in %1 was stopped: the server ran out of memory at %2.'
    ]);
  });

  it('formats every advice code', () => {
    const cases: [string, { [name: string]: unknown }, string][] = [
      [
        'advice.memory_near_limit',
        { peak_bytes: 3.8 * GIB, limit_bytes: 4 * GIB },
        '95 %'
      ],
      [
        'advice.cpu_at_limit',
        { peak_cores: 1.96, limit_cores: 2 },
        '2.0 of 2.0 cores'
      ],
      [
        'advice.memory_oversized',
        {
          peak_bytes: 0.7 * GIB,
          limit_bytes: 4 * GIB,
          suggested_bytes: GIB,
          unused_bytes: 3.3 * GIB,
          duration_seconds: 7200
        },
        'a 1.0 GiB profile would have been enough; 3.3 GiB was reserved and unused for 2 h 0 min'
      ],
      [
        'advice.memory_fits',
        { peak_bytes: 4.8 * GIB, limit_bytes: 8 * GIB },
        '(60 %): this size fits'
      ],
      [
        'advice.memory_peak',
        { peak_bytes: 1.1 * GIB, suggested_bytes: 2 * GIB },
        'ask for at least 2.0 GiB'
      ],
      [
        'advice.cpu_oversized',
        {
          peak_cores: 0.3,
          limit_cores: 2,
          suggested_cores: 0.5,
          unused_cores: 1.7,
          duration_seconds: 7200
        },
        'peaked at 0.3 of 2 cores: 0.5 cores would have been enough; 1.7 cores'
      ],
      [
        'advice.gpu_underused',
        { gpu_count: 2, utilization_fraction: 0.01 },
        'GPUs were'
      ],
      [
        'advice.mostly_idle',
        { idle_fraction: 0.75, per_hour: 0.42, currency: 'USD' },
        '75 %'
      ]
    ];
    for (const [code, params, part] of cases) {
      expect(formatMessage({ code, params, message: 'x' }, trans)).toContain(
        part
      );
    }
  });

  it('falls back on the message for an unknown or missing code', () => {
    expect(formatMessage({ code: 'new.thing', message: 'As is.' }, trans)).toBe(
      'As is.'
    );
    expect(formatMessage({ message: 'Old notice.' }, trans)).toBe(
      'Old notice.'
    );
  });
});

describe('describeError', () => {
  class CodedError extends Error {
    constructor(
      message: string,
      readonly code: string,
      readonly params: { [name: string]: unknown }
    ) {
      super(message);
    }
  }

  it('says a coded error in the user language', () => {
    expect(
      describeError(new CodedError('English', 'error.unreachable', {}), trans)
    ).toBe('The server cannot be reached.');
    expect(
      describeError(
        new CodedError('x', 'error.no_session', { session: 's1' }),
        trans
      )
    ).toBe('There is no session s1.');
    expect(
      describeError(
        new CodedError('x', 'error.http', {
          status: 502,
          message: 'Bad Gateway'
        }),
        trans
      )
    ).toBe('The server answered 502: Bad Gateway');
  });

  it('keeps the message of an error without a code', () => {
    expect(describeError(new Error('plain'), trans)).toBe('plain');
    expect(describeError('text', trans)).toBe('text');
  });
});
