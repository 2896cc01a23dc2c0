// The Privacy page (admins): the privacy pack (whether it matches the running configuration,
// generating it, reading and printing its documents) and the register of data subjects'
// requests (GDPR art. 15 access, art. 17 erasure) with their deadlines (art. 12(3)).
// The reminder (a badge on the Privacy link, a notice on the page) reads /api/health's privacy
// section: it names no plate, so it needs no reason and writes nothing to the audit log.
import { t, lang, fmtTime, fmtNumber, has } from "./i18n.js";
import { h, get, request, download, saveBlob, announce, isoFromLocal, localInput } from "./util.js";

export const DOCUMENTS = ["dpia", "notices", "informativa", "record", "todo"];
const KINDS = ["access", "erasure"];
const STATUSES = ["open", "fulfilled", "refused"];
const LANGUAGES = ["it", "en"];

// ------------------------------------------------------------------ reminder
// What needs the admin's attention, most urgent first: [{ level: "bad" | "warn", text }].
export function reminders(privacy) {
  if (!privacy) return [];
  const { pack, requests } = privacy;
  const out = [];
  if (requests.overdue) out.push({ level: "bad", text: t("priv.rem.overdue", { n: requests.overdue }) });
  if (requests.due_soon) out.push({ level: "warn", text: t("priv.rem.dueSoon", { n: requests.due_soon }) });
  if ((requests.overdue || requests.due_soon) && requests.next_due) out.push({ level: "warn", text: t("priv.rem.next", { date: fmtDay(requests.next_due) }) });
  if (pack.state === "missing") out.push({ level: "warn", text: t("priv.rem.packMissing") });
  if (pack.state === "outdated") out.push({ level: "warn", text: t("priv.rem.packOutdated", { docs: (pack.outdated || []).map(docTitle).join(", ") }) });
  return out;
}

// The Privacy link's badge: the requests due within 7 days or overdue, or "!" for the pack.
export function reminderBadge(privacy) {
  const items = reminders(privacy);
  if (!items.length) return null;
  const due = privacy.requests.overdue + privacy.requests.due_soon;
  const text = items.map((item) => item.text).join(". ");
  return h("span", { class: `badge nav-badge ${privacy.requests.overdue ? "bad" : "warn"}`, "data-reminder": due ? "requests" : "pack", title: text },
    h("span", { "aria-hidden": "true" }, due ? String(due) : "!"), h("span", { class: "sr-only" }, ` (${text})`));
}

function reminderNotice(privacy) {
  return reminders(privacy).map((item) => h("p", { class: `notice ${item.level}` }, item.text));
}

// ------------------------------------------------------------------ shared pieces
function fmtDay(iso) {
  return new Date(iso).toLocaleDateString(lang === "it" ? "it-IT" : "en-GB", { day: "2-digit", month: "2-digit", year: "numeric" });
}

let titles = {}; // document id -> { it, en }, as the pack last described them
let stationName = (id) => id; // the panel's, once the page is drawn

function docTitle(id) {
  return (titles[id] && titles[id][lang]) || (has(`priv.doc.${id}`) ? t(`priv.doc.${id}`) : id);
}

function sectionName(id) {
  return has(`priv.section.${id}`) ? t(`priv.section.${id}`) : id;
}

// ------------------------------------------------------------------ the page
// `kit`: the panel's shared pieces (label, reasonInput, remember, errorBox, plateEl, stationName) and
// refreshReminder() -> the health's privacy section, the nav badge repainted.
export function privacyPage(root, kit) {
  stationName = kit.stationName;
  const notice = h("div", { id: "privacy-reminder", class: "reminders", role: "status" });
  const changed = () => kit.refreshReminder().then((privacy) => notice.replaceChildren(...reminderNotice(privacy))).catch(() => {});
  const viewer = viewerSection(kit);
  const pack = packSection(kit, changed, viewer.setTitles);
  const register = registerSection(kit, changed);
  root.append(h("h1", {}, t("priv.title")), notice, pack, viewer.root, register);
  changed();
}

