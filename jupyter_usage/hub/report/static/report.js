// Draws the report's charts with uPlot from the JSON each <figure data-chart> carries:
// {title, kind: "bars" | "steps", x: [unix seconds], series: [{label, values}], unit}.
// Times are shown in UTC, as everywhere on the page.
(function () {
  'use strict';
  var charts = [];

  // The colour of a palette variable as the page shows it now, as #rrggbb (the charts
  // append an alpha to it). The palette is made of light-dark() pairs (report.css), which
  // only a colour property resolves: reading the variable itself would give the pair.
  function css(name) {
    var probe = document.createElement('span');
    probe.hidden = true;
    probe.style.color = 'var(' + name + ')';
    document.body.appendChild(probe);
    var channels = getComputedStyle(probe).color.match(/\d+/g) || [0, 0, 0];
    probe.remove();
    return (
      '#' +
      channels
        .slice(0, 3)
        .map(function (channel) {
          return ('0' + Number(channel).toString(16)).slice(-2);
        })
        .join('')
    );
  }

  function formatValue(value, unit) {
    if (value === null || value === undefined) {
      return '–';
    }
    var abs = Math.abs(value);
    var digits = abs === 0 || abs >= 100 ? 0 : abs >= 10 ? 1 : abs >= 1 ? 2 : 3;
    var text = value.toLocaleString('en', {
      maximumFractionDigits: digits,
      minimumFractionDigits: 0
    });
    return unit ? text + ' ' + unit : text;
  }

  function utc(seconds) {
    return uPlot.tzDate(new Date(seconds * 1000), 'Etc/UTC');
  }

  function options(spec, width, figure) {
    var palette = [css('--series-1'), css('--series-2'), css('--series-3')];
    var text = css('--text');
    var grid = css('--grid');
    var bars = spec.kind === 'bars';
    var step = spec.x.length > 1 ? spec.x[1] - spec.x[0] : 86400;
    var daily = step >= 86400;
    var series = [
      { value: daily ? '{YYYY}-{MM}-{DD}' : '{YYYY}-{MM}-{DD} {HH}:{mm} UTC' }
    ];
    var dayLabel = uPlot.fmtDate('{MMM} {D}');
    spec.series.forEach(function (item, index) {
      var color = palette[index % palette.length];
      series.push({
        label: item.label,
        stroke: color,
        fill: bars ? color : color + '33',
        width: bars ? 0 : 2,
        points: { show: false },
        paths: bars
          ? uPlot.paths.bars({ size: [0.8, 40], align: 1 })
          : uPlot.paths.stepped({ align: 1 }),
        value: function (u, v) {
          return formatValue(v, spec.unit);
        }
      });
    });
    var axis = {
      stroke: text,
      grid: { stroke: grid, width: 1 },
      ticks: { stroke: grid }
    };
    return {
      width: width,
      height: width < 500 ? 180 : 220,
      tzDate: utc,
      series: series,
      legend: { show: true },
      cursor: { points: { show: !bars } },
      scales: {
        // A bar covers its day (or hour) to the right of its time: the scale ends one
        // step after the last, so that today's bar is drawn whole, not cut at the edge.
        x: {
          time: true,
          range: function () {
            var range = [
              spec.x[0],
              spec.x[spec.x.length - 1] + (bars ? step : 0)
            ];
            figure.setAttribute('data-x-range', range.join(' '));
            return range;
          }
        },
        y: {
          range: function (u, min, max) {
            return [0, max > 0 ? max * 1.1 : 1];
          }
        }
      },
      axes: [
        // Per-day charts tick whole days ("Dec 7"), never hours ("12am / 12pm").
        daily
          ? Object.assign({}, axis, {
              space: 60,
              incrs: [1, 2, 7, 14, 28, 91, 182, 364].map(function (days) {
                return days * 86400;
              }),
              values: function (u, ticks) {
                var labels = ticks.map(function (t) {
                  return dayLabel(utc(t));
                });
                // What the axis says, for the page's tests (the axis is drawn on a canvas).
                figure.setAttribute('data-x-ticks', labels.join('|'));
                return labels;
              }
            })
          : Object.assign({}, axis, { space: 60 }),
        Object.assign({}, axis, {
          label: spec.unit,
          labelSize: 18,
          size: 56,
          values: function (u, ticks) {
            return ticks.map(function (t) {
              return formatValue(t, '');
            });
          }
        })
      ]
    };
  }

  function draw(figure) {
    var spec = JSON.parse(
      figure.querySelector('script[type="application/json"]').textContent
    );
    var holder = document.createElement('div');
    holder.className = 'plot';
    figure.insertBefore(holder, figure.querySelector('figcaption'));
    if (!spec.x.length || !spec.series.length) {
      holder.textContent = 'No data in this window.';
      holder.className = 'plot empty';
      return;
    }
    var data = [spec.x].concat(
      spec.series.map(function (item) {
        return item.values;
      })
    );
    var make = function () {
      holder.textContent = '';
      return new uPlot(
        options(spec, Math.max(200, holder.clientWidth), figure),
        data,
        holder
      );
    };
    charts.push({ holder: holder, make: make, plot: make() });
  }

  function redraw() {
    charts.forEach(function (chart) {
      chart.plot.destroy();
      chart.plot = chart.make();
    });
  }

  var pending = null;
  window.addEventListener('resize', function () {
    clearTimeout(pending);
    pending = setTimeout(redraw, 150);
  });
  document.addEventListener('usage-theme', function () {
    if (charts.length) {
      redraw();
    }
  });
  document.addEventListener('DOMContentLoaded', function () {
    document.querySelectorAll('figure[data-chart]').forEach(draw);
    document.documentElement.setAttribute('data-charts', String(charts.length));
  });
})();
