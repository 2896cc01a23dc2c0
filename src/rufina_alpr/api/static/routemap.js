// The station map of a route: stations placed in Web Mercator (the projection of map tiles), the
// route's stops numbered, and labels placed so that none covers another (each tries positions
// around its station, farther out with a leader line; one that finds no room is left out and its
// station keeps its number and tooltip). Drawn offline on a plain background; with a tile server
// the admin named (GET /api/v1/stations `map.tiles`), the streets under it as <image> tiles.
import { s } from "./util.js";

const WIDTH = 720;
const PAD = 56;
const FONT = "system-ui, -apple-system, \"Segoe UI\", Roboto, \"Noto Sans\", sans-serif";
const MAX_TILES = 48;
const MIN_SPAN = 4e-5; // of the world's width: about 1.2 km across at Rufina's latitude
const RINGS = [0, 16, 32, 52, 76];
const ANGLES = [-45, 0, 45, 90, 135, 180, 225, 270].map((a) => (a * Math.PI) / 180);

let measurer = null;
// A text's width in the map's units (1 unit = 1 px at WIDTH), measured with the map's font.
function textWidth(text, size, bold) {
  measurer = measurer || document.createElement("canvas").getContext("2d");
  measurer.font = `${bold ? 700 : 400} ${size}px ${FONT}`;
  return Math.ceil(measurer.measureText(text).width);
}

// Web Mercator, as a fraction of the world (0..1 both ways).
function mercator(lat, lon) {
  const phi = (Math.max(-85, Math.min(85, lat)) * Math.PI) / 180;
  return [(lon + 180) / 360, (1 - Math.log(Math.tan(phi) + 1 / Math.cos(phi)) / Math.PI) / 2];
}

// Boxes already on the map; `place` finds the first free spot for a new one.
class Board {
  constructor(width, height) {
    this.width = width;
    this.height = height;
    this.boxes = [];
  }

  free(box) {
    if (box.x < 2 || box.y < 2 || box.x + box.w > this.width - 2 || box.y + box.h > this.height - 2) return false;
    return this.boxes.every((b) => box.x >= b.x + b.w || b.x >= box.x + box.w || box.y >= b.y + b.h || b.y >= box.y + box.h);
  }

  take(box) {
    this.boxes.push(box);
    return box;
  }

  // A w x h box near (x, y), `gap` from it: the nearest ring first, the right side first.
  place(x, y, w, h, gap = 8, rings = RINGS) {
    for (const ring of rings) {
      for (const angle of ANGLES) {
        const r = gap + ring;
        const cx = x + Math.cos(angle) * (r + w / 2);
        const cy = y + Math.sin(angle) * (r + h / 2);
        const box = { x: cx - w / 2, y: cy - h / 2, w, h, ring };
        if (this.free(box)) return this.take(box);
      }
    }
    return null;
  }
}

function label(board, text, x, y, { size = 12, bold = true, fill = "#1a1d21", kind, gap = 8, rings } = {}) {
  const w = textWidth(text, size, bold) + 6;
  const h = size + 6;
  const box = board.place(x, y, w, h, gap, rings);
  if (!box) return [];
  const out = [];
  if (box.ring > 0) {
    const bx = Math.max(box.x, Math.min(x, box.x + box.w));
    const by = Math.max(box.y, Math.min(y, box.y + box.h));
    out.push(s("line", { class: "leader", x1: x, y1: y, x2: bx, y2: by, stroke: "#4f5863", "stroke-width": 1 }));
  }
  out.push(s("rect", { class: "label-bg", x: box.x, y: box.y, width: box.w, height: box.h, rx: 3, fill: "#fff", opacity: 0.85 }),
    s("text", {
      class: "map-label", "data-kind": kind, x: box.x + 3, y: box.y + size + 1, "font-size": size,
      "font-family": FONT, "font-weight": bold ? 700 : 400, fill,
    }, text));
  return out;
}

