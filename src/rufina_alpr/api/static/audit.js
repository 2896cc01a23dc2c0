// The audit log in words: each entry one sentence in the reader's language ("Mario Rossi searched
// the transits of AB 123 CD from 05/12/2026 for "incident 2026/20""), the operation named as
// people say it (a table, audit.op.*, with every action the engine writes) and its parameters
// summarised; the recorded query as it is only in an entry's expandable detail.
import { t, fmtTime, fmtNumber, has, keysOf } from "./i18n.js";
import { h, get, isoFromLocal, localInput, formatPlate } from "./util.js";

// The action's name in words; an action this panel does not know yet, as recorded.
export function operationName(action) {
  return has(`audit.op.${action}`) ? t(`audit.op.${action}`) : action;
}

// The token's user, or the person it acted for through it (Home Assistant's user).
function actorName(entry) {
  return entry.acting_user ? t("audit.via", { person: entry.acting_user, actor: entry.actor }) : entry.actor;
}

// The parameters people care about, in words; the rest stays in the detail.
function details(query, stationName) {
  const q = query || {};
  const stations = [].concat(q.stations || [], q.station || []);
  const transits = [].concat(q.transit_ids || [], q.transit_id || []);
  return [
    q.plate ? t("audit.d.plate", { plate: formatPlate(q.plate) }) : null,
    stations.length ? t("audit.d.station", { station: stations.map(stationName).join(", ") }) : null,
    q.from_station && q.to_station ? t("audit.d.fromTo", { from: stationName(q.from_station), to: stationName(q.to_station) }) : null,
    q.since ? t("audit.d.since", { time: fmtTime(q.since) }) : null,
    q.until ? t("audit.d.until", { time: fmtTime(q.until) }) : null,
    q.list ? t("audit.d.list", { list: q.list }) : null,
    q.alert_id ? t("audit.d.alert", { id: q.alert_id }) : null,
    transits.length ? t("audit.d.transits", { n: fmtNumber(transits.length) }) : null,
    q.request ? t("audit.d.request", { id: q.request }) : null,
    q.hold ? t("audit.d.hold", { id: q.hold }) : null,
  ].filter(Boolean);
}

export function sentence(entry, stationName = (id) => id) {
  const parts = [actorName(entry), operationName(entry.action), ...details(entry.query, stationName)];
  if (entry.reason) parts.push(t("audit.for", { reason: entry.reason }));
  if (entry.case_number) parts.push(t("audit.case", { case: entry.case_number }));
  return parts.join(" ");
}

// `kit`: the panel's shared pieces (app.js: label, reasonInput, remember, errorBox, stationName, isAdmin()).
export function auditPage(root, kit) {
  if (!kit.isAdmin()) {
    root.append(h("h1", {}, t("audit.title")), h("p", { class: "card" }, t("audit.admins")));
    return;
  }
  const reason = kit.reasonInput("audit-reason");
  const actor = h("input", { id: "audit-actor", maxlength: 120 });
  const operations = keysOf("audit.op.").map((name) => [name, operationName(name)]).sort((a, b) => a[1].localeCompare(b[1]));
  const action = h("select", { id: "audit-action" }, h("option", { value: "" }, t("audit.anyAction")),
    operations.map(([name, text]) => h("option", { value: name }, text)));
  const since = h("input", { id: "audit-since", type: "datetime-local", value: localInput(new Date(Date.now() - 7 * 86400000)) });
  const out = h("div", { id: "audit-out", "aria-live": "polite" });
  const form = h("form", { class: "card grid", id: "audit-form" },
    kit.label(t("reason"), reason, t("reasonHint")), kit.label(t("audit.actor"), actor, t("audit.actorHint")), kit.label(t("audit.action"), action),
    kit.label(t("since"), since), h("button", { type: "submit" }, t("audit.show")));
  async function load() {
    const body = await get("api/v1/audit", { reason: reason.value.trim(), actor: actor.value.trim(), action: action.value, since: isoFromLocal(since.value), limit: 200 });
    out.replaceChildren(body.entries.length ? h("div", { class: "table-wrap" }, h("table", { id: "audit-table" },
      h("caption", {}, t("audit.caption")),
      h("thead", {}, h("tr", {}, [t("time"), t("audit.what"), t("audit.results")].map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, body.entries.map((entry) => h("tr", { "data-action": entry.action },
        h("td", {}, h("time", { datetime: entry.time }, fmtTime(entry.time))),
        h("td", { class: "what" }, h("p", { class: "sentence" }, sentence(entry, kit.stationName)),
          h("details", { class: "raw" }, h("summary", {}, t("audit.detail")),
            h("dl", { class: "facts" },
              h("dt", {}, t("audit.action")), h("dd", {}, h("code", {}, entry.action)),
              h("dt", {}, t("role")), h("dd", {}, t(`role.${entry.role}`)),
              h("dt", {}, t("audit.query")), h("dd", {}, h("code", {}, JSON.stringify(entry.query)))))),
        h("td", {}, entry.results ?? "")))))) : h("p", {}, t("none")));
  }
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    if (!form.reportValidity()) return;
    kit.remember(reason.value.trim());
    load().catch((err) => out.replaceChildren(kit.errorBox(err)));
  });
  root.append(h("h1", {}, t("audit.title")), form, out);
}
