import { Signal } from '@lumino/signaling';

import { UsageNotifier, INotifierSettings, INotify } from '../notifications';
import { FRESH_SECONDS } from '../notifications/rules/oom';
import { IUsageModel } from '../tokens';
import { ISession, ISnapshot } from '../wire';
import { GIB, session, snapshot } from './fixtures';
import { trans } from './translator';

/** A model fed by hand: what the status bar's model would publish. */
class FakeModel {
  changed = new Signal<any, void>(this);
  snapshot: ISnapshot | null = null;
  session: ISession | null = null;
  watchers = 0;
  watch() {
    this.watchers++;
    return {
      isDisposed: false,
      dispose: () => {
        this.watchers--;
      }
    };
  }
  publish(next: Partial<ISnapshot>, nextSession?: Partial<ISession>) {
    this.snapshot = snapshot(next);
    if (nextSession) {
      this.session = session(nextSession);
    }
    this.changed.emit();
  }
}

function memory(fraction: number) {
  return {
    memory: {
      used_bytes: fraction * 4 * GIB,
      limit_bytes: 4 * GIB,
      guarantee_bytes: null,
      source: 'cgroup',
      limit_source: 'cgroup',
      oom_kills: 0
    }
  };
}

const kernels = [
  {
    id: 'k1',
    name: 'python3',
    path: 'work/analysis.ipynb',
    pid: 10,
    cpu_cores: 0.1,
    memory_bytes: 2.5 * GIB,
    gpu_memory_bytes: null,
    execution_state: 'idle'
  },
  {
    id: 'k2',
    name: 'python3',
    path: 'small.ipynb',
    pid: 11,
    cpu_cores: 0,
    memory_bytes: 0.5 * GIB,
    gpu_memory_bytes: null,
    execution_state: 'idle'
  }
];