// The tile images under the map: zoom chosen so a tile shows about 256 units wide.
function tiles(template, attribution, { scale, u0, v0, offX, offY, width, height }) {
  let z = Math.max(0, Math.min(19, Math.round(Math.log2(scale / 256))));
  let range;
  for (;; z--) {
    const n = 2 ** z;
    const uMin = u0 - offX / scale;
    const vMin = v0 - offY / scale;
    range = {
      n, x0: Math.floor(uMin * n), x1: Math.floor((uMin + width / scale) * n),
      y0: Math.max(0, Math.floor(vMin * n)), y1: Math.min(n - 1, Math.floor((vMin + height / scale) * n)),
    };
    if ((range.x1 - range.x0 + 1) * (range.y1 - range.y0 + 1) <= MAX_TILES || z === 0) break;
  }
  const size = scale / range.n;
  const group = s("g", { class: "tiles", "data-zoom": z });
  for (let ty = range.y0; ty <= range.y1; ty++) {
    for (let tx = range.x0; tx <= range.x1; tx++) {
      const wrapped = ((tx % range.n) + range.n) % range.n;
      const href = template.replace("{z}", z).replace("{x}", wrapped).replace("{y}", ty);
      group.append(s("image", {
        href, x: offX + (tx / range.n - u0) * scale, y: offY + (ty / range.n - v0) * scale,
        width: size + 0.5, height: size + 0.5, preserveAspectRatio: "none",
      }));
    }
  }
  const credit = s("text", {
    class: "attribution", x: width - 6, y: height - 6, "text-anchor": "end", "font-size": 11, "font-family": FONT,
    fill: "#1a1d21", stroke: "#fff", "stroke-width": 3, "paint-order": "stroke",
  }, attribution);
  return [group, credit];
}

