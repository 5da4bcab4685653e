import { readSettings } from '../settings';

const DEFAULTS = {
  refreshSeconds: 3,
  chartMinutes: 5,
  warnFraction: 0.8,
  statusBar: false,
  sections: { now: true, kernels: true, session: false, history: true },
  notifications: {
    memory: true,
    disk: true,
    gpu: false,
    culler: true,
    oom: true,
    budget: true
  }
};

describe('readSettings', () => {
  it('takes the values that have the right type', () => {
    const settings = readSettings(
      {
        refreshSeconds: 10,
        warnFraction: 0.75,
        statusBar: true,
        sections: { history: false },
        notifications: { memory: false, gpu: 'yes', budget: false }
      },
      DEFAULTS
    );
    expect(settings).toEqual({
      refreshSeconds: 10,
      chartMinutes: 5,
      warnFraction: 0.75,
      statusBar: true,
      sections: { now: true, kernels: true, session: false, history: false },
      notifications: {
        memory: false,
        disk: true,
        gpu: false,
        culler: true,
        oom: true,
        budget: false
      }
    });
  });

  it('falls back on the defaults for anything else', () => {
    expect(
      readSettings(
        { refreshSeconds: 'fast', chartMinutes: NaN, sections: null },
        DEFAULTS
      )
    ).toEqual(DEFAULTS);
  });
});
