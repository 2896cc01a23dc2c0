// Italian and English strings; the language follows the switch, then Home Assistant's, then the browser's.
const STRINGS = {
  it: {
    skip: "Vai al contenuto", sections: "Sezioni",
    "nav.live": "In diretta", "nav.search": "Ricerca", "nav.route": "Percorso", "nav.hotlists": "Liste",
    "nav.traffic": "Traffico", "nav.audit": "Registro accessi", "nav.system": "Sistema",
    lang: "English", langLabel: "Switch to English", logout: "Esci",
    "login.title": "Accesso", "login.token": "Token di accesso", "login.submit": "Entra",
    "login.hint": "Il token resta solo in questa scheda del browser.", "login.bad": "Token non valido.",
    reason: "Motivo", reasonHint: "Obbligatorio: viene scritto nel registro accessi.", caseNumber: "Numero di pratica",
    plate: "Targa", station: "Stazione", allStations: "Tutte le stazioni", since: "Dal", until: "Al",
    vehicle: "Veicolo", anyVehicle: "Qualsiasi", time: "Ora", confidence: "Affidabilità", crop: "Ritaglio",
    hotlist: "Lista", direction: "Direzione", actions: "Azioni", none: "Nessun risultato.", loading: "Caricamento…",
    search: "Cerca", more: "Altri risultati", route: "Percorso", reads: "Letture",
    "live.title": "Transiti in diretta", "live.start": "Avvia monitoraggio",
    "live.reasonDefault": "", "live.connected": "Collegato: i nuovi transiti compaiono qui.",
    "live.reconnecting": "Connessione persa, nuovo tentativo…", "live.count": "{n} transiti",
    "live.caption": "Transiti, dal più recente", "live.stop": "Interrompi",
    "alert.check": "CONTROLLARE",
    "aq.title": "Coda degli allarmi", "aq.empty": "Nessun allarme da gestire.",
    "aq.raised": "Nuovo allarme: {plate} a {station}", "aq.withdrawnNotice": "Ritirato: {plate} (il transito non corrisponde)",
    "aq.refused": "Passo non più possibile: l'allarme è cambiato.",
    "aq.kind.hotlist": "ALLARME LISTA", "aq.kind.not_authorised": "NON AUTORIZZATO", "aq.kind.impossible_journey": "VIAGGIO IMPOSSIBILE",
    "aq.acknowledge": "Presa visione", "aq.accept": "Accetta", "aq.reject": "Respingi", "aq.close": "Chiudi con esito",
    "aq.label.acknowledge": "Presa visione dell'allarme {plate}", "aq.label.accept": "Accetta l'allarme {plate}",
    "aq.label.reject": "Respingi l'allarme {plate}", "aq.label.close": "Chiudi l'allarme {plate} con l'esito",
    "aq.done.acknowledge": "Presa visione: {plate}", "aq.done.accept": "Accettato: {plate}",
    "aq.done.reject": "Respinto: {plate}", "aq.done.close": "Chiuso: {plate}",
    "aq.provisional": "in vista — provvisorio", "aq.status.provisional": "provvisorio", "aq.status.confirmed": "confermato",
    "aq.status.withdrawn": "ritirato",
    "aq.state.new": "nuovo", "aq.state.acknowledged": "preso in carico", "aq.state.accepted": "accettato",
    "aq.state.rejected": "respinto", "aq.state.closed": "chiuso",
    "aq.by": "da {who}", "aq.review": "quasi corrispondente: da verificare", "aq.priorityLabel": "Priorità {n}",
    "aq.near": "vicina a",
    "aq.journey.label": "Le due letture della targa {plate}", "aq.journey.loading": "Caricamento delle due letture…",
    "aq.journey.first": "Prima lettura:", "aq.journey.second": "Seconda lettura, {gap} dopo:",
    "aq.journey.other": "Altra lettura:", "aq.journey.this": "Questa lettura:",
    "aq.journey.missing": "transito non più in archivio", "aq.journey.noCrop": "nessun ritaglio",
    "aq.journey.crop": "Ritaglio della targa {plate} a {station}", "aq.journey.retry": "Riprova",
    "aq.rejectReason": "Motivo del rifiuto", "aq.outcomeLabel": "Esito",
    "aq.reason.misread": "Lettura errata", "aq.reason.wrong_vehicle": "Veicolo diverso", "aq.reason.plate_cloned": "Targa clonata",
    "aq.reason.list_out_of_date": "Lista non aggiornata", "aq.reason.other": "Altro",
    "aq.outcome.stopped_checked": "Fermato e controllato", "aq.outcome.not_found": "Non trovato", "aq.outcome.fined": "Sanzionato",
    "aq.outcome.seized": "Sequestrato", "aq.outcome.other": "Altro",
    "aq.confirm.reject": "Conferma rifiuto", "aq.confirm.close": "Conferma chiusura", "aq.cancel": "Annulla",
    "aq.report.title": "Rapporto delle segnalazioni (CSV)", "aq.report.download": "Scarica CSV",
    "aq.report.hint": "Tutti gli allarmi del periodo, con esito e operatore; la richiesta usa il motivo indicato sopra.",
    "search.title": "Ricerca transiti", "search.hint": "Caratteri jolly: * per più caratteri, ? per uno (es. AB1*, ??123??).",
    "search.caption": "Risultati della ricerca", "search.found": "{n} transiti trovati",
    "route.title": "Percorso di un veicolo", "route.hint": "Una targa esatta, senza caratteri jolly.",
    "route.journey": "Viaggio {n}: {start} – {end}", "route.map": "Mappa delle stazioni con il percorso",
    "route.leg": "{time} da {from}", "route.none": "Nessun transito per questa targa.",
    "route.summary": "{n} transiti in {j} viaggi", "route.lpr": "Stazione di lettura targhe", "route.context": "Telecamera di contesto",
    "route.timeline": "Sequenza dei transiti",
    "hot.title": "Liste di controllo", "hot.lists": "Liste", "hot.new": "Nuova lista", "hot.id": "Identificativo",
    "hot.name": "Nome", "hot.kind": "Tipo", "hot.action": "Azione", "hot.entries": "Voci", "hot.expired": "Scadute",
    "hot.create": "Crea lista", "hot.open": "Apri", "hot.entriesOf": "Voci della lista «{name}»", "hot.show": "Mostra voci",
    "hot.add": "Aggiungi targa", "hot.entryReason": "Motivo dell'inserimento", "hot.expires": "Scadenza", "hot.notes": "Note",
    "hot.replaceEntry": "Sostituisci la voce se la targa è già in lista",
    "hot.listed": "La targa è già in lista: il motivo e l'autore non sono stati cambiati. Spunta «Sostituisci la voce» per sostituirla.",
    "hot.remove": "Rimuovi", "hot.import": "Importa CSV", "hot.file": "File CSV", "hot.replace": "Sostituisci le voci esistenti",
    "hot.export": "Esporta CSV", "hot.addedBy": "Inserita da", "hot.never": "mai", "hot.created": "Lista creata.",
    "hot.added": "Targa {plate} aggiunta.", "hot.removed": "Targa {plate} rimossa.",
    "hot.imported": "Importate: {added} nuove, {updated} aggiornate, {rejected} scartate.", "hot.pick": "Scegli una lista.",
    "hot.entriesReason": "Le voci contengono targhe: indica un motivo per vederle.",
    "kind.stolen": "Rubati", "kind.police": "Polizia", "kind.uninsured": "Senza assicurazione", "kind.inspection": "Revisione scaduta",
    "kind.watch": "Osservati", "kind.authorised": "Autorizzati",
    "action.alert": "Allarme", "action.stop_and_check": "Fermare e controllare", "action.allow": "Consentito",
    "match.exact": "esatta", "match.fuzzy": "simile",
    "traffic.title": "Traffico", "traffic.period": "Intervallo", "traffic.hour": "Per ora", "traffic.day": "Per giorno",
    "traffic.byStation": "Veicoli per stazione", "traffic.overTime": "Veicoli nel tempo", "traffic.classes": "Classi di veicoli",
    "traffic.directions": "Direzioni", "traffic.csv": "Esporta CSV", "traffic.show": "Aggiorna", "traffic.total": "Veicoli in totale",
    "traffic.unique": "Veicoli distinti (ultimo giorno)", "traffic.stations": "Stazioni attive", "traffic.table": "Tabella dei conteggi",
    "traffic.count": "Veicoli",
    "dir.inbound": "In entrata", "dir.outbound": "In uscita", "dir.both": "Entrambe", "dir.unknown": "Non nota",
    "veh.car": "Auto", "veh.motorcycle": "Moto", "veh.bus": "Autobus", "veh.truck": "Camion", "veh.bicycle": "Bicicletta",
    "veh.van": "Furgone", "veh.vehicle": "Veicolo",
    "audit.title": "Registro accessi", "audit.actor": "Utente", "audit.action": "Operazione", "audit.query": "Richiesta",
    "audit.results": "Risultati", "audit.admins": "Il registro accessi è riservato agli amministratori.",
    "audit.caption": "Voci del registro, dalla più recente", "audit.show": "Mostra registro",
    "audit.via": "{person} tramite {actor}",
    "audit.actorHint": "L'utente del token o la persona per cui ha agito (basta una parte del nome).",
    "sys.title": "Sistema", "sys.engine": "Motore", "sys.broker": "Broker MQTT", "sys.frigate": "Frigate",
    "sys.version": "Versione", "sys.uptime": "In funzione da", "sys.detector": "Rilevatore", "sys.ocr": "OCR",
    "sys.workers": "Processi di lettura", "sys.store": "Archivio", "sys.retention": "Conservazione (giorni)",
    "sys.connected": "Collegato", "sys.disconnected": "Non collegato", "sys.reachable": "Raggiungibile",
    "sys.unreachable": "Non raggiungibile", "sys.queue": "Coda immagini", "sys.p50": "Latenza mediana",
    "sys.p95": "Latenza 95°", "sys.today": "Transiti oggi", "sys.vehiclesToday": "Veicoli oggi", "sys.counters": "Contatori",
    "sys.counter": "Contatore", "sys.value": "Valore", "sys.stations": "Stazioni", "sys.error": "Errore",
    "err.forbidden": "Il tuo ruolo non consente questa operazione.", "err.generic": "Errore: {msg}",
    role: "ruolo", "role.viewer": "osservatore", "role.operator": "operatore", "role.admin": "amministratore",
    yes: "sì", no: "no", seconds: "{n} s", minutes: "{n} min", hours: "{n} h",
  },
  en: {
    skip: "Skip to content", sections: "Sections",
    "nav.live": "Live", "nav.search": "Search", "nav.route": "Route", "nav.hotlists": "Hotlists",
    "nav.traffic": "Traffic", "nav.audit": "Audit log", "nav.system": "System",
    lang: "Italiano", langLabel: "Passa all'italiano", logout: "Log out",
    "login.title": "Sign in", "login.token": "Access token", "login.submit": "Sign in",
    "login.hint": "The token stays in this browser tab only.", "login.bad": "Invalid token.",
    reason: "Reason", reasonHint: "Required: it is written to the audit log.", caseNumber: "Case number",
    plate: "Plate", station: "Station", allStations: "All stations", since: "From", until: "To",
    vehicle: "Vehicle", anyVehicle: "Any", time: "Time", confidence: "Confidence", crop: "Crop",
    hotlist: "Hotlist", direction: "Direction", actions: "Actions", none: "No results.", loading: "Loading…",
    search: "Search", more: "More results", route: "Route", reads: "Reads",
    "live.title": "Live transits", "live.start": "Start monitoring",
    "live.reasonDefault": "", "live.connected": "Connected: new transits appear here.",
    "live.reconnecting": "Connection lost, retrying…", "live.count": "{n} transits",
    "live.caption": "Transits, newest first", "live.stop": "Stop",
    "alert.check": "STOP AND CHECK",
    "aq.title": "Alert queue", "aq.empty": "No alerts to handle.",
    "aq.raised": "New alert: {plate} at {station}", "aq.withdrawnNotice": "Withdrawn: {plate} (the transit does not match)",
    "aq.refused": "That step is no longer possible: the alert has changed.",
    "aq.kind.hotlist": "HOTLIST ALERT", "aq.kind.not_authorised": "NOT AUTHORISED", "aq.kind.impossible_journey": "IMPOSSIBLE JOURNEY",
    "aq.acknowledge": "Acknowledge", "aq.accept": "Accept", "aq.reject": "Reject", "aq.close": "Close with outcome",
    "aq.label.acknowledge": "Acknowledge the alert for {plate}", "aq.label.accept": "Accept the alert for {plate}",
    "aq.label.reject": "Reject the alert for {plate}", "aq.label.close": "Close the alert for {plate} with its outcome",
    "aq.done.acknowledge": "Acknowledged: {plate}", "aq.done.accept": "Accepted: {plate}",
    "aq.done.reject": "Rejected: {plate}", "aq.done.close": "Closed: {plate}",
    "aq.provisional": "in view — provisional", "aq.status.provisional": "provisional", "aq.status.confirmed": "confirmed",
    "aq.status.withdrawn": "withdrawn",
    "aq.state.new": "new", "aq.state.acknowledged": "acknowledged", "aq.state.accepted": "accepted",
    "aq.state.rejected": "rejected", "aq.state.closed": "closed",
    "aq.by": "by {who}", "aq.review": "near match: to review", "aq.priorityLabel": "Priority {n}",
    "aq.near": "near",
    "aq.journey.label": "The two sightings of plate {plate}", "aq.journey.loading": "Loading the two sightings…",
    "aq.journey.first": "First sighting:", "aq.journey.second": "Second sighting, {gap} later:",
    "aq.journey.other": "Other sighting:", "aq.journey.this": "This sighting:",
    "aq.journey.missing": "transit no longer stored", "aq.journey.noCrop": "no crop",
    "aq.journey.crop": "Crop of plate {plate} at {station}", "aq.journey.retry": "Retry",
    "aq.rejectReason": "Why it is rejected", "aq.outcomeLabel": "Outcome",
    "aq.reason.misread": "Misread", "aq.reason.wrong_vehicle": "Wrong vehicle", "aq.reason.plate_cloned": "Cloned plate",
    "aq.reason.list_out_of_date": "List out of date", "aq.reason.other": "Other",
    "aq.outcome.stopped_checked": "Stopped and checked", "aq.outcome.not_found": "Not found", "aq.outcome.fined": "Fined",
    "aq.outcome.seized": "Seized", "aq.outcome.other": "Other",
    "aq.confirm.reject": "Confirm rejection", "aq.confirm.close": "Confirm closing", "aq.cancel": "Cancel",
    "aq.report.title": "Hits report (CSV)", "aq.report.download": "Download CSV",
    "aq.report.hint": "Every alert of the period, with its outcome and operator; asked with the reason given above.",
    "search.title": "Transit search", "search.hint": "Wildcards: * for any run of characters, ? for one (e.g. AB1*, ??123??).",
    "search.caption": "Search results", "search.found": "{n} transits found",
    "route.title": "Vehicle route", "route.hint": "One exact plate, without wildcards.",
    "route.journey": "Journey {n}: {start} – {end}", "route.map": "Station map with the route",
    "route.leg": "{time} from {from}", "route.none": "No transit of this plate.",
    "route.summary": "{n} transits in {j} journeys", "route.lpr": "Plate-reading station", "route.context": "Context camera",
    "route.timeline": "Transits in order",
    "hot.title": "Hotlists", "hot.lists": "Lists", "hot.new": "New list", "hot.id": "Identifier",
    "hot.name": "Name", "hot.kind": "Kind", "hot.action": "Action", "hot.entries": "Entries", "hot.expired": "Expired",
    "hot.create": "Create list", "hot.open": "Open", "hot.entriesOf": "Entries of “{name}”", "hot.show": "Show entries",
    "hot.add": "Add plate", "hot.entryReason": "Why it is listed", "hot.expires": "Expires", "hot.notes": "Notes",
    "hot.replaceEntry": "Replace the entry if the plate is already listed",
    "hot.listed": "The plate is already listed: its reason and author were not changed. Tick \u201cReplace the entry\u201d to replace it.",
    "hot.remove": "Remove", "hot.import": "Import CSV", "hot.file": "CSV file", "hot.replace": "Replace the existing entries",
    "hot.export": "Export CSV", "hot.addedBy": "Added by", "hot.never": "never", "hot.created": "List created.",
    "hot.added": "Plate {plate} added.", "hot.removed": "Plate {plate} removed.",
    "hot.imported": "Imported: {added} new, {updated} updated, {rejected} rejected.", "hot.pick": "Pick a list.",
    "hot.entriesReason": "Entries are plates: give a reason to see them.",
    "kind.stolen": "Stolen", "kind.police": "Police", "kind.uninsured": "Uninsured", "kind.inspection": "Inspection expired",
    "kind.watch": "Watch", "kind.authorised": "Authorised",
    "action.alert": "Alert", "action.stop_and_check": "Stop and check", "action.allow": "Allow",
    "match.exact": "exact", "match.fuzzy": "similar",
    "traffic.title": "Traffic", "traffic.period": "Interval", "traffic.hour": "Hourly", "traffic.day": "Daily",
    "traffic.byStation": "Vehicles per station", "traffic.overTime": "Vehicles over time", "traffic.classes": "Vehicle classes",
    "traffic.directions": "Directions", "traffic.csv": "Export CSV", "traffic.show": "Update", "traffic.total": "Vehicles in total",
    "traffic.unique": "Distinct vehicles (latest day)", "traffic.stations": "Active stations", "traffic.table": "Count table",
    "traffic.count": "Vehicles",
    "dir.inbound": "Inbound", "dir.outbound": "Outbound", "dir.both": "Both", "dir.unknown": "Unknown",
    "veh.car": "Car", "veh.motorcycle": "Motorcycle", "veh.bus": "Bus", "veh.truck": "Truck", "veh.bicycle": "Bicycle",
    "veh.van": "Van", "veh.vehicle": "Vehicle",
    "audit.title": "Audit log", "audit.actor": "User", "audit.action": "Action", "audit.query": "Query",
    "audit.results": "Results", "audit.admins": "The audit log is for administrators only.",
    "audit.caption": "Audit entries, newest first", "audit.show": "Show log",
    "audit.via": "{person} via {actor}",
    "audit.actorHint": "The token's user, or the person it acted for (part of the name will do).",
    "sys.title": "System", "sys.engine": "Engine", "sys.broker": "MQTT broker", "sys.frigate": "Frigate",
    "sys.version": "Version", "sys.uptime": "Up for", "sys.detector": "Detector", "sys.ocr": "OCR",
    "sys.workers": "Recognition workers", "sys.store": "Store", "sys.retention": "Retention (days)",
    "sys.connected": "Connected", "sys.disconnected": "Disconnected", "sys.reachable": "Reachable",
    "sys.unreachable": "Unreachable", "sys.queue": "Image queue", "sys.p50": "Median latency",
    "sys.p95": "95th pct latency", "sys.today": "Transits today", "sys.vehiclesToday": "Vehicles today", "sys.counters": "Counters",
    "sys.counter": "Counter", "sys.value": "Value", "sys.stations": "Stations", "sys.error": "Error",
    "err.forbidden": "Your role does not allow this.", "err.generic": "Error: {msg}",
    role: "role", "role.viewer": "viewer", "role.operator": "operator", "role.admin": "admin",
    yes: "yes", no: "no", seconds: "{n} s", minutes: "{n} min", hours: "{n} h",
  },
};

