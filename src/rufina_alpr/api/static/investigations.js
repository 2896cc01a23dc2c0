// The Investigations page (operators) and the search page's evidence tools: evidence ZIPs (one
// transit, or the transits a search shows), legal holds (placed, listed, released: a held transit
// outlives retention), and the tracking queries "seen at A, then at B" and loitering. Every call
// that names plates carries the reason (and case number) the operator gave: the API audits it.
import { t, fmtTime, fmtNumber, fmtDuration } from "./i18n.js";
import { h, get, request, download, announce, isoFromLocal, localInput } from "./util.js";

const DAY = 86400000;

// ------------------------------------------------------------------ evidence and holds in the search
// The search page's results get a toolbar (export / hold the transits shown) and, per row, the
// same two for that transit. `search`: the search's parameters (reason, case_number, plate,
// station, since, until, vehicle); `rows`: the transits shown; `table`: their table (transitTable).
export function searchTools(kit, search, rows, table) {
  const message = h("div", { id: "search-tools-message", role: "status" });
  const fail = (err) => message.replaceChildren(kit.errorBox(err));
  const done = (text) => { message.replaceChildren(h("p", { class: "hint" }, text)); announce(text); };
  const exportAll = h("button", { type: "button", class: "secondary", id: "search-export" }, t("inv.ev.exportShown", { n: rows.length }));
  const holdAll = h("button", { type: "button", class: "secondary", id: "search-hold" }, t("inv.hold.shown", { n: rows.length }));
  exportAll.addEventListener("click", () => {
    if (!search.since || !search.until) { message.replaceChildren(h("p", { class: "error" }, t("inv.ev.needPeriod"))); return; }
    // The same search, as one page of every transit shown: the ZIP holds what the table lists.
    download("api/v1/evidence", { ...search, offset: 0, limit: rows.length }, `rufina-alpr-evidence-${stamp()}.zip`)
      .then(() => done(t("inv.ev.done", { n: rows.length }))).catch(fail);
  });
  holdAll.addEventListener("click", () => holdDialog(kit, search, rows.map((r) => r.id), t("inv.hold.whatShown", { n: rows.length }), done));

  const head = table.querySelector("thead tr");
  head.append(h("th", { scope: "col" }, t("actions")));
  const byId = new Map(rows.map((r) => [r.id, r]));
  for (const tr of table.querySelectorAll("tbody tr[data-transit]")) {
    const transit = byId.get(tr.dataset.transit);
    const plate = transit.display || transit.plate;
    const where = transit.station_name || kit.stationName(transit.station);
    const evidence = h("button", { type: "button", class: "secondary", "data-action": "evidence", "aria-label": t("inv.ev.label", { plate, station: where }) }, t("inv.ev.one"));
    const hold = h("button", { type: "button", class: "secondary", "data-action": "hold", "aria-label": t("inv.hold.label", { plate, station: where }) }, t("inv.hold.one"));
    evidence.addEventListener("click", () =>
      download(`api/v1/transits/${encodeURIComponent(transit.id)}/evidence`, { reason: search.reason, case_number: search.case_number }, `rufina-alpr-evidence-${transit.id}.zip`)
        .then(() => done(t("inv.ev.doneOne", { plate }))).catch(fail));
    hold.addEventListener("click", () => holdDialog(kit, search, [transit.id], t("inv.hold.whatOne", { plate, station: where, time: fmtTime(transit.time) }), done));
    tr.append(h("td", {}, h("div", { class: "row-actions" }, evidence, hold)));
  }
  return h("div", { class: "card", id: "search-tools" },
    h("p", { class: "hint" }, t("inv.ev.hint")), h("div", { class: "stack" }, exportAll, holdAll), message);
}

function stamp() {
  return localInput(new Date()).replace(/[-:]/g, "").replace("T", "-");
}

