import { UsageModel } from '../model';
import { UsageApiError } from '../api';
import { snapshot } from './NowView.spec';

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

describe('UsageModel', () => {
  it('publishes a snapshot and signals the change', async () => {
    const fetch = jest.fn().mockResolvedValue(snapshot());
    const model = new UsageModel({ fetch: fetch as any });
    const changed = jest.fn();
    model.changed.connect(changed);
    const watch = model.watch();
    await model.start();
    await model.refresh();
    expect(fetch).toHaveBeenCalledWith('snapshot');
    expect(model.snapshot?.cpu.cores).toBe(0.4);
    expect(model.error).toBeNull();
    expect(changed).toHaveBeenCalled();
    watch.dispose();
    model.dispose();
    expect(model.isDisposed).toBe(true);
  });

  it('keeps the last snapshot and a readable error when a refresh fails', async () => {
    const fetch = jest
      .fn()
      .mockResolvedValueOnce(snapshot())
      .mockRejectedValue(new UsageApiError('The server cannot be reached.', 0));
    const model = new UsageModel({ fetch: fetch as any });
    model.watch();
    await model.start();
    await model.refresh();
    await model.refresh().catch(() => undefined);
    await new Promise(resolve => setTimeout(resolve, 10));
    expect(model.snapshot).not.toBeNull();
    expect(model.error).toBe('The server cannot be reached.');
    model.dispose();
  });
});
