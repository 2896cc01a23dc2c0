// DOM building (no innerHTML with data) and the JSON API client (relative URLs, bearer token).
const SVG_NS = "http://www.w3.org/2000/svg";
const TOKEN_KEY = "rufina.token";

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  return fill(el, attrs, children);
}

export function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  return fill(el, attrs, children);
}

function fill(el, attrs, children) {
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (key === "class") el.setAttribute("class", value);
    else if (key === "text") el.textContent = value;
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export const ingress = () => document.documentElement.dataset.ingress === "1";

export function token() {
  try { return window.sessionStorage.getItem(TOKEN_KEY); } catch { return null; }
}

export function setToken(value) {
  try {
    if (value) window.sessionStorage.setItem(TOKEN_KEY, value);
    else window.sessionStorage.removeItem(TOKEN_KEY);
  } catch { /* storage off */ }
}

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

// The API lives next to the panel: /panel/ -> ../api/v1/..., under ingress as well.
export function apiUrl(path, params = {}) {
  const url = new URL(`../${path}`, document.baseURI);
  for (const [key, value] of Object.entries(params)) {
    if (value === null || value === undefined || value === "") continue;
    for (const item of Array.isArray(value) ? value : [value]) url.searchParams.append(key, item);
  }
  return url;
}

function headers(extra = {}) {
  const out = { ...extra };
  const tok = token();
  if (tok && !ingress()) out.Authorization = `Bearer ${tok}`;
  return out;
}

async function failure(response) {
  let code = "error";
  let message = response.statusText;
  try {
    const body = await response.json();
    code = body.error || code;
    message = body.message || message;
  } catch { /* not JSON */ }
  return new ApiError(response.status, code, message);
}

export async function request(method, path, { params, json, body, type, signal } = {}) {
  const init = { method, headers: headers(), signal };
  if (json !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(json);
  } else if (body !== undefined) {
    init.headers["Content-Type"] = type || "text/plain";
    init.body = body;
  }
  const response = await fetch(apiUrl(path, params), init);
  if (!response.ok) {
    const err = await failure(response);
    if (response.status === 401) window.dispatchEvent(new CustomEvent("rufina:unauthorized"));
    throw err;
  }
  if (response.status === 204) return null;
  const kind = response.headers.get("Content-Type") || "";
  return kind.includes("json") ? response.json() : response.blob();
}

export const get = (path, params, signal) => request("GET", path, { params, signal });

// Server-Sent Events over fetch (EventSource cannot send the Authorization header).
export async function stream(path, params, onEvent, signal) {
  const response = await fetch(apiUrl(path, params), {
    headers: headers({ Accept: "text/event-stream" }),
    signal,
    cache: "no-store",
  });
  if (!response.ok) throw await failure(response);
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let event = "message";
      const data = [];
      for (const line of block.split("\n")) {
        if (line.startsWith("event:")) event = line.slice(6).trim();
        else if (line.startsWith("data:")) data.push(line.slice(5).trimStart());
      }
      if (data.length) onEvent(event, JSON.parse(data.join("\n")));
    }
  }
}

// A download (CSV export) with the token: fetched, then saved through a blob link.
export async function download(path, params, filename) {
  saveBlob(await request("GET", path, { params }), filename);
}

// A file the API answered (a GET's download, a POST's ZIP) saved under `filename`.
export function saveBlob(blob, filename) {
  const url = URL.createObjectURL(blob);
  const link = h("a", { href: url, download: filename, hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

// <input type="datetime-local"> value (browser time) -> ISO 8601 with zone.
export function isoFromLocal(value) {
  return value ? new Date(value).toISOString() : null;
}

export function localInput(date) {
  const pad = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

export function announce(text) {
  const status = document.getElementById("status");
  status.textContent = "";
  setTimeout(() => { status.textContent = text; }, 30);
}

// One plate form everywhere (the engine's display form, plate_formats.display_form): an Italian
// car "AB 123 CD", a motorcycle "AB 12345", anything else as read without spaces. `format` is the
// transit's (it_car, it_moto, ...); a plate without one (alerts, lists, requests) is laid out by
// its shape when it can only be an Italian car or motorcycle plate.
const PLATE_GROUPS = { it_car: [2, 3, 2], it_moto: [2, 5] };
const PLATE_SHAPES = { it_car: /^[A-HJ-NPR-TV-Z]{2}\d{3}[A-HJ-NPR-TV-Z]{2}$/, it_moto: /^[A-HJ-NPR-TV-Z]{2}\d{5}$/ };

export function formatPlate(plate, format) {
  const text = String(plate ?? "").toUpperCase().replace(/[\s.-]/g, "");
  const layout = format === undefined ? Object.keys(PLATE_SHAPES).find((f) => PLATE_SHAPES[f].test(text)) : format;
  const groups = PLATE_GROUPS[layout];
  if (!groups || text.length !== groups.reduce((a, b) => a + b, 0)) return text;
  let start = 0;
  return groups.map((size) => text.slice(start, (start += size))).join(" ");
}
