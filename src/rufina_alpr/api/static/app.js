// The operator panel: hash routes (#/live, #/search, ...), each page a function drawing into <main>.
import { t, lang, setLang, fmtTime, fmtNumber, has } from "./i18n.js";
import { h, get, request, stream, download, ingress, token, setToken, isoFromLocal, localInput, announce, formatPlate, ApiError } from "./util.js";
import { hbars, columns, legend, paintLegends } from "./charts.js";
import { AlertQueue } from "./alerts.js";
import { privacyPage, reminderBadge } from "./privacy.js";
import { investigationsPage, searchTools } from "./investigations.js";
import { routePage } from "./route.js";
import { auditPage } from "./audit.js";
import { systemPage } from "./system.js";

const RANK = { viewer: 0, operator: 1, admin: 2 };
const PAGES = [
  { id: "live", role: "operator", draw: livePage },
  { id: "search", role: "operator", draw: searchPage },
  { id: "route", role: "operator", draw: (root, query) => routePage(root, query, PAGE_KIT) },
  { id: "hotlists", role: "operator", draw: hotlistsPage },
  { id: "investigations", role: "operator", draw: (root) => investigationsPage(root, INVESTIGATIONS_KIT) },
  { id: "traffic", role: "viewer", draw: trafficPage },
  { id: "audit", role: "admin", draw: (root) => auditPage(root, PAGE_KIT) },
  { id: "privacy", role: "admin", draw: (root) => privacyPage(root, PRIVACY_KIT) },
  { id: "system", role: "viewer", draw: (root) => systemPage(root, PAGE_KIT) },
];
const VEHICLES = ["car", "motorcycle", "bus", "truck", "bicycle", "van"];
const KINDS = ["stolen", "police", "uninsured", "inspection", "watch", "authorised"];
const ACTIONS = ["alert", "stop_and_check", "allow"];
const REASON_KEY = "rufina.reason";
const REMINDER_EVERY = 300000; // ms: a deadline approaches while the panel stays open

const state = { me: null, stations: [], stationName: new Map(), map: null, cleanup: null, privacy: null, reminderTimer: null };
const main = () => document.getElementById("main");

// ------------------------------------------------------------------ shared pieces
function label(text, control, hint) {
  return h("label", {}, text, control, hint ? h("span", { class: "hint" }, hint) : null);
}

function reasonInput(id) {
  let remembered = "";
  try { remembered = window.sessionStorage.getItem(REASON_KEY) || ""; } catch { /* storage off */ }
  return h("input", { id, name: "reason", required: true, minlength: 3, maxlength: 500, value: remembered, autocomplete: "off" });
}

function remember(reason) {
  try { window.sessionStorage.setItem(REASON_KEY, reason); } catch { /* storage off */ }
}

function vehicleName(v) {
  return has(`veh.${v}`) ? t(`veh.${v}`) : v;
}

function directionName(d) {
  return t(`dir.${d || "unknown"}`);
}

function stationName(id) {
  return state.stationName.get(id) || id;
}

// Every plate the panel shows, in the engine's display form (util.formatPlate).
function plateEl(text, format) {
  return h("span", { class: "plate" }, formatPlate(text, format));
}

function hotBadge(hot) {
  if (!hot) return "";
  const cls = hot.action === "allow" ? "allow" : hot.action === "stop_and_check" ? "check" : "hot";
  return h("span", { class: `badge ${cls}`, title: `${t(`match.${hot.match}`)} ${fmtNumber(hot.score * 100)}%` }, hot.list_name || hot.list);
}

function confidenceEl(transit) {
  const text = `${fmtNumber(transit.confidence * 100)}%`;
  return transit.low_confidence ? h("span", { class: "badge low" }, text) : text;
}

function cropEl(transit, crops) {
  const src = transit.crop || (crops && crops[transit.id]);
  return src ? h("img", { class: "crop", src, alt: `${t("crop")} ${formatPlate(transit.plate, transit.format)}` }) : "—";
}

