// The system page: engine, broker and Frigate, then each station's camera (GET /api/v1/system
// `cameras`, the engine's health): the offline ones first and marked, with since when and why;
// then each plate-reading station's read quality (its `read_quality`, docs/mqtt.md).
import { t, has, fmtNumber, fmtDuration, fmtTime } from "./i18n.js";
import { h, get } from "./util.js";

const REFRESH_MS = 10000;

// `kit`: the panel's shared pieces (app.js: errorBox, kpi).
export function systemPage(root, kit) {
  const out = h("div", { id: "system-out" }, h("p", {}, t("loading")));
  const yesNo = (ok, on, off) => h("span", { class: `badge ${ok ? "ok" : "bad"}` }, ok ? on : off);
  const ms = (v) => (v === null || v === undefined ? "—" : `${fmtNumber(v)} ms`);
  async function load() {
    const sys = await get("api/v1/system");
    out.replaceChildren(
      h("div", { class: "kpis" },
        kit.kpi(t("sys.queue"), fmtNumber(sys.queue)), kit.kpi(t("sys.p50"), ms(sys.latency_ms.p50)), kit.kpi(t("sys.p95"), ms(sys.latency_ms.p95)),
        kit.kpi(t("sys.today"), fmtNumber(sys.transits_today)), kit.kpi(t("sys.vehiclesToday"), fmtNumber(sys.vehicles_today))),
      camerasCard(sys.cameras || []),
      qualityCard(sys.read_quality || {}, sys.cameras || []),
      h("div", { class: "cols" },
        h("section", { class: "card", id: "sys-engine" }, h("h2", {}, t("sys.engine")), h("dl", { class: "facts" },
          fact(t("sys.version"), `${sys.engine.version} (${sys.engine.instance})`), fact(t("sys.uptime"), fmtDuration(sys.engine.uptime)),
          fact(t("sys.detector"), model(sys.engine.detector)), fact(t("sys.ocr"), model(sys.engine.ocr)), fact(t("sys.workers"), String(sys.engine.workers)),
          fact(t("sys.store"), sys.engine.store), fact(t("sys.retention"), String(sys.engine.retention_days)), fact(t("sys.stations"), String(sys.stations)))),
        h("section", { class: "card", id: "sys-broker" }, h("h2", {}, t("sys.broker")), h("dl", { class: "facts" },
          fact(t("sys.broker"), yesNo(sys.broker.connected, t("sys.connected"), t("sys.disconnected"))), fact("Host", `${sys.broker.host}:${sys.broker.port}`))),
        h("section", { class: "card", id: "sys-frigate" }, h("h2", {}, t("sys.frigate")), h("dl", { class: "facts" },
          fact(t("sys.frigate"), yesNo(sys.frigate.reachable, t("sys.reachable"), t("sys.unreachable"))),
          fact(t("sys.version"), sys.frigate.version || "—"),
          ...(sys.frigate.error ? [fact(t("sys.error"), sys.frigate.error)] : []), fact("URL", sys.frigate.url)))),
      h("details", { class: "card" }, h("summary", {}, t("sys.counters")), h("div", { class: "table-wrap" }, h("table", {},
        h("thead", {}, h("tr", {}, h("th", { scope: "col" }, t("sys.counter")), h("th", { scope: "col" }, t("sys.value")))),
        h("tbody", {}, Object.entries(sys.counters).sort().map(([k, v]) => h("tr", {}, h("td", {}, k), h("td", {}, fmtNumber(v)))))))));
  }
  const fail = (err) => out.replaceChildren(kit.errorBox(err));
  root.append(h("h1", {}, t("sys.title")), out);
  load().catch(fail);
  const timer = setInterval(() => load().catch(fail), REFRESH_MS);
  return () => clearInterval(timer);
}

