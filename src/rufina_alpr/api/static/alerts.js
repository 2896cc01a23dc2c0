// The alert queue: open alerts, the most urgent first (`compare`), each with its handling
// (acknowledge in one click, accept, reject with a reason, close with the outcome). The queue
// takes a bounded share of the screen (it scrolls inside) and folds to a one-line count by
// priority; the operator's choice is kept in localStorage.
// Loaded once from GET /api/v1/alerts when the live view opens, then kept current by the live
// stream's `alert` events (the audited list is not polled).
// An impossible journey shows both sightings (station, time, plate crop): the other transit
// (GET /api/v1/transits/{id}) and both crops (GET /api/v1/crops, one audited batch) are asked
// once per alert, when its row is first drawn, with the stream's reason, and kept in memory.
import { t, fmtTime, fmtDuration } from "./i18n.js";
import { h, get, request, download, announce, isoFromLocal, localInput, formatPlate, ApiError } from "./util.js";

export const REJECT_REASONS = ["misread", "wrong_vehicle", "plate_cloned", "list_out_of_date", "other"];
export const OUTCOMES = ["stopped_checked", "not_found", "fined", "seized", "other"];
const OPEN_STATES = new Set(["new", "acknowledged", "accepted"]);
const STATE_RANK = { new: 0, acknowledged: 1, accepted: 2, rejected: 3, closed: 3 };
const STATUS_RANK = { provisional: 0, confirmed: 1, withdrawn: 1 };
const NOTICE_MS = 12000;
const FOLDED_KEY = "rufina.alerts.folded";
// At one priority: a list hit before a gate's refusal before an impossible journey; confirmed
// before in view (provisional); to review last.
const KIND_RANK = { hotlist: 0, not_authorised: 1, impossible_journey: 2 };

// The newest thing that happened to an alert (raised, settled, handled).
function lastChange(alert) {
  return Math.max(...[alert.raised_at, alert.settled_at, alert.handled_at].filter(Boolean).map((v) => new Date(v).getTime()));
}

// Whether `next` is no older than `known` (the list and the stream may cross).
function newer(next, known) {
  const a = lastChange(next);
  const b = lastChange(known);
  if (a !== b) return a > b;
  const rank = (x) => (STATE_RANK[x.state] ?? 0) * 2 + (STATUS_RANK[x.status] ?? 0);
  return rank(next) >= rank(known);
}

export function isOpen(alert) {
  return alert.status !== "withdrawn" && OPEN_STATES.has(alert.state);
}