// A hold needs a case number and a reason (both written to the audit log): asked in a modal
// dialog, filled from the search's.
function holdDialog(kit, search, ids, what, done) {
  const caseNumber = h("input", { id: "hold-case", required: true, maxlength: 64, autocomplete: "off", value: search.case_number || "" });
  const reason = h("input", { id: "hold-reason", required: true, minlength: 3, maxlength: 500, autocomplete: "off", value: search.reason || "" });
  const error = h("div", { role: "alert" });
  const yes = h("button", { type: "submit", "data-confirm": "hold" }, t("inv.hold.confirm"));
  const no = h("button", { type: "button", class: "secondary", "data-cancel": "hold" }, t("aq.cancel"));
  const form = h("form", { class: "grid" },
    kit.label(t("caseNumber"), caseNumber, t("inv.hold.caseHint")), kit.label(t("reason"), reason, t("reasonHint")), h("p", { class: "stack" }, yes, no));
  const dialog = h("dialog", { id: "hold-dialog", class: "plain", "aria-labelledby": "hold-title", "aria-describedby": "hold-what" },
    h("h2", { id: "hold-title" }, t("inv.hold.title")), h("p", { id: "hold-what" }, what), h("p", { class: "hint" }, t("inv.hold.explain")), form, error);
  document.body.append(dialog);
  dialog.addEventListener("close", () => dialog.remove());
  no.addEventListener("click", () => dialog.close());
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (!form.reportValidity()) return;
    yes.disabled = true;
    try {
      const hold = await request("POST", "api/v1/holds", { json: { transit_ids: ids, case_number: caseNumber.value.trim(), reason: reason.value.trim() } });
      dialog.close();
      done(t("inv.hold.placed", { id: hold.id, n: hold.transit_ids.length, case: hold.case_number }));
    } catch (err) {
      yes.disabled = false;
      error.replaceChildren(kit.errorBox(err));
    }
  });
  dialog.showModal();
  caseNumber.focus();
}

// ------------------------------------------------------------------ the page
// `kit`: the panel's shared pieces (label, reasonInput, remember, errorBox, plateEl, stationName,
// stationSelect).
export function investigationsPage(root, kit) {
  const reason = kit.reasonInput("inv-reason");
  const caseNumber = h("input", { id: "inv-case", maxlength: 64, autocomplete: "off" });
  const why = h("form", { class: "card grid", id: "inv-why" },
    kit.label(t("reason"), reason, t("reasonHint")), kit.label(t("caseNumber"), caseNumber, t("inv.caseHint")));
  // Every query below asks with the reason given here; a blank reason is pointed out before any call.
  const asked = () => {
    if (!why.reportValidity()) return null;
    kit.remember(reason.value.trim());
    return { reason: reason.value.trim(), case_number: caseNumber.value.trim() };
  };
  root.append(h("h1", {}, t("inv.title")), h("p", { class: "hint" }, t("inv.hint")), why,
    seenThenSection(kit, asked), loiteringSection(kit, asked), holdsSection(kit, asked));
}

// The window inputs (the last day by default) and their ISO values.
function windowInputs(prefix) {
  const since = h("input", { id: `${prefix}-since`, type: "datetime-local", value: localInput(new Date(Date.now() - DAY)) });
  const until = h("input", { id: `${prefix}-until`, type: "datetime-local" });
  return { since, until, value: () => ({ since: isoFromLocal(since.value), until: isoFromLocal(until.value) }) };
}

// A required station picker by name (the panel's own, its "all stations" choice turned into a prompt).
function requiredStation(kit, id) {
  const select = kit.stationSelect(id);
  select.required = true;
  select.options[0].textContent = t("inv.pickStation");
  return select;
}

function minutesInput(id, value, max) {
  return h("input", { id, type: "number", min: 1, max, step: 1, value, required: true });
}

function routeLink(kit, plate) {
  return h("a", { href: `#/route?plate=${encodeURIComponent(plate)}`, "aria-label": `${t("route")} ${plate}` }, kit.plateEl(plate));
}