// The cameras, as the API orders them (offline first, then by name), offline rows marked.
function camerasCard(cameras) {
  const offline = cameras.filter((c) => c.state === "offline").length;
  const head = h("p", { class: offline ? "notice bad" : "hint", id: "cameras-summary", role: "status" },
    offline ? t("cam.offlineCount", { n: offline, total: cameras.length }) : t("cam.allOnline", { total: cameras.length }));
  return h("section", { class: "card", id: "sys-cameras" }, h("h2", {}, t("cam.title")), head,
    h("div", { class: "table-wrap" }, h("table", { id: "cameras-table" },
      h("caption", { class: "sr-only" }, t("cam.caption")),
      h("thead", {}, h("tr", {}, [t("station"), t("cam.state"), t("cam.since"), t("cam.reason")].map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, cameras.map((c) => h("tr", { class: c.state === "offline" ? "offline" : null, "data-station": c.station, "data-state": c.state },
        h("th", { scope: "row" }, c.name, h("span", { class: "hint" }, ` · ${c.camera}`)),
        h("td", {}, h("span", { class: `badge ${c.state === "online" ? "ok" : c.state === "offline" ? "bad" : ""}` }, t(`cam.state.${c.state}`))),
        h("td", {}, h("time", { datetime: c.since }, fmtTime(c.since))),
        h("td", {}, c.reason ? t(`cam.reason.${c.reason}`) : c.state === "unknown" ? t("cam.reason.none") : "")))))));
}

// Each plate-reading station's share read in the last hour against its own normal: the ones
// reading well below it (`low`) first and marked, then by name; reasons in words, never a code.
function qualityCard(quality, cameras) {
  const names = Object.fromEntries(cameras.map((c) => [c.station, c.name]));
  const rows = Object.entries(quality)
    .map(([id, q]) => ({ id, name: names[id] || id, ...q }))
    .sort((a, b) => b.low - a.low || a.name.localeCompare(b.name));
  const low = rows.filter((r) => r.low).length;
  const head = h("p", { class: low ? "notice bad" : "hint", id: "quality-summary", role: "status" },
    low ? t("rq.lowCount", { n: low, total: rows.length }) : t("rq.allNormal", { total: rows.length }));
  const pct = (v) => `${fmtNumber(v * 100)}%`;
  return h("section", { class: "card", id: "sys-quality" }, h("h2", {}, t("rq.title")), head, h("p", { class: "hint" }, t("rq.hint")),
    h("div", { class: "table-wrap" }, h("table", { id: "quality-table" },
      h("caption", { class: "sr-only" }, t("rq.caption")),
      h("thead", {}, h("tr", {}, [t("station"), t("rq.share"), t("rq.normal"), t("rq.reason")].map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, rows.map((r) => h("tr", { class: r.low ? "low" : null, "data-station": r.id, "data-low": String(r.low) },
        h("th", { scope: "row" }, r.name, ...(r.low ? [" ", h("span", { class: "badge bad" }, t("rq.low"))] : [])),
        h("td", {}, r.share === null ? t("rq.noVehicles")
          : [h("strong", {}, pct(r.share)), h("span", { class: "hint" }, ` ${t("rq.ofVehicles", { n: fmtNumber(r.read), total: fmtNumber(r.vehicles) })}`)]),
        h("td", {}, r.normal_share === null ? h("span", { class: "hint" }, t("rq.noNormal")) : pct(r.normal_share)),
        h("td", {}, r.commonest_unread_reason ? reasonText(r.commonest_unread_reason) : "—")))))));
}

// The commonest reason vehicles went unread, and for an unreadable plate what to check.
function reasonText(code) {
  const key = `rq.reason.${code}`;
  const text = t(has(key) ? key : "rq.reason.other");
  return code === "no_plate" ? [text, h("span", { class: "hint check" }, t("rq.check.no_plate"))] : text;
}

// A model path shows its last two parts (the whole path as a tooltip).
function model(path) {
  return h("span", { title: path }, String(path).split("/").slice(-2).join("/"));
}

function fact(key, value) {
  return [h("dt", {}, key), h("dd", {}, value)];
}