const LANG_KEY = "rufina.lang";

function haLanguage() {
  // Under ingress the panel shares Home Assistant's origin and its stored language.
  try {
    const raw = window.localStorage.getItem("selectedLanguage");
    return raw ? JSON.parse(raw) : null;
  } catch {
    return null;
  }
}

function pick(code) {
  return code && String(code).toLowerCase().startsWith("it") ? "it" : code && String(code).toLowerCase().startsWith("en") ? "en" : null;
}

export let lang = (() => {
  let chosen = null;
  try { chosen = window.localStorage.getItem(LANG_KEY); } catch { /* storage off */ }
  return pick(chosen) || pick(haLanguage()) || pick(navigator.language) || "it";
})();

export function setLang(code) {
  lang = pick(code) || "it";
  try { window.localStorage.setItem(LANG_KEY, lang); } catch { /* storage off */ }
  document.documentElement.lang = lang;
}

export function t(key, vars = {}) {
  const text = STRINGS[lang][key] ?? STRINGS.it[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => (name in vars ? String(vars[name]) : `{${name}}`));
}

export function has(key) {
  return key in STRINGS[lang];
}

export const locale = () => (lang === "it" ? "it-IT" : "en-GB");

export function fmtTime(iso, withDate = true) {
  const d = new Date(iso);
  return d.toLocaleString(locale(), withDate
    ? { day: "2-digit", month: "2-digit", year: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit" }
    : { hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

export function fmtNumber(n, digits = 0) {
  return Number(n).toLocaleString(locale(), { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

export function fmtDuration(seconds) {
  const s = Math.round(seconds);
  if (s < 90) return t("seconds", { n: s });
  if (s < 5400) return t("minutes", { n: Math.round(s / 60) });
  return t("hours", { n: fmtNumber(s / 3600, 1) });
}