// ------------------------------------------------------------------ pack
function packSection(kit, changed, setTitles) {
  const status = h("div", { id: "pack-status" }, h("p", {}, t("loading")));
  const message = h("p", { class: "hint", id: "pack-message", role: "status" });
  const generate = h("button", { type: "button", id: "pack-generate" }, t("priv.pack.generate"));

  async function load() {
    const pack = await get("api/v1/privacy/pack");
    titles = Object.fromEntries(pack.documents.map((doc) => [doc.id, doc.title]));
    setTitles();
    const badge = { current: "ok", outdated: "bad", missing: "warn" }[pack.state];
    status.replaceChildren(
      h("p", { class: "stack" }, h("span", { class: `badge ${badge}`, id: "pack-state", "data-state": pack.state }, t(`priv.pack.${pack.state}`)),
        pack.generated_at ? h("span", {}, t("priv.pack.generatedAt", { time: fmtTime(pack.generated_at), who: pack.generated_by || "—" })) : h("span", {}, t("priv.pack.never"))),
      ...(pack.changed && pack.changed.length ? [h("p", { id: "pack-changed" }, t("priv.pack.changed", { parts: pack.changed.map(sectionName).join(", ") }))] : []),
      h("div", { class: "table-wrap" }, h("table", { id: "pack-documents" },
        h("caption", {}, t("priv.pack.documents")),
        h("thead", {}, h("tr", {}, [t("priv.doc.name"), t("priv.doc.sections"), t("priv.doc.hash"), t("priv.doc.state")].map((c) => h("th", { scope: "col" }, c)))),
        h("tbody", {}, pack.documents.map((doc) => h("tr", { "data-document": doc.id, class: doc.outdated ? "stale" : null },
          h("td", {}, docTitle(doc.id)), h("td", {}, (doc.sections || []).map(sectionName).join(", ")),
          h("td", {}, h("code", { title: doc.hash }, String(doc.hash || "—").slice(0, 12))),
          h("td", {}, pack.state === "missing" ? "—" : doc.outdated ? h("span", { class: "badge bad" }, t("priv.doc.outdated")) : h("span", { class: "badge ok" }, t("priv.doc.current")))))))));
  }
  const fail = (err) => message.replaceChildren(kit.errorBox(err));
  generate.addEventListener("click", async () => {
    generate.disabled = true;
    message.textContent = t("priv.pack.generating");
    try {
      saveBlob(await request("POST", "api/v1/privacy/pack"), `rufina-privacy-pack-${localInput(new Date()).slice(0, 10)}.zip`);
      message.textContent = t("priv.pack.generated");
      announce(t("priv.pack.generated"));
      await load();
      changed();
    } catch (err) {
      fail(err);
    } finally {
      generate.disabled = false;
    }
  });
  load().catch((err) => status.replaceChildren(kit.errorBox(err)));
  return h("section", { class: "card", id: "privacy-pack", "aria-labelledby": "pack-title" },
    h("h2", { id: "pack-title" }, t("priv.pack.title")), h("p", { class: "hint" }, t("priv.pack.hint")),
    status, h("div", { class: "stack" }, generate), message);
}

// ------------------------------------------------------------------ document viewer
function viewerSection(kit) {
  const docSelect = h("select", { id: "doc-select", name: "document" });
  const langSelect = h("select", { id: "doc-lang", name: "lang" }, LANGUAGES.map((code) => h("option", { value: code, selected: code === lang }, t(`priv.lang.${code}`))));
  const print = h("button", { type: "button", class: "secondary", id: "doc-print", disabled: true }, t("priv.doc.print"));
  const message = h("p", { class: "hint", id: "doc-message", role: "status" });
  // No scripts in the document; same origin, so that the panel can style, size and print it.
  const frame = h("iframe", { id: "doc-frame", class: "doc-frame", sandbox: "allow-same-origin allow-modals", hidden: true });
  const form = h("form", { class: "grid", id: "doc-form" },
    kit.label(t("priv.doc.name"), docSelect), kit.label(t("priv.doc.lang"), langSelect),
    h("button", { type: "submit" }, t("priv.doc.show")), print);

  function setTitles() {
    const chosen = docSelect.value;
    docSelect.replaceChildren(...DOCUMENTS.map((id) => h("option", { value: id, selected: id === chosen }, docTitle(id))));
  }
  setTitles();

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const id = docSelect.value;
    const code = langSelect.value;
    print.disabled = true;
    message.textContent = t("loading");
    try {
      const html = await (await request("GET", `api/v1/privacy/pack/documents/${encodeURIComponent(id)}`, { params: { lang: code } })).text();
      await show(frame, html, code);
      frame.title = t("priv.doc.frame", { name: docTitle(id) });
      print.disabled = false;
      message.textContent = t("priv.doc.shown", { name: docTitle(id) });
    } catch (err) {
      message.replaceChildren(kit.errorBox(err));
    }
  });
  print.addEventListener("click", () => frame.contentWindow.print());
  const root = h("section", { class: "card", id: "privacy-documents", "aria-labelledby": "doc-title" },
    h("h2", { id: "doc-title" }, t("priv.doc.title")), form, message, frame);
  return { root, setTitles };
}