// `stations` from GET /api/v1/stations; `path` the route's station ids in order; `legLabels` the
// time of each leg; `tileServer` that answer's `map` ({tiles, attribution}) or nothing.
export function stationMap(stations, { path = [], legLabels = [], title, labels = {}, tileServer = null } = {}) {
  const placed = stations.filter((st) => typeof st.latitude === "number" && typeof st.longitude === "number");
  const svgEl = (height) => s("svg", { viewBox: `0 0 ${WIDTH} ${height}`, role: "img", "aria-label": title, class: "station-map" });
  if (!placed.length) return svgEl(40);
  const projected = new Map(placed.map((st) => [st.id, mercator(st.latitude, st.longitude)]));
  // The route's stations fill the map (the town's others show where they fall in it).
  const framed = path.filter((id) => projected.has(id));
  const corners = (framed.length ? framed : [...projected.keys()]).map((id) => projected.get(id));
  const us = corners.map((p) => p[0]);
  const vs = corners.map((p) => p[1]);
  const spanU = Math.max(MIN_SPAN, Math.max(...us) - Math.min(...us));
  const spanV = Math.max(MIN_SPAN, Math.max(...vs) - Math.min(...vs));
  const u0 = (Math.max(...us) + Math.min(...us) - spanU) / 2;
  const v0 = (Math.max(...vs) + Math.min(...vs) - spanV) / 2;
  let scale = (WIDTH - 2 * PAD) / spanU;
  const height = Math.round(Math.min(720, Math.max(360, spanV * scale + 2 * PAD)));
  scale = Math.min(scale, (height - 2 * PAD) / spanV);
  const offX = (WIDTH - spanU * scale) / 2;
  const offY = (height - spanV * scale) / 2;
  const at = (id) => {
    const [u, v] = projected.get(id);
    return [offX + (u - u0) * scale, offY + (v - v0) * scale];
  };
  const inside = (st) => {
    const [x, y] = at(st.id);
    return x >= 8 && x <= WIDTH - 8 && y >= 8 && y <= height - 8;
  };
  const svg = svgEl(height);
  svg.append(s("title", {}, title), s("rect", { x: 0, y: 0, width: WIDTH, height, fill: "#eef3ea", rx: 8 }));
  for (let gx = 0; gx <= WIDTH; gx += 60) svg.append(s("line", { x1: gx, x2: gx, y1: 0, y2: height, stroke: "#dde6d6" }));
  for (let gy = 0; gy <= height; gy += 60) svg.append(s("line", { x1: 0, x2: WIDTH, y1: gy, y2: gy, stroke: "#dde6d6" }));
  if (tileServer && tileServer.tiles) {
    svg.append(...tiles(tileServer.tiles, tileServer.attribution || "", { scale, u0, v0, offX, offY, width: WIDTH, height }));
  }
  const board = new Board(WIDTH, height);
  const onPath = [...new Set(path.filter((id) => projected.has(id)))];
  const points = path.filter((id) => projected.has(id)).map(at);
  if (points.length > 1) {
    svg.append(s("polyline", { points: points.map((p) => p.join(",")).join(" "), fill: "none", stroke: "#D55E00", "stroke-width": 4, "stroke-linejoin": "round", "stroke-linecap": "round", opacity: 0.85 }));
  }
  for (const st of placed.filter(inside)) {
    const [x, y] = at(st.id);
    const lpr = st.kind === "lpr";
    const dot = lpr
      ? s("rect", { x: x - 6, y: y - 6, width: 12, height: 12, fill: "#0b4f8a", stroke: "#fff", "stroke-width": 2 })
      : s("circle", { cx: x, cy: y, r: 5, fill: "#6b6b6b", stroke: "#fff", "stroke-width": 2 });
    dot.append(s("title", {}, `${st.name} (${lpr ? labels.lpr || "LPR" : labels.context || "context"})`));
    svg.append(dot);
    if (onPath.includes(st.id)) board.take({ x: x - 7, y: y - 7, w: 14, h: 14 });
  }
  const overlay = s("g", { class: "labels" });
  // Each stop's numbers (a station passed twice: "2,5") in a badge by its station.
  const byName = new Map(placed.map((st) => [st.id, st]));
  for (const id of onPath) {
    const [x, y] = at(id);
    const numbers = path.map((p, i) => (p === id ? i + 1 : null)).filter(Boolean).join(",");
    const w = textWidth(numbers, 12, true) + 10;
    const box = board.place(x, y, Math.max(20, w), 20, 4, [0, 12, 24, 40, 60, 84]);
    if (!box) continue;
    const badge = s("g", { class: "stop", "data-station": id });
    if (box.ring > 0) badge.append(s("line", { class: "leader", x1: x, y1: y, x2: box.x + box.w / 2, y2: box.y + box.h / 2, stroke: "#7a2e00", "stroke-width": 1.5 }));
    badge.append(s("rect", { x: box.x, y: box.y, width: box.w, height: box.h, rx: 10, fill: "#D55E00", stroke: "#fff", "stroke-width": 2 }),
      s("text", { class: "map-label", "data-kind": "stop", x: box.x + box.w / 2, y: box.y + 14, "text-anchor": "middle", "font-size": 12, "font-family": FONT, "font-weight": 700, fill: "#fff" }, numbers),
      s("title", {}, byName.get(id).name));
    overlay.append(badge);
  }
  for (const id of onPath) {
    const [x, y] = at(id);
    overlay.append(...label(board, byName.get(id).name, x, y, { kind: "station" }));
  }
  for (let i = 1; i < points.length; i++) {
    const [x1, y1] = points[i - 1];
    const [x2, y2] = points[i];
    if (legLabels[i - 1] && (x1 !== x2 || y1 !== y2)) {
      overlay.append(...label(board, legLabels[i - 1], (x1 + x2) / 2, (y1 + y2) / 2, { kind: "leg", fill: "#7a2e00", gap: 2, rings: [0, 14, 28] }));
    }
  }
  // Locality names where there is room left, above their stations.
  const byLocality = new Map();
  for (const st of placed.filter(inside)) {
    if (!st.locality) continue;
    if (!byLocality.has(st.locality)) byLocality.set(st.locality, []);
    byLocality.get(st.locality).push(at(st.id));
  }
  for (const [name, pts] of byLocality) {
    const x = pts.reduce((a, p) => a + p[0], 0) / pts.length;
    const y = Math.min(...pts.map((p) => p[1])) - 16;
    overlay.append(...label(board, name, x, y, { kind: "locality", fill: "#3d5a2c", gap: 0, rings: [0, 14] }));
  }
  svg.append(overlay);
  return svg;
}