function errorBox(err) {
  const text = err instanceof ApiError && err.status === 403 ? t("err.forbidden") : t("err.generic", { msg: err.message });
  return h("p", { class: "error", role: "alert" }, text);
}

function stationSelect(id, { lprOnly = true, multiple = false } = {}) {
  const select = h("select", { id, name: "station", multiple },
    multiple ? null : h("option", { value: "" }, t("allStations")),
    state.stations.filter((st) => !lprOnly || st.kind === "lpr").map((st) => h("option", { value: st.id }, st.name)));
  return select;
}

function transitTable(rows, crops, { caption, withRoute = true } = {}) {
  return h("div", { class: "table-wrap" }, h("table", {},
    h("caption", {}, caption),
    h("thead", {}, h("tr", {},
      h("th", { scope: "col" }, t("crop")), h("th", { scope: "col" }, t("plate")), h("th", { scope: "col" }, t("station")),
      h("th", { scope: "col" }, t("time")), h("th", { scope: "col" }, t("vehicle")), h("th", { scope: "col" }, t("confidence")),
      h("th", { scope: "col" }, t("hotlist")))),
    h("tbody", {}, rows.map((tr) => transitRow(tr, crops, withRoute)))));
}

function transitRow(tr, crops, withRoute = true) {
  const plate = formatPlate(tr.plate, tr.format);
  return h("tr", { class: tr.hotlist && tr.hotlist.action !== "allow" ? "hit" : null, "data-transit": tr.id, "data-plate": tr.plate },
    h("td", {}, cropEl(tr, crops)),
    h("td", {}, withRoute ? h("a", { href: `#/route?plate=${encodeURIComponent(tr.plate)}`, "aria-label": `${t("route")} ${plate}` }, plateEl(tr.plate, tr.format)) : plateEl(tr.plate, tr.format)),
    h("td", { "data-station": tr.station }, tr.station_name || stationName(tr.station)),
    h("td", {}, h("time", { datetime: tr.time }, fmtTime(tr.time))),
    h("td", {}, vehicleName(tr.vehicle)),
    h("td", {}, confidenceEl(tr)),
    h("td", {}, hotBadge(tr.hotlist)));
}

// ------------------------------------------------------------------ live
function livePage(root) {
  const list = h("tbody", {});
  const info = h("p", { class: "live-state", role: "status" });
  const count = h("span", { class: "hint" });
  const table = h("div", { class: "table-wrap", hidden: true }, h("table", { id: "live-table" },
    h("caption", {}, t("live.caption")),
    h("thead", {}, h("tr", {},
      h("th", { scope: "col" }, t("crop")), h("th", { scope: "col" }, t("plate")), h("th", { scope: "col" }, t("station")),
      h("th", { scope: "col" }, t("time")), h("th", { scope: "col" }, t("vehicle")), h("th", { scope: "col" }, t("confidence")),
      h("th", { scope: "col" }, t("hotlist")))), list));
  const reason = reasonInput("live-reason");
  const startButton = h("button", { type: "submit" }, t("live.start"));
  const form = h("form", { class: "card grid", id: "live-form" },
    label(t("reason"), reason, t("reasonHint")), startButton);
  const shown = new Set();
  const alertsBox = document.getElementById("alerts");
  let controller = null;
  let stopped = false;
  let queue = null;

  function add(tr, atTop = true) {
    if (shown.has(tr.id)) return;
    shown.add(tr.id);
    const row = transitRow(tr, null);
    if (atTop) list.prepend(row); else list.append(row);
    while (list.children.length > 200) list.lastElementChild.remove();
    count.textContent = t("live.count", { n: list.children.length });
  }

  async function run(why) {
    let delay = 1000;
    while (!stopped) {
      controller = new AbortController();
      try {
        await stream("api/v1/live", { reason: why, backlog: 20 }, (event, data) => {
          if (event === "backlog") {
            for (const tr of data.transits) add(tr, false);
            info.textContent = t("live.connected");
            info.className = "live-state pill-on";
            delay = 1000;
            // The queue, once the stream listens (what changes from now on, it sends); again
            // after a reconnection, which may have missed some.
            queue.load();
          } else if (event === "alert") {
            queue.update(data);
          } else if (event === "transit") {
            add(data);
            announce(`${formatPlate(data.plate, data.format)} – ${data.station_name}`);
          }
        }, controller.signal);
      } catch (err) {
        if (stopped || err.name === "AbortError") return;
        if (err instanceof ApiError && err.status < 500) {
          info.replaceChildren(errorBox(err));
          form.hidden = false;
          return;
        }
      }
      if (stopped) return;
      info.textContent = t("live.reconnecting");
      info.className = "live-state pill-off";
      await new Promise((resolve) => setTimeout(resolve, delay));
      delay = Math.min(delay * 2, 15000);
    }
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (!form.reportValidity()) return;
    remember(reason.value.trim());
    form.hidden = true;
    table.hidden = false;
    info.textContent = t("loading");
    queue = new AlertQueue(reason.value.trim(), { stationName });
    alertsBox.replaceChildren(queue.root);
    run(reason.value.trim());
  });
  root.append(h("h1", {}, t("live.title")), form, h("div", { class: "stack" }, info, count), table);
  if (reason.value.trim().length >= 3) form.requestSubmit();
  return () => { stopped = true; if (controller) controller.abort(); alertsBox.replaceChildren(); };
}

