// Hand-drawn SVG charts (no library, nothing from the internet); the station map is routemap.js.
import { s, h } from "./util.js";
import { fmtNumber } from "./i18n.js";

export const PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#6b6b6b", "#000000"];

export function legend(keys, labelOf) {
  return h("div", { class: "legend" }, keys.map((key, i) =>
    h("span", {}, h("i", { "aria-hidden": "true", "data-color": PALETTE[i % PALETTE.length] }), labelOf(key))));
}

// Colour the legend swatches (CSSOM: allowed by the page's style-src 'self').
export function paintLegends(root) {
  for (const swatch of root.querySelectorAll("i[data-color]")) swatch.style.background = swatch.dataset.color;
}

// Horizontal bars: rows [{label, value}], largest first.
export function hbars(rows, { title, width = 640 } = {}) {
  const bar = 22;
  const gap = 6;
  const left = 230;
  const right = 60;
  const height = Math.max(1, rows.length) * (bar + gap) + 10;
  const max = Math.max(1, ...rows.map((r) => r.value));
  const svg = s("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": title });
  svg.append(s("title", {}, title));
  rows.forEach((row, i) => {
    const y = 5 + i * (bar + gap);
    const w = ((width - left - right) * row.value) / max;
    svg.append(
      s("text", { x: left - 8, y: y + bar * 0.7, "text-anchor": "end", "font-size": 13, fill: "#1a1d21" }, truncate(row.label, 30)),
      s("rect", { x: left, y, width: Math.max(1, w), height: bar, rx: 3, fill: row.color || PALETTE[0] }),
      s("text", { x: left + w + 6, y: y + bar * 0.7, "font-size": 13, fill: "#1a1d21" }, fmtNumber(row.value)),
    );
  });
  return svg;
}

// Stacked columns: buckets [{label, parts: {key: value}}], keys in stacking order.
export function columns(buckets, keys, { title, width = 720, height = 260, labelEvery = 1 } = {}) {
  const left = 44;
  const bottom = 34;
  const top = 10;
  const plotH = height - bottom - top;
  const totals = buckets.map((b) => keys.reduce((sum, k) => sum + (b.parts[k] || 0), 0));
  const max = niceMax(Math.max(1, ...totals));
  const step = (width - left - 10) / Math.max(1, buckets.length);
  const svg = s("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": title });
  svg.append(s("title", {}, title));
  for (let i = 0; i <= 4; i++) {
    const value = (max * i) / 4;
    const y = top + plotH - (plotH * i) / 4;
    svg.append(
      s("line", { x1: left, x2: width - 10, y1: y, y2: y, stroke: "#d5dbe1", "stroke-width": 1 }),
      s("text", { x: left - 6, y: y + 4, "text-anchor": "end", "font-size": 11, fill: "#4f5863" }, fmtNumber(value)),
    );
  }
  buckets.forEach((bucket, i) => {
    let y = top + plotH;
    const x = left + i * step + step * 0.15;
    const w = Math.max(1, step * 0.7);
    keys.forEach((key, k) => {
      const value = bucket.parts[key] || 0;
      if (!value) return;
      const hgt = (plotH * value) / max;
      y -= hgt;
      const rect = s("rect", { x, y, width: w, height: hgt, fill: PALETTE[k % PALETTE.length] });
      rect.append(s("title", {}, `${bucket.label}: ${fmtNumber(value)}`));
      svg.append(rect);
    });
    if (i % labelEvery === 0) {
      svg.append(s("text", { x: x + w / 2, y: height - bottom + 16, "text-anchor": "middle", "font-size": 11, fill: "#1a1d21" }, bucket.label));
    }
  });
  svg.append(s("line", { x1: left, x2: width - 10, y1: top + plotH, y2: top + plotH, stroke: "#4f5863" }));
  return svg;
}

// The smallest 4 x (1, 2 or 5 x 10^k) at or above the value: whole, round ticks.
function niceMax(value) {
  const quarter = Math.max(1, value / 4);
  const power = 10 ** Math.floor(Math.log10(quarter));
  for (const m of [1, 2, 5, 10]) if (m * power >= quarter) return 4 * Math.max(1, Math.round(m * power));
  return 4 * quarter;
}

function truncate(text, n) {
  return text.length > n ? `${text.slice(0, n - 1)}…` : text;
}
