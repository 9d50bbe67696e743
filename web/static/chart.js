// Line charts drawn as inline SVG: no library, no network.

import { formatNumber, h, svg } from "./dom.js";

const MARGIN = { left: 64, right: 20, top: 16, bottom: 46 };
const MAX_POINTS_WITH_MARKERS = 40;

export const PALETTE = [
  "#c2185b", "#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd",
  "#17becf", "#8c564b", "#7f7f7f", "#bcbd22", "#e377c2",
];

// Return about `count` round tick values covering [low, high].
export function niceTicks(low, high, count = 5) {
  if (low === high) {
    const pad = Math.abs(low) * 0.1 || 1;
    return niceTicks(low - pad, high + pad, count);
  }
  const rough = (high - low) / count;
  const power = 10 ** Math.floor(Math.log10(rough));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= rough);
  const ticks = [];
  for (let t = Math.floor(low / step) * step; t <= high + step * 1e-9; t += step) {
    ticks.push(Number(t.toPrecision(12)));
  }
  if (ticks[ticks.length - 1] < high) ticks.push(ticks[ticks.length - 1] + step);
  return ticks;
}

export function logTicks(low, high) {
  const first = Math.floor(Math.log10(low));
  const last = Math.max(Math.ceil(Math.log10(high)), first + 1);
  const multiples = last - first <= 2 ? [1, 2, 5] : [1];
  const ticks = [];
  for (let p = first; p <= last; p += 1) {
    for (const m of multiples) {
      const value = Number((m * 10 ** p).toPrecision(12));
      if (p < last || m === 1) ticks.push(value);
    }
  }
  return ticks;
}

function finitePoints(series, logY) {
  return series.flatMap((s) => s.points).filter(
    ([, y]) => y !== null && Number.isFinite(y) && (!logY || y > 0),
  );
}

function makeScales(points, options, width, height) {
  const xs = points.map(([x]) => x);
  const ys = points.map(([, y]) => y);
  const xMax = Math.max(options.xMax || 0, ...xs, 2);
  const xTicks = niceTicks(1, xMax, 6).filter((t) => Number.isInteger(t) && t >= 1);
  const yTicks = options.logY
    ? logTicks(Math.min(...ys), Math.max(...ys))
    : niceTicks(Math.min(...ys), Math.max(...ys), 5);
  const [yLow, yHigh] = [yTicks[0], yTicks[yTicks.length - 1]];
  const plotWidth = width - MARGIN.left - MARGIN.right;
  const plotHeight = height - MARGIN.top - MARGIN.bottom;
  const toY = options.logY ? Math.log10 : (v) => v;
  return {
    xTicks,
    yTicks,
    x: (v) => MARGIN.left + ((v - 1) / Math.max(xMax - 1, 1)) * plotWidth,
    y: (v) =>
      MARGIN.top + (1 - (toY(v) - toY(yLow)) / (toY(yHigh) - toY(yLow))) * plotHeight,
  };
}

function axes(scales, options, width, height) {
  const bottom = height - MARGIN.bottom;
  const right = width - MARGIN.right;
  const group = svg("g", { class: "axes" });
  for (const tick of scales.yTicks) {
    const y = scales.y(tick);
    group.append(
      svg("line", { x1: MARGIN.left, x2: right, y1: y, y2: y, class: "grid" }),
      svg("text", { x: MARGIN.left - 8, y: y + 4, "text-anchor": "end" }, formatNumber(tick, 3)),
    );
  }
  for (const tick of scales.xTicks) {
    const x = scales.x(tick);
    group.append(
      svg("line", { x1: x, x2: x, y1: bottom, y2: bottom + 5, class: "tick" }),
      svg("text", { x, y: bottom + 18, "text-anchor": "middle" }, String(tick)),
    );
  }
  group.append(
    svg("line", { x1: MARGIN.left, x2: right, y1: bottom, y2: bottom, class: "axis" }),
    svg("line", { x1: MARGIN.left, x2: MARGIN.left, y1: MARGIN.top, y2: bottom, class: "axis" }),
    svg("text", { x: (MARGIN.left + right) / 2, y: height - 6, "text-anchor": "middle" }, options.xLabel),
    svg("text", {
      x: 14, y: (MARGIN.top + bottom) / 2, "text-anchor": "middle",
      transform: `rotate(-90 14 ${(MARGIN.top + bottom) / 2})`,
    }, options.yLabel + (options.logY ? " (log scale)" : "")),
  );
  return group;
}

function seriesPath(item, scales, logY) {
  const usable = item.points.filter(
    ([, y]) => y !== null && Number.isFinite(y) && (!logY || y > 0),
  );
  const group = svg("g", { class: "series", "data-series": item.name });
  if (!usable.length) return group;
  const d = usable
    .map(([x, y], i) => `${i ? "L" : "M"}${scales.x(x).toFixed(1)},${scales.y(y).toFixed(1)}`)
    .join(" ");
  group.append(svg("path", {
    d, fill: "none", stroke: item.color, "stroke-width": 2,
    "stroke-dasharray": item.dashed ? "6 4" : null,
  }));
  if (usable.length <= MAX_POINTS_WITH_MARKERS) {
    for (const [x, y] of usable) {
      group.append(svg("circle", {
        cx: scales.x(x), cy: scales.y(y), r: 2.5, fill: item.color,
      }, svg("title", {}, `${item.name}, epoch ${x}: ${formatNumber(y)}`)));
    }
  }
  return group;
}

function legend(series) {
  return h("ul", { class: "legend" }, series.map((item) =>
    h("li", {},
      svg("svg", { width: 28, height: 10, "aria-hidden": "true" },
        svg("line", {
          x1: 0, x2: 28, y1: 5, y2: 5, stroke: item.color, "stroke-width": 3,
          "stroke-dasharray": item.dashed ? "6 4" : null,
        })),
      item.name)));
}

// Build a figure with a line chart of `series` ([{name, color, dashed, points}]).
export function lineChart(series, options) {
  const width = options.width || 600;
  const height = options.height || 300;
  const chart = svg("svg", {
    viewBox: `0 0 ${width} ${height}`, role: "img", class: "chart",
    style: `max-width:${width}px`,
    "aria-label": options.title,
  }, svg("title", {}, options.title));
  const points = finitePoints(series, options.logY);
  if (!points.length) {
    chart.append(svg("text", {
      x: width / 2, y: height / 2, "text-anchor": "middle", class: "empty",
    }, options.emptyText || "No epochs recorded yet"));
  } else {
    const scales = makeScales(points, options, width, height);
    chart.append(axes(scales, options, width, height));
    for (const item of series) chart.append(seriesPath(item, scales, options.logY));
  }
  return h("figure", { class: "chart-figure" },
    h("figcaption", {}, options.title), chart, legend(series));
}
