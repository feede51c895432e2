// The teacher's CLS features of the visitor's images on their first two principal components
// (the session's `FeatureMap`, as `adclr-wgpu embed` maps them): a point per image, coloured by
// class when the images have labels, with the axes' shares of the variance and a legend.

import { drawFrame } from "./chart-frame.js";

// Ten distinct colours (matplotlib's tab10), then again.
const COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];

export function drawFeatureMap(canvas, map) {
  const left = 40, top = 10;
  const { g, pw, ph } = drawFrame(canvas, { left, right: 10, top, bottom: 40 },
    `PC 1 (${(100 * map.explained[0]).toFixed(1)}% of the variance)`, `PC 2 (${(100 * map.explained[1]).toFixed(1)}%)`);
  const xs = map.points.map((p) => p[0]), ys = map.points.map((p) => p[1]);
  const span = (v) => {
    const lo = Math.min(...v), hi = Math.max(...v);
    const pad = Math.max(hi - lo, 1e-9) * 0.05;
    return [lo - pad, hi + pad];
  };
  const [x0, x1] = span(xs), [y0, y1] = span(ys);
  const x = (v) => left + ((v - x0) / (x1 - x0)) * pw;
  const y = (v) => top + (1 - (v - y0) / (y1 - y0)) * ph;
  map.points.forEach((p, i) => {
    g.fillStyle = map.labels ? COLOURS[map.labels[i] % COLOURS.length] : "#1f77b4";
    g.globalAlpha = 0.8;
    g.beginPath();
    g.arc(x(p[0]), y(p[1]), 3, 0, 2 * Math.PI);
    g.fill();
  });
  g.globalAlpha = 1;
}

// The legend: each class in its colour (nothing without labels).
export function legend(element, map) {
  element.replaceChildren();
  if (!map.labels) return;
  map.classes.forEach((name, c) => {
    const item = document.createElement("span");
    item.textContent = `● ${name}`;
    item.style.color = COLOURS[c % COLOURS.length];
    element.append(item);
  });
}

// What the map shows, in a sentence.
export function caption(map) {
  const what = `The teacher's CLS features of ${map.points.length} of ${map.origin} (L2-normalised, each ` +
    `coordinate z-scored), on their first two principal components.`;
  if (map.knn_in_map === null || map.knn_in_map === undefined) return `${what} No labels: one colour.`;
  return `${what} Coloured by sub-folder; ${map.knn_k}-NN in this map ` +
    `${map.knn_in_map.toFixed(1)}% (each image's nearest points, how apart the classes lie).`;
}
