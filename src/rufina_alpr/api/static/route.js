// The route page: a plate's journeys, each as a timeline and a station map (routemap.js) that
// takes the card's width (beside the timeline on a wide screen, under it on a tablet).
import { t, fmtTime, fmtDuration } from "./i18n.js";
import { h, get, localInput, isoFromLocal, formatPlate } from "./util.js";
import { stationMap } from "./routemap.js";

// `kit`: the panel's shared pieces (app.js: label, reasonInput, remember, errorBox, cropEl,
// hotBadge, directionName, stationName, stations(), map()).
export function routePage(root, query, kit) {
  const plate = h("input", { id: "route-plate", name: "plate", required: true, maxlength: 16, autocomplete: "off", spellcheck: "false", value: query.get("plate") || "" });
  const since = h("input", { id: "route-since", type: "datetime-local", value: localInput(new Date(Date.now() - 7 * 86400000)) });
  const until = h("input", { id: "route-until", type: "datetime-local" });
  const reason = kit.reasonInput("route-reason");
  const caseNumber = h("input", { id: "route-case", maxlength: 64, autocomplete: "off" });
  const out = h("div", { id: "route-results", "aria-live": "polite" });
  const form = h("form", { class: "card grid", id: "route-form" },
    kit.label(t("plate"), plate, t("route.hint")), kit.label(t("since"), since), kit.label(t("until"), until),
    kit.label(t("reason"), reason, t("reasonHint")), kit.label(t("caseNumber"), caseNumber), h("button", { type: "submit" }, t("route")));
  const where = (tr) => tr.station_name || kit.stationName(tr.station);

  async function load() {
    const why = reason.value.trim();
    const body = await get("api/v1/route", { plate: plate.value.trim(), since: isoFromLocal(since.value), until: isoFromLocal(until.value), reason: why, case_number: caseNumber.value.trim() });
    const all = body.journeys.flatMap((j) => j.transits);
    const ids = all.map((x) => x.id).slice(0, 100);
    const crops = ids.length ? (await get("api/v1/crops", { id: ids, reason: why, case_number: caseNumber.value.trim() })).crops : {};
    if (!all.length) { out.replaceChildren(h("p", {}, t("route.none"))); return; }
    // Oldest first: the order the vehicle went.
    const journeys = [...body.journeys].sort((a, b) => a.start.localeCompare(b.start));
    const sections = journeys.map((journey, n) => {
      const transits = [...journey.transits].sort((a, b) => a.time.localeCompare(b.time));
      const legs = transits.slice(1).map((tr, i) => fmtDuration((new Date(tr.time) - new Date(transits[i].time)) / 1000));
      const timeline = h("ol", { class: "timeline", "aria-label": t("route.timeline") }, transits.map((tr, i) =>
        h("li", { "data-station": tr.station, "data-transit": tr.id },
          h("div", { class: "stack" }, h("strong", {}, `${i + 1}. ${where(tr)}`),
            h("time", { datetime: tr.time }, fmtTime(tr.time)), kit.cropEl(tr, crops), kit.hotBadge(tr.hotlist),
            tr.direction ? h("span", { class: "badge" }, kit.directionName(tr.direction)) : null),
          i ? h("div", { class: "leg" }, t("route.leg", { time: legs[i - 1], from: where(transits[i - 1]) })) : null)));
      const map = stationMap(kit.stations(), {
        path: transits.map((tr) => tr.station), legLabels: legs, title: t("route.map"),
        labels: { lpr: t("route.lpr"), context: t("route.context") }, tileServer: kit.map(),
      });
      return h("section", { class: "card", "data-journey": n + 1 },
        h("h2", {}, t("route.journey", { n: n + 1, start: fmtTime(journey.start), end: fmtTime(journey.end) })),
        h("div", { class: "route-cols" }, h("div", {}, timeline), h("figure", { class: "map" }, map,
          h("figcaption", { class: "legend" }, h("span", {}, "■ ", t("route.lpr")), h("span", {}, "● ", t("route.context")),
            h("span", {}, h("b", { class: "stop-key" }, "1"), " ", t("route.stops"))))));
    });
    out.replaceChildren(h("p", { role: "status" }, t("route.summary", { n: all.length, j: journeys.length, plate: formatPlate(all[0].plate, all[0].format) })), ...sections);
  }
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (!form.reportValidity()) return;
    kit.remember(reason.value.trim());
    out.replaceChildren(h("p", {}, t("loading")));
    load().catch((err) => out.replaceChildren(kit.errorBox(err)));
  });
  root.append(h("h1", {}, t("route.title")), form, out);
  if (plate.value && reason.value.trim().length >= 3) form.requestSubmit();
}