const ALL_ON: INotifierSettings = {
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

function setup(settings: INotifierSettings = ALL_ON) {
  const model = new FakeModel();
  const shown: { id: string; message: string; type: string; actions: any[] }[] =
    [];
  const dismissed: string[] = [];
  const notify: INotify = {
    emit: (message, type, options) => {
      const id = `n${shown.length}`;
      shown.push({ id, message, type, actions: options.actions });
      return id;
    },
    update: () => {
      throw new Error('no rule of these tests counts down');
    },
    dismiss: id => dismissed.push(id)
  };
  const openUsage = jest.fn();
  const notifier = new UsageNotifier({
    model: model as unknown as IUsageModel,
    trans,
    settings,
    notify,
    openUsage
  });
  return { model, shown, dismissed, openUsage, notifier };
}

describe('UsageNotifier', () => {
  it('keeps the snapshot and session fresh while any kind is on', () => {
    const { model, notifier } = setup();
    expect(model.watchers).toBe(1);
    notifier.settings = {
      ...ALL_ON,
      notifications: {
        memory: false,
        disk: false,
        gpu: false,
        culler: false,
        oom: false,
        budget: false
      }
    };
    expect(model.watchers).toBe(0);
    notifier.settings = ALL_ON;
    expect(model.watchers).toBe(1);
    notifier.dispose();
    expect(model.watchers).toBe(0);
  });

  it('warns about memory once per episode, naming the largest kernels', () => {
    const { model, shown, dismissed } = setup();
    model.publish({ ...memory(0.5), kernels });
    expect(shown).toHaveLength(0);
    model.publish({ ...memory(0.92), kernels });
    expect(shown).toHaveLength(1);
    expect(shown[0].type).toBe('warning');
    expect(shown[0].message).toContain('3.7 / 4.0 GiB');
    expect(shown[0].message).toContain('Largest: analysis.ipynb, small.ipynb');
    expect(shown[0].message).toContain('larger profile');
    // JupyterLab shows at most 140 characters of a notification.
    expect(shown[0].message.length).toBeLessThanOrEqual(140);
    // Still high, or just below the threshold: no new notification (hysteresis).
    model.publish({ ...memory(0.95), kernels });
    model.publish({ ...memory(0.88), kernels });
    model.publish({ ...memory(0.91), kernels });
    expect(shown).toHaveLength(1);
    // Clearly below: the episode ends and its notification goes.
    model.publish({ ...memory(0.8), kernels });
    expect(dismissed).toEqual(['n0']);
    model.publish({ ...memory(0.93), kernels });
    expect(shown).toHaveLength(2);
  });

  it('follows warnFraction', () => {
    const { model, shown } = setup({ ...ALL_ON, warnFraction: 0.7 });
    model.publish(memory(0.75));
    expect(shown).toHaveLength(1);
  });

  it('offers Open Usage and silencing the kind for the session', () => {
    const { model, shown, openUsage, notifier } = setup();
    model.publish(memory(0.95));
    const [open, mute] = shown[0].actions;
    expect(open.label).toBe('Open Usage');
    open.callback();
    expect(openUsage).toHaveBeenCalled();
    mute.callback();
    expect([...notifier.muted]).toEqual(['memory']);
    model.publish(memory(0.5));
    model.publish(memory(0.95));
    expect(shown).toHaveLength(1);
  });

  it('stays quiet for a kind turned off in Settings', () => {
    const { model, shown } = setup({
      ...ALL_ON,
      notifications: { ...ALL_ON.notifications, memory: false }
    });
    model.publish(memory(0.99));
    expect(shown).toHaveLength(0);
  });

  it('warns when a disk is 95 % full, once per disk', () => {
    const { model, shown } = setup();
    const disk = (path: string, fraction: number) => ({
      path,
      used_bytes: fraction * 100 * GIB,
      total_bytes: 100 * GIB,
      free_bytes: (1 - fraction) * 100 * GIB,
      directory_bytes: null
    });
    model.publish({ disk: [disk('/home/me', 0.94), disk('/scratch', 0.5)] });
    expect(shown).toHaveLength(0);
    model.publish({ disk: [disk('/home/me', 0.96), disk('/scratch', 0.97)] });
    expect(shown.map(n => n.message)).toEqual([
      expect.stringContaining('/home/me'),
      expect.stringContaining('/scratch')
    ]);
  });

  it('warns about GPU memory at warnFraction', () => {
    const { model, shown } = setup();
    const gpu = (used: number) => ({
      index: 0,
      uuid: 'GPU-1',
      name: 'A100',
      utilization_percent: 90,
      memory_used_bytes: used * GIB,
      memory_total_bytes: 40 * GIB,
      process_memory_bytes: null,
      power_watts: null
    });
    model.publish({ gpus: [gpu(20)] });
    model.publish({ gpus: [gpu(38)] });
    expect(shown).toHaveLength(1);
    expect(shown[0].message).toContain('GPU 0 memory');
  });

  it('counts down the idle culler at 10 and 2 minutes, once each', () => {
    const { model, shown } = setup();
    const at = (seconds: number | null) =>
      model.publish(
        {},
        { projected: { until_cull_seconds: seconds, total_at_cull: null } }
      );
    at(null);
    at(1800);
    expect(shown).toHaveLength(0);
    at(590);
    expect(shown).toHaveLength(1);
    expect(shown[0].message).toContain('9 min 50 s');
    expect(shown[0].message).toContain('Save your work');
    at(300);
    expect(shown).toHaveLength(1);
    at(110);
    expect(shown).toHaveLength(2);
    at(60);
    expect(shown).toHaveLength(2);
    // Used again: the countdown starts over and may warn again.
    at(1800);
    at(500);
    expect(shown).toHaveLength(3);
  });

  it('names the notebook of an OOM kill from its code, once', () => {
    const { model, shown, dismissed } = setup();
    const notice = {
      time: 1_700_000_000,
      kind: 'oom',
      code: 'oom.kernel',
      params: {
        notebook: 'analysis.ipynb',
        used_bytes: 4 * GIB,
        limit_bytes: 4 * GIB
      },
      kernel_id: 'k1',
      path: 'analysis.ipynb',
      message: 'English from the server'
    };
    model.publish({ time: 1_700_000_001, notices: [notice] });
    model.publish({ time: 1_700_000_003, notices: [notice] });
    expect(shown).toHaveLength(1);
    expect(shown[0].type).toBe('error');
    expect(shown[0].message).toBe(
      'Your kernel in analysis.ipynb was stopped: the server ran out of memory at 4.0 / 4.0 GiB.'
    );
    expect(dismissed).toEqual([]);
  });

  it('does not tell again an OOM notice from before the page was loaded', () => {
    const { model, shown } = setup();
    const old = {
      time: 1_700_000_000 - FRESH_SECONDS - 1,
      kind: 'oom',
      kernel_id: null,
      path: null,
      message: 'A process of your server was stopped.'
    };
    model.publish({ notices: [old] });
    expect(shown).toHaveLength(0);
  });
});
