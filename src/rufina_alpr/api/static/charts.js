// Hand-drawn SVG charts and the offline station map (no library, nothing from the internet).
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

// The station map: stations placed by their coordinates (equirectangular, scaled by cos(lat)) on a
// plain vector background; `path` is the ordered list of station ids of a route, `legs` its times.
export function stationMap(stations, { path = [], legLabels = [], title, labels = {}, width = 720 } = {}) {
  const placed = stations.filter((st) => typeof st.latitude === "number" && typeof st.longitude === "number");
  const svgEl = (height) => s("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": title });
  if (!placed.length) return svgEl(40);
  const lats = placed.map((st) => st.latitude);
  const lons = placed.map((st) => st.longitude);
  const midLat = (Math.min(...lats) + Math.max(...lats)) / 2;
  const kx = Math.cos((midLat * Math.PI) / 180);
  const spanX = Math.max(1e-4, (Math.max(...lons) - Math.min(...lons)) * kx);
  const spanY = Math.max(1e-4, Math.max(...lats) - Math.min(...lats));
  const pad = 40;
  const scale = (width - 2 * pad) / spanX;
  const height = Math.round(Math.min(900, Math.max(320, spanY * scale + 2 * pad)));
  const sc = Math.min(scale, (height - 2 * pad) / spanY);
  const offX = (width - spanX * sc) / 2;
  const offY = (height - spanY * sc) / 2;
  const at = (st) => [offX + (st.longitude - Math.min(...lons)) * kx * sc, offY + (Math.max(...lats) - st.latitude) * sc];
  const svg = svgEl(height);
  svg.append(s("title", {}, title));
  svg.append(s("rect", { x: 0, y: 0, width, height, fill: "#eef3ea", rx: 8 }));
  for (let gx = 0; gx <= width; gx += 60) svg.append(s("line", { x1: gx, x2: gx, y1: 0, y2: height, stroke: "#dde6d6" }));
  for (let gy = 0; gy <= height; gy += 60) svg.append(s("line", { x1: 0, x2: width, y1: gy, y2: gy, stroke: "#dde6d6" }));
  // Locality names at the centre of their stations.
  const byLocality = new Map();
  for (const st of placed) {
    const key = st.locality || "";
    if (!key) continue;
    if (!byLocality.has(key)) byLocality.set(key, []);
    byLocality.get(key).push(at(st));
  }
  for (const [name, points] of byLocality) {
    const x = points.reduce((a, p) => a + p[0], 0) / points.length;
    const y = Math.min(...points.map((p) => p[1])) - 14;
    svg.append(s("text", { x, y: Math.max(12, y), "text-anchor": "middle", "font-size": 12, fill: "#3d5a2c", "font-weight": 700 }, name));
  }
  const index = new Map(placed.map((st) => [st.id, st]));
  const points = path.map((id) => index.get(id)).filter(Boolean).map(at);
  if (points.length > 1) {
    svg.append(s("polyline", { points: points.map((p) => p.join(",")).join(" "), fill: "none", stroke: "#D55E00", "stroke-width": 4, "stroke-linejoin": "round", "stroke-linecap": "round", opacity: 0.85 }));
    for (let i = 1; i < points.length; i++) {
      const [x1, y1] = points[i - 1];
      const [x2, y2] = points[i];
      if (legLabels[i - 1] && (x1 !== x2 || y1 !== y2)) {
        svg.append(s("text", { x: (x1 + x2) / 2 + 6, y: (y1 + y2) / 2 - 6, "font-size": 12, fill: "#7a2e00", "font-weight": 700, stroke: "#fff", "stroke-width": 3, "paint-order": "stroke" }, legLabels[i - 1]));
      }
    }
  }
  for (const st of placed) {
    const [x, y] = at(st);
    const lpr = st.kind === "lpr";
    const dot = lpr
      ? s("rect", { x: x - 6, y: y - 6, width: 12, height: 12, fill: "#0b4f8a", stroke: "#fff", "stroke-width": 2 })
      : s("circle", { cx: x, cy: y, r: 5, fill: "#6b6b6b", stroke: "#fff", "stroke-width": 2 });
    dot.append(s("title", {}, `${st.name} (${lpr ? labels.lpr || "LPR" : labels.context || "context"})`));
    svg.append(dot);
  }
  path.forEach((id, i) => {
    const st = index.get(id);
    if (!st) return;
    const [x, y] = at(st);
    const shift = (path.slice(0, i).filter((p) => p === id).length) * 12;
    svg.append(
      s("circle", { cx: x + 12 + shift, cy: y - 12, r: 10, fill: "#D55E00", stroke: "#fff", "stroke-width": 2 }),
      s("text", { x: x + 12 + shift, y: y - 8, "text-anchor": "middle", "font-size": 12, fill: "#fff", "font-weight": 700 }, String(i + 1)),
    );
    const leftSide = x > width * 0.6;
    svg.append(s("text", { x: leftSide ? x - 12 : x + 26 + shift, y: leftSide ? y + 18 : y + 4, "text-anchor": leftSide ? "end" : "start", "font-size": 12, fill: "#1a1d21", stroke: "#fff", "stroke-width": 3, "paint-order": "stroke" }, st.name));
  });
  return svg;
}