// The panel's policy (style-src 'self') passes to a srcdoc frame and would refuse the document's
// own <style>: its rules go in through the CSSOM instead (a constructed sheet), which the policy
// leaves alone. The document is parsed in an inert <template> (nothing in it runs or loads).
function show(frame, html, code) {
  const template = document.createElement("template");
  template.innerHTML = html;
  const css = [...template.content.querySelectorAll("style")].map((style) => { style.remove(); return style.textContent; }).join("\n");
  for (const el of template.content.querySelectorAll("script, link, base")) el.remove();
  return new Promise((resolve) => {
    frame.addEventListener("load", () => {
      const doc = frame.contentDocument;
      const sheet = new frame.contentWindow.CSSStyleSheet();
      sheet.replaceSync(css);
      doc.adoptedStyleSheets = [sheet];
      frame.hidden = false;
      frame.height = String(doc.documentElement.scrollHeight + 16);
      resolve();
    }, { once: true });
    frame.srcdoc = `<!doctype html><html lang="${code}"><head><meta charset="utf-8"></head><body>${template.innerHTML}</body></html>`;
  });
}

// ------------------------------------------------------------------ requests register
function registerSection(kit, changed) {
  const reason = kit.reasonInput("requests-reason");
  const filter = h("select", { id: "requests-status", name: "status" },
    h("option", { value: "" }, t("priv.req.all")), STATUSES.map((s) => h("option", { value: s }, t(`priv.status.${s}`))));
  const loadForm = h("form", { class: "grid", id: "requests-form" },
    kit.label(t("reason"), reason, t("reasonHint")), kit.label(t("priv.req.status"), filter), h("button", { type: "submit" }, t("priv.req.show")));
  const out = h("div", { id: "requests-out", "aria-live": "polite" }, h("p", { class: "hint" }, t("priv.req.needReason")));
  const outcome = h("div", { id: "request-outcome", role: "status" });
  let loaded = false;

  const why = () => reason.value.trim();
  async function load() {
    const body = await get("api/v1/privacy/requests", { reason: why(), status: filter.value });
    loaded = true;
    // The open ones by deadline, then the answered ones, the latest first.
    const open = body.requests.filter((r) => r.status === "open").sort((a, b) => a.due_at.localeCompare(b.due_at));
    const closed = body.requests.filter((r) => r.status !== "open").sort((a, b) => (b.handled_at || "").localeCompare(a.handled_at || ""));
    const rows = [...open, ...closed];
    out.replaceChildren(
      h("p", { class: "hint", id: "requests-summary" }, t("priv.req.summary", { open: body.open, soon: body.due_soon, overdue: body.overdue })),
      rows.length ? h("div", { class: "table-wrap" }, h("table", { id: "requests-table" },
        h("caption", {}, t("priv.req.caption")),
        h("thead", {}, h("tr", {}, [t("priv.req.received"), t("priv.req.due"), t("priv.req.daysLeft"), t("priv.req.kind"), t("plate"),
          t("priv.req.requester"), t("priv.req.reference"), t("priv.req.status"), t("actions")].map((c) => h("th", { scope: "col" }, c)))),
        h("tbody", {}, rows.map(row)))) : h("p", {}, t("none")));
  }
  const fail = (err) => outcome.replaceChildren(kit.errorBox(err));
  const reload = () => { changed(); return loaded ? load() : null; };

  function row(req) {
    const cls = req.status !== "open" ? null : req.overdue ? "overdue" : req.days_left < 7 ? "due-soon" : null;
    const plate = req.plate;
    const actions = h("div", { class: "row-actions" });
    const tr = h("tr", { class: cls, "data-request": req.id, "data-status": req.status, "data-kind": req.kind, "data-plate": plate },
      h("td", {}, fmtDay(req.received_at)),
      h("td", {}, h("time", { datetime: req.due_at }, fmtDay(req.due_at)), req.extended ? [" ", h("span", { class: "badge" }, t("priv.req.extended"))] : null),
      h("td", { class: "days" }, req.status !== "open" ? "—" : req.overdue
        ? h("span", { class: "badge bad" }, t("priv.req.overdueBy", { n: Math.max(1, -req.days_left) }))
        : h("span", { class: cls ? "badge warn" : null }, t("priv.req.days", { n: req.days_left }))),
      h("td", {}, t(`priv.kind.${req.kind}`)), h("td", {}, kit.plateEl(plate)),
      h("td", {}, req.requester), h("td", {}, req.reference || ""),
      h("td", { class: "status" }, h("span", { class: `badge ${req.status === "fulfilled" ? "ok" : req.status === "refused" ? "bad" : ""}` }, t(`priv.status.${req.status}`)),
        req.handled_by ? h("span", { class: "hint" }, ` ${t("priv.req.by", { who: req.handled_by, time: fmtDay(req.handled_at) })}`) : null,
        req.note ? h("div", { class: "note hint" }, req.note) : null,
        req.result ? h("details", { class: "result" }, h("summary", {}, t("priv.req.result")), resultEl(req.result)) : null),
      h("td", {}, actions));
    const button = (name, text, cls2 = "secondary") => {
      const b = h("button", { type: "button", class: cls2, "data-action": name, "aria-label": t(`priv.label.${name}`, { plate, id: req.id }) }, text);
      actions.append(b);
      return b;
    };
    if (req.kind === "access" && req.status !== "refused") {
      button("access", t("priv.req.accessZip"), req.status === "open" ? "" : "secondary").addEventListener("click", () =>
        download(`api/v1/privacy/requests/${req.id}/access.zip`, { reason: why() }, `access-request-${req.id}.zip`)
          .then(() => { announce(t("priv.req.downloaded", { plate })); return reload(); }).catch(fail));
    }
    if (req.status !== "open") return tr;
    if (req.kind === "erasure") button("erase", t("priv.req.erase"), "danger").addEventListener("click", () => confirmErase(req));
    if (!req.extended) button("extend", t("priv.req.extend")).addEventListener("click", () => noteChoice(tr, actions, "extend"));
    button("refuse", t("priv.req.refuse")).addEventListener("click", () => noteChoice(tr, actions, "refuse"));
    return tr;
  }

  // Extend or refuse: the note that says why (the requester is told), then confirm.
  function noteChoice(tr, actions, name) {
    const id = `note-${name}-${tr.dataset.request}`;
    const note = h("input", { id, required: true, minlength: 3, maxlength: 500, autocomplete: "off", "data-note": name });
    const ok = h("button", { type: "submit", "data-confirm": name }, t(`priv.req.confirm.${name}`));
    const cancel = h("button", { type: "button", class: "secondary", "data-cancel": name }, t("aq.cancel"));
    const form = h("form", { class: "choice" }, h("label", { for: id }, t(`priv.req.note.${name}`)), note, ok, cancel);
    const previous = [...actions.childNodes];
    actions.replaceChildren(form);
    cancel.addEventListener("click", () => {
      actions.replaceChildren(...previous);
      actions.querySelector(`[data-action=${name}]`).focus();
    });
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      if (!form.reportValidity()) return;
      ok.disabled = true;
      request("POST", `api/v1/privacy/requests/${tr.dataset.request}/${name}`, { json: { note: note.value.trim() } })
        .then((req) => { announce(t(`priv.req.done.${name}`, { plate: req.plate })); return reload(); })
        .catch((err) => { ok.disabled = false; fail(err); });
    });
    note.focus();
  }

  // Erasure cannot be undone: a modal dialog says so before anything is deleted.
  function confirmErase(req) {
    const yes = h("button", { type: "button", class: "danger", "data-confirm": "erase" }, t("priv.erase.confirm"));
    const no = h("button", { type: "button", class: "secondary", "data-cancel": "erase" }, t("aq.cancel"));
    const dialog = h("dialog", { id: "erase-dialog", "aria-labelledby": "erase-title", "aria-describedby": "erase-text" },
      h("h2", { id: "erase-title" }, t("priv.erase.title", { plate: req.plate })),
      h("p", { id: "erase-text" }, t("priv.erase.text")), h("p", { class: "stack" }, yes, no));
    document.body.append(dialog);
    dialog.addEventListener("close", () => dialog.remove());
    no.addEventListener("click", () => dialog.close());
    yes.addEventListener("click", async () => {
      yes.disabled = true;
      try {
        const done = await request("POST", `api/v1/privacy/requests/${req.id}/erase`, { json: { reason: why() } });
        dialog.close();
        const shown = h("section", { class: "card result", id: "erase-result", "data-request": req.id, tabindex: -1 },
          h("h3", {}, t("priv.erase.done", { plate: req.plate })), resultEl(done.result));
        outcome.replaceChildren(shown);
        announce(t("priv.erase.done", { plate: req.plate }));
        await reload();
        shown.focus(); // its button is gone with the row it was in
      } catch (err) {
        dialog.close();
        fail(err);
      }
    });
    dialog.showModal();
    no.focus();
  }

  const show = () => {
    out.replaceChildren(h("p", {}, t("loading")));
    load().catch((err) => out.replaceChildren(kit.errorBox(err)));
  };
  loadForm.addEventListener("submit", (e) => {
    e.preventDefault();
    if (!loadForm.reportValidity()) return;
    kit.remember(why());
    show();
  });
  const section = h("section", { class: "card", id: "privacy-requests", "aria-labelledby": "requests-title" },
    h("h2", { id: "requests-title" }, t("priv.req.title")), h("p", { class: "hint" }, t("priv.req.hint")),
    loadForm, outcome, out, newRequestForm(kit, reload));
  if (why().length >= 3) show(); // the reason given before, in this tab
  return section;
}

