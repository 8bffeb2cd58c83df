// Small SVG charts drawn by hand: no chart library, nothing fetched from elsewhere.
import { h } from "./dom.js";

const PALETTE = ["#1f6feb", "#d1242f", "#1a7f37", "#9a6700", "#8250df", "#bf3989", "#0a7d8c", "#57606a"];
export const color = (i) => PALETTE[i % PALETTE.length];

function axes(w, hgt, pad, xLabel, yLabel, xTicks, yTicks) {
  const g = h("g", { class: "axes" });
  g.append(h("line", { x1: pad.l, y1: hgt - pad.b, x2: w - pad.r, y2: hgt - pad.b, stroke: "#888", class: "axis" }));
  g.append(h("line", { x1: pad.l, y1: pad.t, x2: pad.l, y2: hgt - pad.b, stroke: "#888", class: "axis" }));
  for (const [x, text] of xTicks) {
    g.append(h("text", { x, y: hgt - pad.b + 14, "text-anchor": "middle", "font-size": 10 }, text));
  }
  for (const [y, text] of yTicks) {
    g.append(h("text", { x: pad.l - 4, y: y + 3, "text-anchor": "end", "font-size": 10 }, text));
    g.append(h("line", { x1: pad.l, y1: y, x2: w - pad.r, y2: y, stroke: "#eee", class: "grid" }));
  }
  if (xLabel) g.append(h("text", { x: (w + pad.l) / 2, y: hgt - 4, "text-anchor": "middle", "font-size": 11 }, xLabel));
  if (yLabel) g.append(h("text", { x: 12, y: (hgt - pad.b + pad.t) / 2, "text-anchor": "middle", "font-size": 11, transform: `rotate(-90 12 ${(hgt - pad.b + pad.t) / 2})` }, yLabel));
  return g;
}

// series: [{name, points: [[x, y], ...]}] with x, y in [0, 1].
export function lineChart(series, { width = 420, height = 300, xLabel = "", yLabel = "", testid, label } = {}) {
  const pad = { l: 44, r: 10, t: 10, b: 36 };
  const sx = (x) => pad.l + x * (width - pad.l - pad.r);
  const sy = (y) => height - pad.b - y * (height - pad.t - pad.b);
  const ticks = [0, 0.25, 0.5, 0.75, 1];
  const svg = h("svg", { viewBox: `0 0 ${width} ${height}`, width, height, class: "chart", role: "img", "data-testid": testid || null, "aria-label": label || [yLabel, xLabel, ...series.map((x) => x.name)].filter(Boolean).join(", ") },
    axes(width, height, pad, xLabel, yLabel, ticks.map((v) => [sx(v), v.toFixed(2)]), ticks.map((v) => [sy(v), v.toFixed(2)])));
  series.forEach((s, i) => {
    const pts = (s.points || []).filter((p) => Number.isFinite(p[0]) && Number.isFinite(p[1]))
      .map(([x, y]) => `${sx(Math.min(1, Math.max(0, x))).toFixed(1)},${sy(Math.min(1, Math.max(0, y))).toFixed(1)}`);
    if (pts.length) svg.append(h("polyline", { points: pts.join(" "), fill: "none", stroke: color(i), "stroke-width": 2 }, h("title", null, s.name)));
  });
  return h("figure", { class: "chart-box" }, svg, legend(series.map((s) => s.name)));
}

// A tick label cut to its group's width (about 6 px a character at font-size 10); bars keep the full name.
function fitLabel(name, width) {
  const text = String(name);
  const room = Math.max(3, Math.floor(width / 6));
  return text.length > room ? `${text.slice(0, room - 1)}…` : text;
}

// groups: [{name, values: {seriesName: number}}], values in [0, 1].
export function barChart(groups, seriesNames, { width = 520, height = 240, yLabel = "", testid, keys, label } = {}) {
  const valueKeys = keys || seriesNames;
  const pad = { l: 44, r: 10, t: 10, b: 36 };
  const inner = width - pad.l - pad.r;
  const gw = inner / Math.max(1, groups.length);
  const bw = Math.min(36, Math.max(2, (gw - 8) / Math.max(1, seriesNames.length)));
  const sy = (y) => height - pad.b - y * (height - pad.t - pad.b);
  const ticks = [0, 0.5, 1];
  const svg = h("svg", { viewBox: `0 0 ${width} ${height}`, width, height, class: "chart", role: "img", "data-testid": testid || null, "aria-label": label || [yLabel, ...seriesNames].filter(Boolean).join(", ") },
    axes(width, height, pad, "", yLabel, groups.map((g, i) => [pad.l + gw * i + gw / 2, fitLabel(g.name, gw)]), ticks.map((v) => [sy(v), v.toFixed(1)])));
  groups.forEach((g, i) => {
    seriesNames.forEach((name, j) => {
      const v = Number(g.values[valueKeys[j]]);
      if (g.values[valueKeys[j]] === null || g.values[valueKeys[j]] === undefined) return;
      if (!Number.isFinite(v)) return;
      const y = sy(Math.min(1, Math.max(0, v)));
      const x0 = pad.l + gw * i + (gw - bw * seriesNames.length) / 2;
      svg.append(h("rect", { x: x0 + j * bw, y, width: bw - 1, height: Math.max(0, height - pad.b - y), fill: color(j) },
        h("title", null, `${g.name} · ${name}: ${v.toFixed(3)}`)));
    });
  });
  return h("figure", { class: "chart-box" }, svg, legend(seriesNames));
}

// A sparkline of score distributions over time: one column per day (oldest left), one cell per
// score bin (0 at the bottom), darker where more of that day's scores fell; days: ["YYYY-MM-DD"],
// daily: one [counts per bin] per day.
export function dailyHeat(days, daily, { span = 180, binHeight = 4, testid, label } = {}) {
  const bins = (daily[0] || []).length || 10;
  const cell = Math.max(2, Math.floor(span / Math.max(1, days.length)));
  const width = days.length * cell;
  const height = bins * binHeight;
  const svg = h("svg", { viewBox: `0 0 ${width} ${height}`, width, height, class: "chart spark", role: "img", "data-testid": testid || null, "aria-label": label || "" },
    h("rect", { x: 0, y: 0, width, height, fill: "none", class: "spark-frame" }));
  daily.forEach((counts, d) => {
    const total = counts.reduce((a, b) => a + b, 0);
    if (!total) return;
    const most = Math.max(...counts);
    const column = h("g", null, h("title", null, `${days[d]}: ${total}`));
    counts.forEach((count, b) => {
      if (!count) return;
      column.append(h("rect", { x: d * cell, y: (bins - 1 - b) * binHeight, width: cell - 1, height: binHeight, fill: "#d1242f", opacity: (0.25 + 0.75 * count / most).toFixed(3) }));
    });
    svg.append(column);
  });
  return svg;
}

function legend(names) {
  return h("figcaption", { class: "legend" }, names.map((name, i) => h("span", null, h("i", { class: `swatch c${i % PALETTE.length}` }), " ", name)));
}