// Priority (1 most urgent: the list's) first, then the kind, confirmed before provisional, to
// review last, then the newest, then the id.
export function compare(a, b) {
  const rank = (x) => [x.priority, KIND_RANK[x.kind] ?? 3, x.status === "provisional" ? 1 : 0, x.action === "review" ? 1 : 0];
  const [ra, rb] = [rank(a), rank(b)];
  const first = ra.findIndex((v, i) => v !== rb[i]);
  if (first >= 0) return ra[first] - rb[first];
  return (new Date(b.time) - new Date(a.time)) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

function folded() {
  try { return window.localStorage.getItem(FOLDED_KEY) === "1"; } catch { return false; }
}

function kindName(alert) {
  if (alert.kind === "hotlist" && alert.action === "stop_and_check") return t("alert.check");
  return t(`aq.kind.${alert.kind}`);
}

function plateEl(text) {
  return h("span", { class: "plate" }, formatPlate(text));
}

// One queue, drawn into `root`; `reason` is the one the operator gave for the live stream.
export class AlertQueue {
  constructor(reason, { stationName = (id) => id } = {}) {
    this.reason = reason;
    this.stationName = stationName;
    this.alerts = new Map(); // id -> alert (open ones only)
    this.known = new Map(); // id -> the newest version seen, open or not
    this.journeys = new Map(); // id of an impossible-journey alert -> its two sightings (asked once)
    this.list = h("ol", { class: "queue", id: "alert-queue-list", "aria-labelledby": "alert-queue-title" });
    this.empty = h("p", { class: "hint", id: "alert-queue-empty" }, t("aq.empty"));
    this.notices = h("div", { class: "notices", id: "alert-notices", role: "status", "aria-live": "polite" });
    this.state = h("p", { class: "hint", id: "alert-queue-state" });
    this.summary = h("span", { class: "queue-summary", id: "alert-queue-summary", role: "status" });
    this.toggle = h("button", { type: "button", class: "ghost queue-toggle", id: "alert-queue-toggle", "aria-controls": "alert-queue-body" });
    this.toggle.addEventListener("click", () => this.fold(this.toggle.getAttribute("aria-expanded") === "true"));
    this.body = h("div", { class: "queue-body", id: "alert-queue-body" }, this.state, this.notices, this.list, this.empty, this.reportForm());
    this.root = h("section", { class: "card queue-card", id: "alert-queue", "aria-labelledby": "alert-queue-title" },
      h("div", { class: "queue-head" }, h("h2", { id: "alert-queue-title" }, t("aq.title")), this.summary, this.toggle),
      this.body);
    this.loaded = false;
    this.fold(folded(), false);
  }

  // Fold the queue to its one-line count (`on`), or open it; remembered when the operator chose.
  fold(on, remember = true) {
    this.root.classList.toggle("folded", on);
    this.body.hidden = on;
    this.toggle.setAttribute("aria-expanded", on ? "false" : "true");
    this.toggle.textContent = on ? t("aq.unfold") : t("aq.fold");
    if (remember) {
      try { window.localStorage.setItem(FOLDED_KEY, on ? "1" : "0"); } catch { /* storage off */ }
    }
  }

  // "3 open: P1 1 · P2 2", also while folded.
  paintSummary(rows) {
    const counts = new Map();
    for (const alert of rows) counts.set(alert.priority, (counts.get(alert.priority) || 0) + 1);
    const parts = [...counts].sort((a, b) => a[0] - b[0]).map(([p, n]) => h("span", { class: "badge prio", "data-priority": p }, `P${p}: ${n}`));
    this.summary.replaceChildren(t("aq.summary", { n: rows.length }), ...parts);
  }

  async load() {
    this.state.textContent = t("loading");
    try {
      const body = await get("api/v1/alerts", { reason: this.reason, open: "true" });
      for (const alert of body.alerts) this.update(alert, { quiet: true });
      this.state.textContent = "";
      this.loaded = true;
    } catch (err) {
      this.state.replaceChildren(errorText(err));
    }
    this.draw();
  }

  // An alert from the list, the stream or a step's answer.
  update(alert, { quiet = false } = {}) {
    const known = this.known.get(alert.id);
    if (known && !newer(alert, known)) return;
    this.known.set(alert.id, alert);
    const wasOpen = this.alerts.has(alert.id);
    if (isOpen(alert)) {
      this.alerts.set(alert.id, alert);
      if (!wasOpen && !quiet && !known) announce(t("aq.raised", { plate: formatPlate(alert.plate), station: alert.station_name || this.stationName(alert.station) }));
    } else {
      this.alerts.delete(alert.id);
      this.journeys.delete(alert.id);
      if (alert.status === "withdrawn" && wasOpen) this.notice(t("aq.withdrawnNotice", { plate: formatPlate(alert.plate) }), alert);
    }
    if (!quiet) this.draw();
  }

  notice(text, alert) {
    const item = h("p", { class: "notice", "data-withdrawn": alert.id, "data-plate": alert.plate }, text);
    this.notices.append(item);
    setTimeout(() => item.remove(), NOTICE_MS);
  }

  draw() {
    const rows = [...this.alerts.values()].sort(compare);
    // A row whose reject or close choice is open stays as it is (the operator is using it)
    // while its alert does not change.
    const choosing = new Map([...this.list.querySelectorAll("li[data-choosing]")].map((li) => [li.dataset.alert, li]));
    this.list.replaceChildren(...rows.map((alert) => {
      const kept = choosing.get(alert.id);
      return kept && kept.dataset.version === version(alert) ? kept : this.row(alert);
    }));
    this.empty.hidden = rows.length > 0 || !this.loaded;
    this.paintSummary(rows);
  }

  row(alert) {
    const station = alert.station_name || this.stationName(alert.station);
    const check = alert.kind === "hotlist" && alert.action === "stop_and_check";
    const review = alert.action === "review";
    const cls = ["alert", check || review ? "check" : "", alert.status === "provisional" ? "provisional" : ""].filter(Boolean).join(" ");
    const li = h("li", {
      class: cls, "data-alert": alert.id, "data-transit": alert.transit_id, "data-kind": alert.kind, "data-state": alert.state,
      "data-status": alert.status, "data-priority": alert.priority, "data-version": version(alert),
    });
    const message = h("span", { class: "row-error", role: "alert" });
    const buttons = h("span", { class: "actions" });
    const plate = formatPlate(alert.plate);
    const step = async (name, extra = {}) => {
      for (const b of li.querySelectorAll("button, select")) b.disabled = true;
      try {
        const updated = await request("POST", `api/v1/alerts/${encodeURIComponent(alert.id)}/steps`, { json: { step: name, ...extra } });
        announce(t(`aq.done.${name}`, { plate }));
        this.update(updated);
      } catch (err) {
        for (const b of li.querySelectorAll("button, select")) b.disabled = false;
        message.textContent = err instanceof ApiError && err.status === 409 ? t("aq.refused") : errorText(err).textContent;
      }
    };
    const button = (name, text, cls2 = "secondary") => h("button", {
      type: "button", class: cls2, "data-step": name, "aria-label": t(`aq.label.${name}`, { plate }),
    }, text);
    if (alert.state === "new") {
      const ack = button("acknowledge", t("aq.acknowledge"), "");
      ack.addEventListener("click", () => step("acknowledge"));
      buttons.append(ack);
    }
    if (alert.state === "new" || alert.state === "acknowledged") {
      const accept = button("accept", t("aq.accept"));
      accept.addEventListener("click", () => step("accept"));
      buttons.append(accept);
    }
    if (OPEN_STATES.has(alert.state)) {
      const reject = button("reject", t("aq.reject"));
      reject.addEventListener("click", () => this.choose(li, buttons, "reject", REJECT_REASONS, (value) => step("reject", { reason: value })));
      buttons.append(reject);
    }
    if (alert.state === "accepted") {
      const close = button("close", t("aq.close"));
      close.addEventListener("click", () => this.choose(li, buttons, "close", OUTCOMES, (value) => step("close", { outcome: value })));
      buttons.append(close);
    }
    const facts = h("span", { class: "facts-line" },
      alert.list_name || alert.list ? h("span", { class: "list-name" }, alert.list_name || alert.list) : null,
      h("span", { class: "station-name" }, station),
      h("time", { datetime: alert.time }, fmtTime(alert.time, false)),
      h("span", { class: "badge status" }, alert.status === "provisional" ? t("aq.provisional") : t(`aq.status.${alert.status}`)),
      h("span", { class: "badge state" }, t(`aq.state.${alert.state}`)),
      alert.handled_by ? h("span", { class: "by" }, t("aq.by", { who: alert.handled_by })) : null,
      alert.kind === "not_authorised" && review ? h("span", {}, t("aq.review")) : null,
      review && alert.entry_plate && alert.entry_plate !== alert.plate
        ? h("span", { class: "near", "data-entry-plate": alert.entry_plate }, t("aq.near"), " ", plateEl(alert.entry_plate))
        : null);
    li.append(
      h("span", { class: "badge prio", "aria-label": t("aq.priorityLabel", { n: alert.priority }) }, `P${alert.priority}`),
      h("strong", { class: "kind" }, kindName(alert)),
      plateEl(plate), facts, this.journeyEl(alert) || "", message, buttons);
    return li;
  }

  // An impossible journey's two sightings, oldest first; asked the first time they are drawn.
  journeyEl(alert) {
    if (alert.kind !== "impossible_journey" || !alert.related_transit_id) return null;
    let known = this.journeys.get(alert.id);
    if (!known) {
      known = { state: "loading" };
      this.journeys.set(alert.id, known);
      this.askJourney(alert, known);
    }
    const box = h("div", {
      class: "journey", role: "group", "data-journey": known.state,
      "aria-label": t("aq.journey.label", { plate: formatPlate(alert.plate) }),
    });
    if (known.state === "loading") {
      box.append(h("span", { class: "journey-state" }, t("aq.journey.loading")));
      return box;
    }
    if (known.state === "error") {
      const retry = h("button", { type: "button", class: "secondary", "data-retry": "journey" }, t("aq.journey.retry"));
      retry.addEventListener("click", () => {
        this.journeys.delete(alert.id);
        this.redrawJourney(alert.id);
      });
      box.append(h("span", { class: "row-error" }, known.message), retry);
      return box;
    }
    const crops = known.crops || {};
    const here = {
      role: "alert", id: alert.transit_id, plate: formatPlate(alert.plate), time: alert.time,
      station: alert.station_name || this.stationName(alert.station),
    };
    const other = known.other;
    const there = other
      ? { role: "related", id: other.id, plate: formatPlate(other.plate, other.format), time: other.time,
        station: other.station_name || this.stationName(other.station) }
      : { role: "related", id: alert.related_transit_id, missing: true };
    if (there.missing) {
      box.append(this.sightingEl(there, null, t("aq.journey.other")), this.sightingEl(here, crops[here.id], t("aq.journey.this")));
    } else {
      const both = [here, there].sort((a, b) => new Date(a.time) - new Date(b.time));
      const gap = fmtDuration(Math.abs(new Date(here.time) - new Date(there.time)) / 1000);
      box.append(this.sightingEl(both[0], crops[both[0].id], t("aq.journey.first")),
        this.sightingEl(both[1], crops[both[1].id], t("aq.journey.second", { gap })));
    }
    if (alert.reason) box.append(h("p", { class: "journey-reason" }, alert.reason));
    return box;
  }

  sightingEl(seen, crop, label) {
    const figure = h("figure", { class: "sighting", "data-transit": seen.id, "data-role": seen.role });
    if (seen.missing) {
      figure.append(h("figcaption", {}, h("span", { class: "sighting-label" }, label), " ",
        h("span", {}, t("aq.journey.missing"))));
      return figure;
    }
    figure.append(
      crop
        ? h("img", { class: "crop", src: crop, alt: t("aq.journey.crop", { plate: seen.plate, station: seen.station }) })
        : h("span", { class: "no-crop" }, t("aq.journey.noCrop")),
      h("figcaption", {},
        h("span", { class: "sighting-label" }, label), " ",
        h("span", { class: "sighting-station" }, seen.station), " ",
        h("time", { datetime: seen.time }, fmtTime(seen.time, false)), " ",
        plateEl(seen.plate)));
    return figure;
  }

  // The other transit and both crops, with the stream's reason (each call audited once).
  async askJourney(alert, known) {
    const related = alert.related_transit_id;
    const other = get(`api/v1/transits/${encodeURIComponent(related)}`, { reason: this.reason })
      .catch((err) => { if (err instanceof ApiError && err.status === 404) return null; throw err; });
    const crops = get("api/v1/crops", { id: [alert.transit_id, related], reason: this.reason });
    try {
      const [found, body] = await Promise.all([other, crops]);
      Object.assign(known, { state: "ready", other: found, crops: body.crops });
    } catch (err) {
      Object.assign(known, { state: "error", message: errorText(err).textContent });
    }
    if (this.journeys.get(alert.id) === known) this.redrawJourney(alert.id);
  }

  redrawJourney(id) {
    const alert = this.alerts.get(id);
    const li = [...this.list.children].find((item) => item.dataset.alert === id);
    const box = li && li.querySelector(".journey");
    if (alert && box) box.replaceWith(this.journeyEl(alert));
  }

  // The reason of a rejection or the outcome of a close, picked from a select, then confirmed.
  choose(li, buttons, name, values, done) {
    li.dataset.choosing = name;
    const id = `aq-${name}-${li.dataset.alert}`;
    const select = h("select", { id, "data-choice": name },
      values.map((v) => h("option", { value: v }, t(`aq.${name === "reject" ? "reason" : "outcome"}.${v}`))));
    const ok = h("button", { type: "button", "data-confirm": name, "aria-label": t(`aq.label.${name}`, { plate: li.querySelector(".plate").textContent }) }, t(`aq.confirm.${name}`));
    const cancel = h("button", { type: "button", class: "secondary", "data-cancel": name }, t("aq.cancel"));
    const box = h("span", { class: "choice" },
      h("label", { class: "inline", for: id }, t(name === "reject" ? "aq.rejectReason" : "aq.outcomeLabel")), select, ok, cancel);
    const previous = [...buttons.childNodes];
    buttons.replaceChildren(box);
    ok.addEventListener("click", () => { delete li.dataset.choosing; done(select.value); });
    cancel.addEventListener("click", () => { delete li.dataset.choosing; buttons.replaceChildren(...previous); });
    select.focus();
  }

  reportForm() {
    const day = new Date();
    const since = h("input", { id: "report-since", type: "date", value: localInput(new Date(day.getFullYear(), day.getMonth(), 1)).slice(0, 10) });
    const until = h("input", { id: "report-until", type: "date" });
    const out = h("span", { class: "row-error", role: "alert" });
    const button = h("button", { type: "submit", class: "secondary", id: "report-csv" }, t("aq.report.download"));
    const form = h("form", { class: "grid", id: "report-form" },
      h("label", {}, t("since"), since), h("label", {}, t("until"), until), button, out);
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      out.textContent = "";
      const start = since.value ? isoFromLocal(`${since.value}T00:00`) : null;
      const end = until.value ? isoFromLocal(`${until.value}T00:00`) : null;
      const endPlusDay = end ? new Date(new Date(end).getTime() + 86400000).toISOString() : null;
      download("api/v1/alerts/report.csv", { reason: this.reason, since: start, until: endPlusDay }, "alerts.csv")
        .catch((err) => { out.textContent = errorText(err).textContent; });
    });
    return h("details", { class: "report", id: "alert-report" }, h("summary", {}, t("aq.report.title")),
      h("p", { class: "hint" }, t("aq.report.hint")), form);
  }
}

function version(alert) {
  return `${alert.status}/${alert.state}/${alert.handled_at || ""}/${alert.settled_at || ""}`;
}

function errorText(err) {
  const text = err instanceof ApiError && err.status === 403 ? t("err.forbidden") : t("err.generic", { msg: err.message });
  return h("span", { class: "error" }, text);
}