function newRequestForm(kit, reload) {
  const today = localInput(new Date()).slice(0, 10);
  const kind = h("select", { id: "request-kind", name: "kind" }, KINDS.map((k) => h("option", { value: k }, t(`priv.kind.${k}`))));
  const plate = h("input", { id: "request-plate", name: "plate", required: true, minlength: 2, maxlength: 16, autocomplete: "off", spellcheck: "false" });
  const requester = h("input", { id: "request-requester", name: "requester", required: true, maxlength: 200, autocomplete: "off" });
  const reference = h("input", { id: "request-reference", name: "reference", maxlength: 64, autocomplete: "off" });
  const received = h("input", { id: "request-received", name: "received", type: "date", required: true, value: today, max: today });
  const note = h("input", { id: "request-note", name: "note", maxlength: 500, autocomplete: "off" });
  const message = h("p", { class: "hint", id: "request-message", role: "status" });
  const form = h("form", { class: "grid", id: "request-form" },
    h("h3", {}, t("priv.req.new")),
    kit.label(t("priv.req.kind"), kind), kit.label(t("plate"), plate), kit.label(t("priv.req.requester"), requester, t("priv.req.requesterHint")),
    kit.label(t("priv.req.reference"), reference, t("priv.req.referenceHint")), kit.label(t("priv.req.received"), received, t("priv.req.receivedHint")),
    kit.label(t("priv.req.noteNew"), note), h("button", { type: "submit" }, t("priv.req.register")));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (!form.reportValidity()) return;
    // Today: now (the deadline counts from the moment it is registered); an earlier day: its noon.
    const body = {
      kind: kind.value, plate: plate.value.trim(), requester: requester.value.trim(),
      reference: reference.value.trim() || undefined, note: note.value.trim() || undefined,
      received_at: received.value === today ? undefined : isoFromLocal(`${received.value}T12:00`),
    };
    try {
      const created = await request("POST", "api/v1/privacy/requests", { json: body });
      const text = t("priv.req.registered", { plate: created.plate, date: fmtDay(created.due_at) });
      message.textContent = text;
      announce(text);
      form.reset();
      received.value = today;
      await reload();
    } catch (err) {
      message.replaceChildren(kit.errorBox(err));
    }
  });
  return h("div", { class: "new-request" }, form, message);
}