// ------------------------------------------------------------------ search
function searchPage(root) {
  const plate = h("input", { id: "search-plate", name: "plate", maxlength: 16, autocomplete: "off", spellcheck: "false", "aria-describedby": "search-hint" });
  const station = stationSelect("search-station");
  const since = h("input", { id: "search-since", type: "datetime-local", value: localInput(new Date(Date.now() - 86400000)) });
  const until = h("input", { id: "search-until", type: "datetime-local" });
  const vehicle = h("select", { id: "search-vehicle" }, h("option", { value: "" }, t("anyVehicle")), VEHICLES.map((v) => h("option", { value: v }, vehicleName(v))));
  const reason = reasonInput("search-reason");
  const caseNumber = h("input", { id: "search-case", maxlength: 64, autocomplete: "off" });
  const out = h("div", { id: "search-results", "aria-live": "polite" });
  const form = h("form", { class: "card grid", id: "search-form" },
    label(t("plate"), plate), label(t("station"), station), label(t("since"), since), label(t("until"), until),
    label(t("vehicle"), vehicle), label(t("reason"), reason, t("reasonHint")), label(t("caseNumber"), caseNumber),
    h("button", { type: "submit" }, t("search")));
  let params = null;
  let rows = [];
  let crops = {};

  async function load(offset) {
    const page = await get("api/v1/transits", { ...params, offset, limit: 50 });
    const ids = page.transits.map((x) => x.id);
    if (ids.length) Object.assign(crops, (await get("api/v1/crops", { id: ids, reason: params.reason, case_number: params.case_number })).crops);
    rows = rows.concat(page.transits);
    const table = rows.length ? transitTable(rows, crops, { caption: t("search.caption") }) : null;
    out.replaceChildren(...[
      h("p", { role: "status" }, t("search.found", { n: rows.length })),
      table ? searchTools(INVESTIGATIONS_KIT, params, rows, table) : null, // evidence, holds (investigations.js)
      table || h("p", {}, t("none")),
      page.next_offset !== null ? h("button", { type: "button", class: "secondary", onclick: () => load(page.next_offset).catch(show) }, t("more")) : null,
    ].filter(Boolean));
  }
  const show = (err) => out.replaceChildren(errorBox(err));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (!form.reportValidity()) return;
    remember(reason.value.trim());
    params = {
      reason: reason.value.trim(), case_number: caseNumber.value.trim(), plate: plate.value.trim(),
      // An open end is now, pinned: the next pages and the evidence export cover what was shown.
      station: station.value, since: isoFromLocal(since.value), until: isoFromLocal(until.value) || new Date().toISOString(), vehicle: vehicle.value,
    };
    rows = [];
    crops = {};
    out.replaceChildren(h("p", {}, t("loading")));
    load(0).catch(show);
  });
  root.append(h("h1", {}, t("search.title")), h("p", { class: "hint", id: "search-hint" }, t("search.hint")), form, out);
}

