import { render } from '@testing-library/react';
import * as React from 'react';

import { Sparkline } from '../components/Sparkline';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const UPlot = require('uplot');

beforeEach(() => {
  UPlot.instances.length = 0;
});

describe('Sparkline', () => {
  it('hands its points to uPlot, skipping buckets without a time', () => {
    render(
      <Sparkline
        label="CPU"
        times={[1, null, 3]}
        series={[{ values: [0.5, 9, null], colorVar: '--jp-brand-color1' }]}
        max={2}
      />
    );
    expect(UPlot.instances).toHaveLength(1);
    expect(UPlot.instances[0].data).toEqual([
      [1, 3],
      [0.5, null]
    ]);
  });

  it('updates the same chart on new data and frees it when removed', () => {
    const series = (value: number) => [
      { values: [value, value], colorVar: '--jp-brand-color1' }
    ];
    const { rerender, unmount } = render(
      <Sparkline label="CPU" times={[1, 2]} series={series(1)} />
    );
    rerender(<Sparkline label="CPU" times={[2, 3]} series={series(2)} />);
    expect(UPlot.instances).toHaveLength(1);
    const chart = UPlot.instances[0];
    expect(chart.data).toEqual([
      [2, 3],
      [2, 2]
    ]);
    unmount();
    expect(chart.destroyed).toBe(true);
  });

  it('scales from zero to the larger of its limit and its data', () => {
    const { rerender } = render(
      <Sparkline
        label="Memory"
        times={[1]}
        series={[{ values: [1], colorVar: '--x' }]}
        max={4}
      />
    );
    const range = UPlot.instances[0].options.scales.y.range;
    expect(range(null, 0, 1)).toEqual([0, 4]);
    expect(range(null, 0, 6)).toEqual([0, 6]);
    rerender(
      <Sparkline
        label="Memory"
        times={[1]}
        series={[{ values: [1], colorVar: '--x' }]}
        max={null}
      />
    );
    expect(range(null, 0, 0)).toEqual([0, 1]);
  });

  it('takes its colour from the theme variable when it draws', () => {
    const { container } = render(
      <Sparkline
        label="CPU"
        times={[1]}
        series={[{ values: [1], colorVar: '--jp-warn-color1' }]}
      />
    );
    const node = container.querySelector('.jp-Usage-sparkline') as HTMLElement;
    node.style.setProperty('--jp-warn-color1', 'rgb(255, 0, 0)');
    const stroke = UPlot.instances[0].options.series[1].stroke;
    expect(stroke()).toBe('rgb(255, 0, 0)');
  });
});
