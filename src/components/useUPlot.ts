import * as React from 'react';
import uPlot from 'uplot';

/** What a chart is made of, once its element exists. */
export interface IUPlotSetup {
  options: uPlot.Options;
  data: uPlot.AlignedData;
}

/**
 * One uPlot chart in `node`'s element, shared by the panel's sparklines and the
 * dashboard's time charts: made by `setup` when the element exists and again whenever
 * `deps` or `height` change, kept at the element's width, destroyed with the component.
 * Data updates between two setups are the caller's (`plot.current?.setData`).
 */
export function useUPlot(
  node: React.RefObject<HTMLDivElement>,
  height: number,
  deps: React.DependencyList,
  setup: (target: HTMLDivElement) => IUPlotSetup
): React.MutableRefObject<uPlot | null> {
  const plot = React.useRef<uPlot | null>(null);
  React.useEffect(() => {
    const target = node.current;
    if (!target) {
      return;
    }
    const { options, data } = setup(target);
    const chart = new uPlot(options, data, target);
    plot.current = chart;
    let observer: ResizeObserver | null = null;
    if (typeof ResizeObserver !== 'undefined') {
      observer = new ResizeObserver(() => {
        if (target.clientWidth > 0 && target.clientWidth !== chart.width) {
          chart.setSize({ width: target.clientWidth, height });
        }
      });
      observer.observe(target);
    }
    return () => {
      observer?.disconnect();
      chart.destroy();
      plot.current = null;
    };
    // `setup` is new at every render; the chart is remade only when its shape changes.
  }, [...deps, height]);
  return plot;
}