// ------------------------------------------------------------------ hotlists
function hotlistsPage(root) {
  const listsBox = h("div", { id: "hotlists" });
  const detail = h("div", { id: "hotlist-detail" });
  const message = h("p", { role: "status", class: "hint" });
  const newId = h("input", { id: "hl-id", required: true, pattern: "[a-z0-9][a-z0-9_\\-]{0,63}", maxlength: 64, autocomplete: "off" });
  const newName = h("input", { id: "hl-name", required: true, maxlength: 120 });
  const newKind = h("select", { id: "hl-kind" }, KINDS.map((k) => h("option", { value: k }, t(`kind.${k}`))));
  const newAction = h("select", { id: "hl-action" }, h("option", { value: "" }, "—"), ACTIONS.map((a) => h("option", { value: a }, t(`action.${a}`))));
  const createForm = h("form", { class: "card grid", id: "hotlist-create" },
    h("h2", {}, t("hot.new")), label(t("hot.id"), newId), label(t("hot.name"), newName), label(t("hot.kind"), newKind),
    label(t("hot.action"), newAction), h("button", { type: "submit" }, t("hot.create")));
  const fail = (err) => { message.replaceChildren(errorBox(err)); };

  async function refresh() {
    const { hotlists } = await get("api/v1/hotlists");
    listsBox.replaceChildren(hotlists.length ? h("div", { class: "table-wrap" }, h("table", {},
      h("caption", {}, t("hot.lists")),
      h("thead", {}, h("tr", {}, [t("hot.name"), t("hot.kind"), t("hot.action"), t("hot.entries"), t("hot.expired"), t("actions")].map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, hotlists.map((list) => h("tr", { "data-list": list.id },
        h("td", {}, list.name, " ", h("span", { class: "hint" }, `(${list.id})`)), h("td", {}, t(`kind.${list.kind}`)),
        h("td", {}, t(`action.${list.action}`)), h("td", {}, fmtNumber(list.entries)), h("td", {}, fmtNumber(list.expired)),
        h("td", {}, h("button", { type: "button", class: "secondary", onclick: () => openList(list), "aria-label": `${t("hot.open")} ${list.name}` }, t("hot.open")))))))) : h("p", {}, t("hot.pick")));
    return hotlists;
  }

  function openList(list) {
    const reason = reasonInput("hl-reason");
    const entries = h("div", { id: "hotlist-entries" });
    const plate = h("input", { id: "hl-plate", required: true, minlength: 2, maxlength: 20, autocomplete: "off", spellcheck: "false" });
    const why = h("input", { id: "hl-entry-reason", required: true, maxlength: 500 });
    const expires = h("input", { id: "hl-expires", type: "datetime-local" });
    const notes = h("input", { id: "hl-notes", maxlength: 2000 });
    const file = h("input", { id: "hl-file", type: "file", accept: ".csv,text/csv,text/plain", required: true });
    const replace = h("input", { id: "hl-replace", type: "checkbox" });
    const replaceEntry = h("input", { id: "hl-replace-entry", type: "checkbox" });
    const reasonForm = h("form", { class: "grid", id: "hotlist-reason" },
      label(t("reason"), reason, t("hot.entriesReason")), h("button", { type: "submit", class: "secondary" }, t("hot.show")),
      h("button", { type: "button", class: "secondary", onclick: () => withReason(() => download(`api/v1/hotlists/${encodeURIComponent(list.id)}/export`, { reason: reason.value.trim() }, `hotlist-${list.id}.csv`)) }, t("hot.export")));
    const addForm = h("form", { class: "grid", id: "hotlist-add" },
      h("h3", {}, t("hot.add")), label(t("plate"), plate), label(t("hot.entryReason"), why), label(t("hot.expires"), expires),
      label(t("hot.notes"), notes), h("label", { class: "inline" }, replaceEntry, t("hot.replaceEntry")),
      h("button", { type: "submit" }, t("hot.add")));
    const importForm = h("form", { class: "grid", id: "hotlist-import" },
      h("h3", {}, t("hot.import")), label(t("hot.file"), file), h("label", { class: "inline" }, replace, t("hot.replace")),
      h("button", { type: "submit" }, t("hot.import")));

    function withReason(action) {
      if (!reasonForm.reportValidity()) return;
      remember(reason.value.trim());
      action().catch(fail);
    }
    async function showEntries() {
      const body = await get(`api/v1/hotlists/${encodeURIComponent(list.id)}/entries`, { reason: reason.value.trim(), include_expired: true, limit: 500 });
      const now = Date.now();
      entries.replaceChildren(body.entries.length ? h("div", { class: "table-wrap" }, h("table", {},
        h("caption", {}, t("hot.entriesOf", { name: list.name })),
        h("thead", {}, h("tr", {}, [t("plate"), t("hot.entryReason"), t("hot.expires"), t("hot.notes"), t("hot.addedBy"), t("actions")].map((c) => h("th", { scope: "col" }, c)))),
        h("tbody", {}, body.entries.map((entry) => h("tr", { "data-plate": entry.plate },
          h("td", {}, plateEl(entry.plate)), h("td", {}, entry.reason),
          h("td", {}, entry.expires_at ? h("span", { class: new Date(entry.expires_at) < now ? "badge bad" : "" }, fmtTime(entry.expires_at)) : t("hot.never")),
          h("td", {}, entry.notes || ""), h("td", {}, entry.added_by),
          h("td", {}, h("button", { type: "button", class: "danger", "aria-label": `${t("hot.remove")} ${formatPlate(entry.plate)}`, onclick: () => withReason(async () => {
            await request("DELETE", `api/v1/hotlists/${encodeURIComponent(list.id)}/entries/${encodeURIComponent(entry.plate)}`, { params: { reason: reason.value.trim() } });
            message.textContent = t("hot.removed", { plate: formatPlate(entry.plate) });
            await refresh();
            await showEntries();
          }) }, t("hot.remove")))))))) : h("p", {}, t("none")));
    }
    reasonForm.addEventListener("submit", (e) => { e.preventDefault(); withReason(showEntries); });
    addForm.addEventListener("submit", (e) => {
      e.preventDefault();
      if (!addForm.reportValidity()) return;
      request("POST", `api/v1/hotlists/${encodeURIComponent(list.id)}/entries`, {
        json: { plate: plate.value.trim(), reason: why.value.trim(), expires_at: isoFromLocal(expires.value), notes: notes.value.trim() || null,
          ...(replaceEntry.checked ? { replace: true } : {}) },
      }).then(async (entry) => {
        message.textContent = t("hot.added", { plate: formatPlate(entry.plate) });
        announce(message.textContent);
        addForm.reset();
        await refresh();
        if (reason.value.trim().length >= 3) await showEntries();
      }).catch((err) => fail(err instanceof ApiError && err.status === 409 ? new Error(t("hot.listed")) : err));
    });
    importForm.addEventListener("submit", (e) => {
      e.preventDefault();
      if (!importForm.reportValidity() || !file.files.length) return;
      file.files[0].text().then((text) => request("POST", `api/v1/hotlists/${encodeURIComponent(list.id)}/import`, {
        params: { replace: replace.checked, reason: reason.value.trim() }, body: text, type: "text/csv",
      })).then(async (report) => {
        message.textContent = t("hot.imported", { added: report.added, updated: report.updated, rejected: report.rejected.length });
        importForm.reset();
        await refresh();
        if (reason.value.trim().length >= 3) await showEntries();
      }).catch(fail);
    });
    detail.replaceChildren(h("section", { class: "card", "data-list": list.id },
      h("h2", {}, `${list.name} — ${t(`kind.${list.kind}`)}`), reasonForm, entries, h("div", { class: "cols" }, addForm, importForm)));
    plate.focus();
  }

  createForm.addEventListener("submit", (e) => {
    e.preventDefault();
    if (!createForm.reportValidity()) return;
    request("POST", "api/v1/hotlists", { json: { id: newId.value.trim(), name: newName.value.trim(), kind: newKind.value, action: newAction.value || null } })
      .then(async (list) => {
        message.textContent = t("hot.created");
        createForm.reset();
        await refresh();
        openList(list);
      }).catch(fail);
  });
  root.append(h("h1", {}, t("hot.title")), message, h("div", { class: "cols" }, h("div", { class: "card" }, listsBox), createForm), detail);
  refresh().catch(fail);
}

// ------------------------------------------------------------------ traffic
function trafficPage(root) {
  const period = h("select", { id: "traffic-period" }, h("option", { value: "1h" }, t("traffic.hour")), h("option", { value: "1d" }, t("traffic.day")));
  const day = new Date();
  const since = h("input", { id: "traffic-since", type: "date", value: localInput(new Date(day.getFullYear(), day.getMonth(), day.getDate())).slice(0, 10) });
  const until = h("input", { id: "traffic-until", type: "date" });
  const station = stationSelect("traffic-station", { lprOnly: false });
  const out = h("div", { id: "traffic-out" });
  const csv = h("button", { type: "button", class: "secondary", id: "traffic-csv" }, t("traffic.csv"));
  const form = h("form", { class: "card grid", id: "traffic-form" },
    label(t("traffic.period"), period), label(t("since"), since), label(t("until"), until), label(t("station"), station),
    h("button", { type: "submit" }, t("traffic.show")), csv);

  function window_() {
    const start = new Date(`${since.value}T00:00`);
    const end = until.value ? new Date(`${until.value}T00:00`) : new Date(start.getTime() + (period.value === "1d" ? 7 : 1) * 86400000);
    if (end <= start) end.setTime(start.getTime() + 86400000);
    return { period: period.value, since: start.toISOString(), until: end.toISOString(), station: station.value };
  }
  async function load() {
    const params = window_();
    const [body, unique] = await Promise.all([
      get("api/v1/traffic", { ...params, by: "vehicle,direction" }),
      get("api/v1/traffic/unique", {}),
    ]);
    const perStation = new Map();
    const perBucket = new Map();
    const perClass = new Map();
    const perDirection = new Map();
    let total = 0;
    for (const row of body.counts) {
      total += row.count;
      perStation.set(row.station, (perStation.get(row.station) || 0) + row.count);
      const bucket = perBucket.get(row.start) || {};
      bucket[row.vehicle] = (bucket[row.vehicle] || 0) + row.count;
      perBucket.set(row.start, bucket);
      perClass.set(row.vehicle, (perClass.get(row.vehicle) || 0) + row.count);
      const dir = row.direction || "unknown";
      perDirection.set(dir, (perDirection.get(dir) || 0) + row.count);
    }
    // Every bucket of the window, empty ones too.
    const step = params.period === "1d" ? 86400000 : 3600000;
    const buckets = [];
    const seen = new Map([...perBucket].map(([k, v]) => [new Date(k).getTime(), v]));
    for (let at = new Date(params.since).getTime(); at < new Date(params.until).getTime() && buckets.length < 400; at += step) {
      const d = new Date(at);
      buckets.push({ label: params.period === "1d" ? d.toLocaleDateString(lang === "it" ? "it-IT" : "en-GB", { day: "2-digit", month: "2-digit" }) : `${String(d.getHours()).padStart(2, "0")}`, parts: seen.get(at) || {} });
    }
    const classes = [...perClass.keys()].sort((a, b) => perClass.get(b) - perClass.get(a));
    const yesterday = unique.days.filter((d) => d.station === "*").map((d) => d.vehicles);
    const stationRows = [...perStation].sort((a, b) => b[1] - a[1]).map(([id, value]) => ({ label: stationName(id), value }));
    out.replaceChildren(
      h("div", { class: "kpis" },
        kpi(t("traffic.total"), fmtNumber(total)), kpi(t("traffic.stations"), fmtNumber(perStation.size)),
        kpi(t("traffic.unique"), yesterday.length ? fmtNumber(yesterday[yesterday.length - 1]) : "—")),
      h("div", { class: "cols" },
        h("section", { class: "card chart" }, h("h2", {}, t("traffic.overTime")), legend(classes, vehicleName),
          columns(buckets, classes, { title: t("traffic.overTime"), labelEvery: buckets.length > 24 ? Math.ceil(buckets.length / 12) : 1 })),
        h("section", { class: "card chart" }, h("h2", {}, t("traffic.byStation")),
          stationRows.length ? hbars(stationRows, { title: t("traffic.byStation") }) : h("p", {}, t("none")))),
      h("div", { class: "cols" },
        h("section", { class: "card chart" }, h("h2", {}, t("traffic.classes")),
          classes.length ? hbars(classes.map((c, i) => ({ label: vehicleName(c), value: perClass.get(c), color: ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00"][i % 6] })), { title: t("traffic.classes") }) : h("p", {}, t("none"))),
        h("section", { class: "card chart" }, h("h2", {}, t("traffic.directions")),
          perDirection.size ? hbars([...perDirection].map(([d, v]) => ({ label: directionName(d), value: v, color: "#009E73" })), { title: t("traffic.directions") }) : h("p", {}, t("none")))),
      h("details", { class: "card" }, h("summary", {}, t("traffic.table")), h("div", { class: "table-wrap" }, h("table", {},
        h("thead", {}, h("tr", {}, [t("station"), t("time"), t("vehicle"), t("direction"), t("traffic.count")].map((c) => h("th", { scope: "col" }, c)))),
        h("tbody", {}, body.counts.slice(0, 500).map((row) => h("tr", {},
          h("td", {}, stationName(row.station)), h("td", {}, fmtTime(row.start)), h("td", {}, vehicleName(row.vehicle)),
          h("td", {}, directionName(row.direction)), h("td", {}, fmtNumber(row.count)))))))));
    paintLegends(out);
  }
  csv.addEventListener("click", () => {
    const params = window_();
    download("api/v1/traffic", { ...params, format: "csv" }, `traffic-${params.period}.csv`).catch((err) => out.replaceChildren(errorBox(err)));
  });
  form.addEventListener("submit", (e) => { e.preventDefault(); load().catch((err) => out.replaceChildren(errorBox(err))); });
  root.append(h("h1", {}, t("traffic.title")), form, out);
  load().catch((err) => out.replaceChildren(errorBox(err)));
}

function kpi(key, value) {
  return h("div", { class: "kpi" }, h("div", { class: "v" }, value), h("div", { class: "k" }, key));
}

// ------------------------------------------------------------------ privacy (privacy.js)
const PRIVACY_KIT = { label, reasonInput, remember, errorBox, plateEl, stationName, refreshReminder };
// The route, audit and system pages' (route.js, audit.js, system.js).
const PAGE_KIT = {
  label, reasonInput, remember, errorBox, plateEl, stationName, cropEl, hotBadge, directionName, kpi,
  stations: () => state.stations, map: () => state.map, isAdmin: () => RANK[state.me.role] >= RANK.admin,
};
const INVESTIGATIONS_KIT = { label, reasonInput, remember, errorBox, plateEl, stationName, stationSelect };

// Admins only: the health's privacy section (no plate in it), then the Privacy link's badge.
async function refreshReminder() {
  if (!state.me || RANK[state.me.role] < RANK.admin) { state.privacy = null; return null; }
  state.privacy = (await get("api/health")).privacy || null;
  paintReminder();
  return state.privacy;
}

function paintReminder() {
  const link = document.querySelector("#nav a[data-page=privacy]");
  if (!link) return;
  link.querySelector(".nav-badge")?.remove();
  const badge = reminderBadge(state.privacy);
  if (badge) link.append(badge);
}

// ------------------------------------------------------------------ shell
function allowed(page) {
  return state.me && RANK[state.me.role] >= RANK[page.role];
}

function drawChrome() {
  document.documentElement.lang = lang;
  document.getElementById("skip").textContent = t("skip");
  const nav = document.getElementById("nav");
  nav.setAttribute("aria-label", t("sections"));
  const current = currentRoute().id;
  nav.replaceChildren(...PAGES.filter(allowed).map((page) =>
    h("a", { href: `#/${page.id}`, "aria-current": page.id === current ? "page" : null, "data-page": page.id }, t(`nav.${page.id}`))));
  paintReminder();
  const langButton = document.getElementById("lang");
  langButton.textContent = t("lang");
  langButton.setAttribute("aria-label", t("langLabel"));
  const logout = document.getElementById("logout");
  logout.textContent = t("logout");
  logout.hidden = ingress() || !state.me;
  document.getElementById("who").textContent = state.me ? `${state.me.name} · ${t(`role.${state.me.role}`)}` : "";
}

function currentRoute() {
  const [path, search] = (window.location.hash.replace(/^#\/?/, "") || "").split("?");
  const fallback = state.me && RANK[state.me.role] >= RANK.operator ? "live" : "system";
  const page = PAGES.find((p) => p.id === path && allowed(p)) || PAGES.find((p) => p.id === fallback);
  return { id: page.id, page, query: new URLSearchParams(search || "") };
}

function render() {
  if (state.cleanup) { state.cleanup(); state.cleanup = null; }
  const root = main();
  root.replaceChildren();
  if (!state.me) { drawChrome(); loginPage(root); return; }
  const route = currentRoute();
  drawChrome();
  document.title = `${t(`nav.${route.id}`)} · Rufina ALPR`;
  state.cleanup = route.page.draw(root, route.query) || null;
  root.focus({ preventScroll: true });
}

function loginPage(root) {
  const input = h("input", { id: "login-token", type: "password", required: true, autocomplete: "current-password" });
  const message = h("p", { role: "alert", class: "error" });
  const form = h("form", { class: "card login", id: "login-form" },
    h("h1", {}, t("login.title")), label(t("login.token"), input, t("login.hint")), message, h("button", { type: "submit" }, t("login.submit")));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (!form.reportValidity()) return;
    setToken(input.value.trim());
    if (!(await start())) { setToken(null); message.textContent = t("login.bad"); input.focus(); }
  });
  root.append(form);
  input.focus();
}

async function start() {
  try {
    state.me = await get("api/v1/me");
    const { stations, map } = await get("api/v1/stations");
    state.stations = stations;
    state.map = map || null;
    state.stationName = new Map(stations.map((st) => [st.id, st.name]));
  } catch {
    state.me = null;
    return false;
  }
  render();
  refreshReminder().catch(() => {});
  if (!state.reminderTimer) state.reminderTimer = setInterval(() => refreshReminder().catch(() => {}), REMINDER_EVERY);
  return true;
}

document.getElementById("lang").addEventListener("click", () => { setLang(lang === "it" ? "en" : "it"); render(); });
document.getElementById("logout").addEventListener("click", () => {
  setToken(null);
  state.me = null;
  render();
});
window.addEventListener("hashchange", render);
window.addEventListener("rufina:unauthorized", () => {
  if (ingress() || !state.me) return;
  setToken(null);
  state.me = null;
  render();
});
setLang(lang);
if (ingress() || token()) start().then((ok) => { if (!ok) render(); });
else render();