// ------------------------------------------------------------------ what an answer did
// The request's `result`: for an erasure what went, what holds and open alerts kept, the stations
// whose retained messages were cleared; for an access what the ZIP holds and the hotlist entries
// kept out of it. Nested lists with translated names.
function resultEl(result) {
  return h("ul", { class: "result-list" }, Object.entries(result).filter(([, value]) => value !== null && value !== undefined).map(([key, value]) =>
    h("li", { "data-result": key }, h("span", { class: "result-key" }, resultName(key)), ": ", resultValue(key, value))));
}

function resultName(key) {
  return has(`priv.res.${key}`) ? t(`priv.res.${key}`) : key;
}

function resultValue(key, value) {
  if (Array.isArray(value)) {
    if (!value.length) return t("priv.res.nothing");
    if (key === "cleared_stations") return value.map(stationName).join(", ");
    if (key === "holds") return h("ul", {}, value.map((hold) => h("li", { "data-hold": hold.id }, t("priv.res.hold", { case: hold.case_number, n: hold.transits, id: hold.id }))));
    if (key === "hotlist_entries") return h("ul", {}, value.map((entry) => h("li", { "data-list": entry.list }, t("priv.res.entry", { list: entry.list_name || entry.list, reason: entry.reason || "—" }))));
    return value.map(String).join(", ");
  }
  if (typeof value === "object") return resultEl(value);
  if (typeof value === "boolean") return t(value ? "yes" : "no");
  return typeof value === "number" ? fmtNumber(value) : String(value);
}
