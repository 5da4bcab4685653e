/**
 * Stands in for uPlot under jsdom (no canvas): records what each chart is given.
 */
class UPlotMock {
  constructor(options, data, target) {
    this.options = options;
    this.data = data;
    this.target = target;
    this.destroyed = false;
    UPlotMock.instances.push(this);
  }

  setData(data) {
    this.data = data;
  }

  setSize(size) {
    this.size = size;
  }

  destroy() {
    this.destroyed = true;
  }
}

UPlotMock.instances = [];

module.exports = UPlotMock;
