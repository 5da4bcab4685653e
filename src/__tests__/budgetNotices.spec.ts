import { Signal } from '@lumino/signaling';

import {
  budgetReadings,
  INotifierSettings,
  makeBudgetRule,
  UsageNotifier
} from '../notifications';
import { IUsageModel } from '../tokens';
import { IBudget, IBudgets } from '../wire';
import { budget } from './fixtures';
import { trans } from './translator';

const NOW = 1_790_000_000 + 86400;

/** A model whose budgets the test sets, and which counts its watchers. */
function fakeModel() {
  const changed = new Signal<IUsageModel, void>({} as IUsageModel);
  const state: { budget: IBudgets | null; watching: number } = {
    budget: null,
    watching: 0
  };
  const model = {
    changed,
    get budget() {
      return state.budget;
    },
    watch: (parts: string[]) => {
      expect(parts).toEqual(['budget']);
      state.watching++;
      return {
        isDisposed: false,
        dispose: () => {
          state.watching--;
        }
      };
    }
  } as unknown as IUsageModel;
  const show = (...budgets: IBudget[]) => {
    state.budget = { user: 'ada', budgets, fetched_at: NOW };
    changed.emit();
  };
  return { model, show, state };
}

function fakeNotify() {
  let next = 0;
  const shown = new Map<string, { message: string; type: string }>();
  const emitted: { message: string; type: string }[] = [];
  return {
    shown,
    emitted,
    api: {
      emit: jest.fn((message: string, type: string) => {
        const id = `n${next++}`;
        shown.set(id, { message, type });
        emitted.push({ message, type });
        return id;
      }),
      update: jest.fn((id: string, message: string, type: string) => {
        shown.set(id, { message, type });
      }),
      dismiss: jest.fn((id: string) => {
        shown.delete(id);
      })
    }
  };
}

const SETTINGS: INotifierSettings = {
  warnFraction: 0.9,
  notifications: {
    memory: true,
    disk: true,
    gpu: true,
    culler: true,
    oom: true,
    budget: true
  }
};

/** The notifier with the budget rule alone, on a clock the test moves. */
function setUp(settings: INotifierSettings = SETTINGS) {
  const m = fakeModel();
  const n = fakeNotify();
  let now = NOW;
  const notifier = new UsageNotifier({
    model: m.model,
    trans,
    settings,
    notify: n.api as any,
    openUsage: jest.fn(),
    rules: [makeBudgetRule(() => now)]
  });
  return {
    ...m,
    ...n,
    notifier,
    tick: (seconds: number) => {
      now += seconds;
    }
  };
}

const at = (used: number, overrides: Partial<IBudget> = {}) =>
  budget({ used, remaining: Math.max(0, 20 - used), ...overrides });

describe('budget notices', () => {
  it('says nothing below 80 %', () => {
    const t = setUp();
    t.show(at(15.9));
    expect(t.emitted).toEqual([]);
  });

  it('warns once at 80 %, however often the figures come', () => {
    const t = setUp();
    t.show(at(16));
    t.show(at(16.5));
    t.show(at(17));
    expect(t.emitted).toEqual([
      {
        message:
          'You have used 80 % of the budget of group students (16.00 of 20.00 EUR this month).',
        type: 'warning'
      }
    ]);
  });

  it('warns again only after the use fell clearly below, or in a new period', () => {
    const t = setUp();
    t.show(at(16));
    t.show(at(15.5)); // within the hysteresis: the same episode
    t.show(at(16));
    expect(t.emitted).toHaveLength(1);
    t.show(at(14)); // 70 %: the episode is over and its notice goes
    expect(t.shown.size).toBe(0);
    t.show(at(16));
    expect(t.emitted).toHaveLength(2);
    t.show(at(16, { starts_at: NOW, used: 16 })); // next month, at 80 % again
    expect(t.emitted).toHaveLength(3);
  });

  it('tells a spent budget once, and not 80 % as well', () => {
    const t = setUp();
    t.show(at(21, { exhausted: true }));
    t.show(at(22, { exhausted: true }));
    expect(t.emitted).toEqual([
      {
        message:
          'You have spent the budget of group students (21.00 of 20.00 EUR this month). This server keeps running, but no new one starts until the budget resets.',
        type: 'error'
      }
    ]);
  });

  it('warns at 80 % and then at 100 %', () => {
    const t = setUp();
    t.show(at(17));
    t.show(at(20, { exhausted: true }));
    expect(t.emitted.map(e => e.type)).toEqual(['warning', 'error']);
  });

  it('counts down to the stop in one notification that says to save', () => {
    const t = setUp();
    const stopping = at(20.5, {
      exhausted: true,
      enforcement: 'stop',
      stop_at: NOW + 300
    });
    t.show(stopping);
    expect(t.emitted).toEqual([
      {
        message:
          'Budget spent: the hub stops this server in 5 min 00 s. Save your work now.',
        type: 'error'
      }
    ]);
    t.tick(61);
    t.show(stopping);
    expect(t.emitted).toHaveLength(1);
    expect([...t.shown.values()][0].message).toBe(
      'Budget spent: the hub stops this server in 3 min 59 s. Save your work now.'
    );
    // The admin raised the limit: the stop is off, and so is the countdown.
    t.show(at(20.5, { limit: 40, remaining: 19.5 }));
    expect(t.shown.size).toBe(0);
  });

  it('keeps the budgets fresh with the panel closed, until disposed', () => {
    const t = setUp();
    expect(t.state.watching).toBe(1);
    t.notifier.dispose();
    expect(t.state.watching).toBe(0);
    t.show(at(19));
    expect(t.emitted).toEqual([]);
  });

  it('ends the episodes of a budget no longer listed', () => {
    const t = setUp();
    t.show(at(17));
    expect(t.shown.size).toBe(1);
    t.show(at(17, { scope: 'user:ada' })); // the group's budget went away
    expect(t.api.dismiss).toHaveBeenCalledTimes(1);
    expect([...t.shown.values()].map(s => s.message)).toEqual([
      expect.stringContaining('your own budget')
    ]);
  });

  it('stays quiet, and watches nothing, with budgets off in Settings', () => {
    const t = setUp({
      ...SETTINGS,
      notifications: { ...SETTINGS.notifications, budget: false }
    });
    expect(t.state.watching).toBe(0);
    t.show(at(21, { exhausted: true }));
    expect(t.emitted).toEqual([]);
    t.notifier.settings = SETTINGS;
    expect(t.state.watching).toBe(1);
    t.show(at(21, { exhausted: true }));
    expect(t.emitted).toHaveLength(1);
  });

  it('offers Open Usage and silencing budget notices for the session', () => {
    const t = setUp();
    t.show(at(17));
    const actions = (t.api.emit.mock.calls[0] as any[])[2].actions;
    expect(actions.map((a: any) => a.label)).toEqual([
      'Open Usage',
      'Not again this session'
    ]);
    actions[1].callback();
    expect(t.notifier.muted.has('budget')).toBe(true);
    // Silenced: nothing more is told, and the budgets are no longer kept fresh.
    expect(t.state.watching).toBe(0);
    t.show(at(21, { exhausted: true }));
    expect(t.emitted).toHaveLength(1);
  });

  it('reads each budget on its own', () => {
    const readings = budgetReadings(
      [at(17), at(3, { scope: 'user:ada' })],
      trans,
      NOW,
      'en-US'
    );
    const firing = readings.filter(r => r.state === 'firing');
    expect(firing.map(r => r.key)).toEqual([
      expect.stringContaining('budget-80:group:students')
    ]);
  });
});
