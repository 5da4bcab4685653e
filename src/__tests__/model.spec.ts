import { UsageApiError } from '../api';
import { UsageModel } from '../model';
import { budget, history, session, sessionRecord, snapshot } from './fixtures';

jest.mock('../api', () => {
  class UsageApiError extends Error {
    constructor(
      message: string,
      readonly status: number
    ) {
      super(message);
    }
  }
  return { UsageApiError, requestUsage: jest.fn() };
});

type Answers = { [path: string]: () => unknown };

/** A fake REST client answering per path; counts the calls of each. */
function server(answers: Answers = {}) {
  let time = 1000;
  const defaults: Answers = {
    snapshot: () => snapshot({ time: (time += 2) }),
    config: () => ({
      version: '0',
      sample_interval_seconds: 1,
      sources: { gpu: { available: false }, disk: { available: true } }
    }),
    session: () => session(),
    sessions: () => ({ sessions: [sessionRecord('s1', 500, 1)] }),
    history: () => history([990, 994, 998])
  };
  const fetch = jest.fn(async (path: string, _query?: unknown) => {
    const answer = answers[path] ?? defaults[path];
    if (!answer) {
      throw new UsageApiError('Not found', 404);
    }
    return answer();
  });
  const calls = (path: string) =>
    fetch.mock.calls.filter(call => call[0] === path).length;
  return { fetch, calls };
}

function model(fetch: jest.Mock, slowEvery = 5, now?: () => number) {
  return new UsageModel({
    // Long enough that only explicit refreshes tick during a test.
    refreshSeconds: 1000,
    historySeconds: 600,
    slowEvery,
    now,
    fetch: fetch as any
  });
}