function table(id, caption, heads, rows) {
  return h("div", { class: "table-wrap" }, h("table", { id },
    h("caption", {}, caption),
    h("thead", {}, h("tr", {}, heads.map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", {}, rows)));
}

// A query form whose answer (one page of `results`, with `total`) fills `out`.
function querySection(kit, asked, { id, title, hint, fields, path, params, render }) {
  const out = h("div", { id: `${id}-out`, "aria-live": "polite" });
  const form = h("form", { class: "grid", id: `${id}-form` }, fields, h("button", { type: "submit" }, t("inv.run")));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const justification = asked();
    if (!justification || !form.reportValidity()) return;
    out.replaceChildren(h("p", {}, t("loading")));
    try {
      const body = await get(path, { ...justification, ...params(), limit: 200 });
      out.replaceChildren(...[
        h("p", { role: "status", class: "hint" }, t("inv.found", { n: body.total, since: fmtTime(body.since), until: fmtTime(body.until) })),
        body.results.length ? render(body.results) : h("p", {}, t("none")),
        body.next_offset !== null ? h("p", { class: "hint" }, t("inv.firstOnly", { n: body.results.length })) : null,
      ].filter(Boolean));
    } catch (err) {
      out.replaceChildren(kit.errorBox(err));
    }
  });
  return h("section", { class: "card", id, "aria-labelledby": `${id}-title` },
    h("h2", { id: `${id}-title` }, title), h("p", { class: "hint" }, hint), form, out);
}

function seenThenSection(kit, asked) {
  const from = requiredStation(kit, "seen-from");
  const to = requiredStation(kit, "seen-to");
  const within = minutesInput("seen-within", 60, 7 * 24 * 60);
  const period = windowInputs("seen");
  return querySection(kit, asked, {
    id: "inv-seen", title: t("inv.seen.title"), hint: t("inv.seen.hint"), path: "api/v1/queries/seen-then",
    fields: [kit.label(t("inv.seen.from"), from), kit.label(t("inv.seen.to"), to), kit.label(t("inv.seen.within"), within),
      kit.label(t("since"), period.since), kit.label(t("until"), period.until)],
    params: () => ({ from_station: from.value, to_station: to.value, within: Number(within.value) * 60, ...period.value() }),
    render: (results) => table("seen-table", t("inv.seen.caption", { from: kit.stationName(from.value), to: kit.stationName(to.value) }),
      [t("plate"), t("inv.seen.at", { station: kit.stationName(from.value) }), t("inv.seen.at", { station: kit.stationName(to.value) }), t("inv.seen.elapsed")],
      results.map((item) => h("tr", { "data-plate": item.plate, "data-first": item.first.id, "data-then": item.then.id },
        h("td", {}, routeLink(kit, item.plate)),
        h("td", {}, h("time", { datetime: item.first.time }, fmtTime(item.first.time))),
        h("td", {}, h("time", { datetime: item.then.time }, fmtTime(item.then.time))),
        h("td", {}, fmtDuration(item.elapsed))))),
  });
}

function loiteringSection(kit, asked) {
  const station = kit.stationSelect("loiter-station");
  station.options[0].textContent = t("inv.anyStation");
  const count = h("input", { id: "loiter-count", type: "number", min: 2, max: 10000, step: 1, value: 3, required: true });
  const windowMinutes = minutesInput("loiter-window", 60, 31 * 24 * 60);
  const period = windowInputs("loiter");
  return querySection(kit, asked, {
    id: "inv-loiter", title: t("inv.loiter.title"), hint: t("inv.loiter.hint"), path: "api/v1/queries/loitering",
    fields: [kit.label(t("inv.station"), station), kit.label(t("inv.loiter.count"), count), kit.label(t("inv.loiter.window"), windowMinutes),
      kit.label(t("since"), period.since), kit.label(t("until"), period.until)],
    params: () => ({ station: station.value, min_count: count.value, window: Number(windowMinutes.value) * 60, ...period.value() }),
    render: (results) => table("loiter-table", station.value ? t("inv.loiter.captionAt", { station: kit.stationName(station.value) }) : t("inv.loiter.caption"),
      [t("plate"), t("inv.loiter.sightings"), t("inv.loiter.first"), t("inv.loiter.last")],
      results.map((item) => h("tr", { "data-plate": item.plate, "data-count": item.count },
        h("td", {}, routeLink(kit, item.plate)), h("td", {}, fmtNumber(item.count)),
        h("td", {}, h("time", { datetime: item.first }, fmtTime(item.first))),
        h("td", {}, h("time", { datetime: item.last }, fmtTime(item.last)))))),
  });
}

// ------------------------------------------------------------------ holds
// The list names no plate (ids, case numbers, who), so it loads without a reason; placing a hold
// by plate and releasing one are audited with the page's reason.
function holdsSection(kit, asked) {
  const activeOnly = h("input", { id: "holds-active", type: "checkbox", checked: true });
  const out = h("div", { id: "holds-out", "aria-live": "polite" }, h("p", {}, t("loading")));
  const message = h("div", { id: "holds-message", role: "status" });
  const fail = (err) => message.replaceChildren(kit.errorBox(err));
  const said = (text) => { message.replaceChildren(h("p", { class: "hint" }, text)); announce(text); };

  async function load() {
    const { holds } = await get("api/v1/holds", { active: activeOnly.checked ? "true" : null });
    out.replaceChildren(holds.length ? table("holds-table", t("inv.holds.caption"),
      [t("inv.holds.id"), t("caseNumber"), t("reason"), t("inv.holds.by"), t("inv.holds.at"), t("inv.holds.transits"), t("inv.holds.state"), t("actions")],
      holds.map(holdRow)) : h("p", {}, t("inv.holds.none")));
  }
  function holdRow(hold) {
    const release = hold.active ? h("button", { type: "button", class: "secondary", "data-action": "release", "aria-label": t("inv.holds.releaseLabel", { id: hold.id, case: hold.case_number }) }, t("inv.holds.release")) : null;
    release?.addEventListener("click", async () => {
      const justification = asked();
      if (!justification) return;
      release.disabled = true;
      try {
        await request("POST", `api/v1/holds/${hold.id}/release`, { params: { reason: justification.reason } });
        said(t("inv.holds.released", { id: hold.id, case: hold.case_number }));
        await load();
      } catch (err) {
        release.disabled = false;
        fail(err);
      }
    });
    return h("tr", { "data-hold": hold.id, "data-active": hold.active ? "true" : "false" },
      h("td", {}, String(hold.id)), h("td", {}, hold.case_number), h("td", {}, hold.reason), h("td", {}, hold.created_by),
      h("td", {}, fmtTime(hold.created_at)), h("td", {}, fmtNumber(hold.transit_ids.length)),
      h("td", {}, hold.active ? h("span", { class: "badge warn" }, t("inv.holds.active"))
        : h("span", { class: "badge" }, t("inv.holds.releasedAt", { time: fmtTime(hold.released_at) }))),
      h("td", {}, release));
  }
  const reload = () => load().catch((err) => out.replaceChildren(kit.errorBox(err)));
  activeOnly.addEventListener("change", reload);
  reload();
  return h("section", { class: "card", id: "inv-holds", "aria-labelledby": "inv-holds-title" },
    h("h2", { id: "inv-holds-title" }, t("inv.holds.title")), h("p", { class: "hint" }, t("inv.holds.hint")),
    h("label", { class: "inline" }, activeOnly, t("inv.holds.activeOnly")), message, out, newHoldForm(kit, asked, said, fail, reload));
}

// A hold by plate and period: every transit of that plate in the window (the search page holds
// chosen transits).
function newHoldForm(kit, asked, said, fail, reload) {
  const plate = h("input", { id: "hold-plate", required: true, minlength: 2, maxlength: 16, autocomplete: "off", spellcheck: "false" });
  const period = windowInputs("hold");
  const caseNumber = h("input", { id: "hold-new-case", required: true, maxlength: 64, autocomplete: "off" });
  const form = h("form", { class: "grid", id: "hold-form" },
    h("h3", {}, t("inv.holds.new")), kit.label(t("plate"), plate, t("inv.holds.plateHint")), kit.label(t("since"), period.since),
    kit.label(t("until"), period.until), kit.label(t("caseNumber"), caseNumber, t("inv.hold.caseHint")), h("button", { type: "submit" }, t("inv.hold.confirm")));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const justification = asked();
    if (!justification || !form.reportValidity()) return;
    const { since, until } = period.value();
    try {
      const hold = await request("POST", "api/v1/holds", { json: {
        plate: plate.value.trim(), since: since || undefined, until: until || new Date().toISOString(),
        case_number: caseNumber.value.trim(), reason: justification.reason,
      } });
      said(t("inv.hold.placed", { id: hold.id, n: hold.transit_ids.length, case: hold.case_number }));
      form.reset();
      await reload();
    } catch (err) {
      fail(err);
    }
  });
  return h("div", { class: "new-request" }, form);
}