describe('UsageModel', () => {
  it('publishes a snapshot and signals the change', async () => {
    const { fetch } = server();
    const m = model(fetch);
    const changed = jest.fn();
    m.changed.connect(changed);
    const watch = m.watch(['snapshot']);
    await m.start();
    await m.refresh();
    expect(fetch).toHaveBeenCalledWith('snapshot');
    expect(m.snapshot?.cpu.cores).toBe(0.4);
    expect(m.error).toBeNull();
    expect(changed).toHaveBeenCalled();
    watch.dispose();
    m.dispose();
    expect(m.isDisposed).toBe(true);
  });

  it('keeps the last snapshot and a readable error when a refresh fails', async () => {
    let fail = false;
    const { fetch } = server({
      snapshot: () => {
        if (fail) {
          throw new UsageApiError('The server cannot be reached.', 0);
        }
        return snapshot();
      }
    });
    const m = model(fetch);
    m.watch(['snapshot']);
    await m.start();
    await m.refresh();
    fail = true;
    await m.refresh().catch(() => undefined);
    await new Promise(resolve => setTimeout(resolve, 10));
    expect(m.snapshot).not.toBeNull();
    expect(m.error).toBe('The server cannot be reached.');
    m.dispose();
  });

  it('fetches only what its watchers show, and config once', async () => {
    const { fetch, calls } = server();
    const m = model(fetch);
    const status = m.watch(['snapshot', 'session']);
    await m.start();
    await m.refresh();
    expect(calls('snapshot')).toBe(1);
    expect(calls('session')).toBe(1);
    expect(calls('history')).toBe(0);
    expect(calls('sessions')).toBe(0);
    expect(m.session?.cost.total).toBe(0.31);

    const panel = m.watch(['snapshot', 'history', 'sessions']);
    await m.refresh();
    expect(calls('history')).toBe(1);
    expect(calls('sessions')).toBe(1);
    expect(m.sessions).toHaveLength(1);
    expect(calls('config')).toBe(1);
    expect(m.hasSource('gpu')).toBe(false);
    expect(m.hasSource('disk')).toBe(true);
    expect(m.hasSource('unknown')).toBe(false);
    status.dispose();
    panel.dispose();
    m.dispose();
  });

  it('refreshes the session every few ticks, past sessions once', async () => {
    const { fetch, calls } = server();
    const m = model(fetch, 3, () => 0);
    m.watch();
    await m.start();
    for (let i = 0; i < 6; i++) {
      await m.refresh();
    }
    const snapshots = calls('snapshot');
    expect(snapshots).toBeGreaterThanOrEqual(6);
    // Slow ticks are every third one: about a third of the snapshots.
    expect(calls('session')).toBe(Math.ceil(snapshots / 3));
    // The clock stands still: the history window is fetched once.
    expect(calls('history')).toBe(1);
    expect(calls('sessions')).toBe(1);

    m.reloadSessions();
    await m.refresh();
    expect(calls('sessions')).toBe(2);
    m.dispose();
  });

  it('fetches the budgets on slow ticks only while they are watched', async () => {
    const { fetch, calls } = server({
      budget: () => ({ user: 'ada', budgets: [budget()], fetched_at: 1 })
    });
    const m = model(fetch, 3, () => 0);
    const snapshotOnly = m.watch(['snapshot']);
    await m.start();
    await m.refresh();
    expect(calls('budget')).toBe(0);
    const notifier = m.watch(['budget']);
    for (let i = 0; i < 6; i++) {
      await m.refresh();
    }
    expect(m.budget?.budgets[0].scope).toBe('group:students');
    expect(calls('budget')).toBeLessThanOrEqual(
      Math.ceil(calls('snapshot') / 3) + 1
    );
    expect(calls('budget')).toBeGreaterThanOrEqual(2);
    notifier.dispose();
    snapshotOnly.dispose();
    m.dispose();
  });

  it('fetches the whole history window once a minute', async () => {
    const { fetch, calls } = server();
    let now = 0;
    const m = model(fetch, 1, () => now);
    m.watch(['snapshot', 'history']);
    await m.start();
    for (; now < 59_000; now += 5_000) {
      await m.refresh();
    }
    expect(calls('history')).toBe(1);
    now = 60_000;
    await m.refresh();
    expect(calls('history')).toBe(2);
    m.dispose();
  });

  it('moves the history along with each snapshot', async () => {
    const { fetch } = server();
    const m = model(fetch, 100);
    m.watch(['snapshot', 'history']);
    await m.start();
    await m.refresh();
    await m.refresh();
    const times = m.history?.columns.time ?? [];
    expect(times.slice(0, 3)).toEqual([990, 994, 998]);
    expect(times.length).toBeGreaterThan(3);
    expect(times[times.length - 1]).toBe(m.snapshot?.time);
    expect(m.history?.columns.cpu_cores.at(-1)).toBe(0.4);
  });

  it('asks for a new window when the chart length changes', async () => {
    const { fetch } = server();
    const m = model(fetch, 100);
    m.watch(['snapshot', 'history']);
    await m.start();
    await m.refresh();
    m.historySeconds = 60;
    expect(m.history).toBeNull();
    await m.refresh();
    const query = fetch.mock.calls.filter(call => call[0] === 'history').at(-1);
    expect(query?.[1]).toEqual({
      since: expect.any(Number),
      step: 1
    });
    expect(m.history).not.toBeNull();
    m.dispose();
  });

  it('reports a failing part on its own and keeps polling', async () => {
    const { fetch } = server({
      session: () => {
        throw new UsageApiError('No session yet.', 503);
      }
    });
    const m = model(fetch);
    m.watch(['snapshot', 'session']);
    await m.start();
    await m.refresh();
    expect(m.errorOf('session')).toBe('No session yet.');
    expect(m.session).toBeNull();
    expect(m.error).toBeNull();
    expect(m.snapshot).not.toBeNull();
    m.dispose();
  });

  it('never asks more often than the server samples', async () => {
    const { fetch } = server({
      config: () => ({ version: '0', sample_interval_seconds: 5, sources: {} })
    });
    const m = new UsageModel({
      refreshSeconds: 1,
      historySeconds: 600,
      fetch: fetch as any
    });
    const poll = (m as any)._poll;
    expect(poll.frequency.interval).toBe(1000);
    m.watch(['snapshot']);
    await m.start();
    await m.refresh();
    expect(poll.frequency.interval).toBe(5000);
    m.refreshSeconds = 10;
    expect(poll.frequency.interval).toBe(10000);
    m.dispose();
  });

  it('stops signalling once disposed', async () => {
    const { fetch } = server();
    const m = model(fetch);
    const changed = jest.fn();
    m.changed.connect(changed);
    m.watch();
    await m.start();
    m.dispose();
    await new Promise(resolve => setTimeout(resolve, 10));
    const count = changed.mock.calls.length;
    await new Promise(resolve => setTimeout(resolve, 10));
    expect(changed.mock.calls.length).toBe(count);
    expect(m.isDisposed).toBe(true);
  });
});
