"""The technical measures the software enforces, each with the setting that enforces it and that
setting's value in the running configuration (the DPIA's and the record's "measures")."""

from __future__ import annotations

from dataclasses import dataclass

from rufina_alpr.config import Settings
from rufina_alpr.hotlists import DEFAULT_ACTION
from rufina_alpr.privacy.settings import DATA_KINDS


@dataclass(frozen=True, slots=True)
class Measure:
    """One measure: what it does (Italian and English), the setting and its value now."""

    id: str
    it: str
    en: str
    setting: str
    value: str


def _days(days: float) -> str:
    return f"{days:g} d"


def _retention(settings: Settings) -> Measure:
    retention = settings.privacy.retention
    kinds = ", ".join(f"{kind} {_days(getattr(retention, kind))}" for kind in DATA_KINDS[:-1])
    return Measure(
        "retention_purge",
        "Cancellazione automatica di ogni tipo di dato alla scadenza del suo termine di "
        "conservazione (i transiti sotto vincolo esclusi); le statistiche di traffico restano, "
        "senza targhe.",
        "Automatic deletion of each kind of data when its retention ends (held transits "
        "excepted); traffic statistics remain, without plates.",
        "privacy.retention.*, privacy.purge_interval",
        f"{kinds}; every {settings.privacy.purge_interval:g} s",
    )


def _frigate_tls(settings: Settings) -> Measure:
    frigate = settings.frigate
    if not frigate.url.startswith("https://"):
        value = f"{frigate.url}: http, no TLS"
    elif frigate.verify_tls:
        value = "https, certificate verified" + (f" ({frigate.ca_file})" if frigate.ca_file else "")
    else:
        value = "https, certificate NOT verified"
    return Measure(
        "frigate_tls",
        "Collegamento a Frigate (immagini dei veicoli) cifrato con TLS e certificato verificato.",
        "The link to Frigate (the vehicles' images) encrypted with TLS, certificate verified.",
        "frigate.url, frigate.verify_tls, frigate.ca_file",
        value,
    )


def _roles(settings: Settings) -> Measure:
    api = settings.api
    ingress = (
        f"; Home Assistant ingress: role {api.ingress.role}, admins {len(api.ingress.admins)}"
        if api.ingress.enabled
        else "; Home Assistant ingress off"
    )
    return Measure(
        "api_roles",
        "Accesso all'API e al pannello solo con credenziali personali e ruoli (viewer: "
        "statistiche; operator: ricerche e liste; admin: registro degli accessi, pacchetto "
        "privacy).",
        "API and panel access only with personal credentials and roles (viewer: statistics; "
        "operator: searches and lists; admin: audit log, privacy pack).",
        "api.token, api.users, api.ingress",
        f"{len(api.users)} named users{ingress}",
    )


def _acting_person(settings: Settings) -> Measure:
    delegates = [user.name for user in settings.api.users if user.delegate]
    if settings.api.delegate:
        delegates.insert(0, "admin (built-in token)")
    return Measure(
        "acting_person",
        "Il registro degli accessi nomina la persona che agisce anche quando la richiesta passa "
        "da Home Assistant (intestazione X-Rufina-Acting-User, solo per token delegati).",
        "The audit log names the acting person also when a request comes through Home Assistant "
        "(X-Rufina-Acting-User header, delegate tokens only).",
        "api.delegate, api.users[].delegate",
        ", ".join(delegates) if delegates else "no delegate token",
    )


def _store(settings: Settings) -> Measure:
    sqlite = not settings.store_url.startswith("postgres")
    return Measure(
        "secure_delete",
        "I dati cancellati non restano leggibili nel file del database.",
        "Deleted data does not stay readable in the database file.",
        "store.url",
        "SQLite: PRAGMA secure_delete=ON, WAL truncated after each purge"
        if sqlite
        else "PostgreSQL: rows deleted by the purge; their space is reclaimed by VACUUM",
    )


def enforced_measures(settings: Settings) -> tuple[Measure, ...]:
    """Every measure, with the value of its setting in ``settings``."""
    privacy, hotlists, frigate = settings.privacy, settings.hotlists, settings.frigate
    stop = sorted(kind for kind, action in DEFAULT_ACTION.items() if action == "stop_and_check")
    return (
        _retention(settings),
        Measure(
            "holds",
            "Conservazione oltre il termine solo per i transiti vincolati a un'indagine, con "
            "numero di pratica e motivo, fino al rilascio del vincolo.",
            "Data kept past retention only for transits held for an investigation, with a case "
            "number and a reason, until the hold is released.",
            "POST /api/v1/holds (case_number, reason)",
            "always",
        ),
        Measure(
            "audit_log",
            "Registro degli accessi non modificabile: chi, quando, cosa, perché, quanti risultati.",
            "Append-only audit log: who, when, what, why, how many results.",
            "privacy.retention.audit",
            _days(privacy.retention.audit),
        ),
        _acting_person(settings),
        Measure(
            "reason_required",
            "Ogni ricerca che restituisce targhe richiede un motivo (e facoltativamente un numero "
            "di pratica), registrato.",
            "Every search that returns plates requires a reason (and optionally a case number), "
            "recorded.",
            "API parameter reason (3 characters at least)",
            "always",
        ),
        _roles(settings),
        Measure(
            "mqtt_signing",
            "Ogni messaggio MQTT del motore è firmato (HMAC): Home Assistant scarta i messaggi "
            "contraffatti.",
            "Every MQTT message of the engine is signed (HMAC): Home Assistant drops forged ones.",
            "signing key in the store (payload fields kid, sig)",
            "always",
        ),
        _frigate_tls(settings),
        Measure(
            "frigate_write_back",
            "Le targhe lette non vengono scritte negli eventi di Frigate (che ha una propria "
            "conservazione), salvo attivazione.",
            "Plates read are not written into Frigate's events (which have their own retention) "
            "unless turned on.",
            "frigate.write_back.plate, frigate.write_back.sub_label",
            f"plate {'on' if frigate.write_back_plate else 'off'}, "
            f"sub_label {'on' if frigate.write_back_sub_label else 'off'}",
        ),
        Measure(
            "retained_cleared",
            "I messaggi MQTT conservati dal broker (ultima targa, ritaglio per stazione) sono "
            "cancellati quando il loro transito lo è.",
            "The MQTT messages the broker retains (last plate, crop per station) are cleared "
            "when their transit is purged.",
            "privacy.purge_interval",
            f"every {privacy.purge_interval:g} s",
        ),
        Measure(
            "no_plates_in_logs",
            "Nessuna targa, motivo o credenziale nei log a livello INFO e superiori.",
            "No plate, reason or secret in the logs at INFO level and above.",
            "log_level",
            settings.log_level,
        ),
        Measure(
            "low_confidence",
            "Le letture incerte sono conservate ma segnalate come tali, non scartate né "
            "corrette a caso.",
            "Uncertain reads are kept but flagged as such, neither dropped nor guessed.",
            "recognition.low_confidence",
            f"{settings.recognition.low_confidence:g}",
        ),
        Measure(
            "in_view_alerts",
            "Un allarme mentre il veicolo è in vista solo su una lettura sicura; il transito lo "
            "conferma o lo ritira.",
            "An alert while the vehicle is in view only on a confident read; its transit "
            "confirms or withdraws it.",
            "hotlists.in_view, hotlists.in_view_min_confidence",
            f"{'on' if hotlists.in_view else 'off'}, {hotlists.in_view_min_confidence:g}",
        ),
        Measure(
            "stop_and_check",
            "Assicurazione e revisione: un riscontro è motivo di controllo del veicolo, mai una "
            "sanzione automatica; il software non emette sanzioni.",
            "Insurance and inspection: a hit is a reason to stop and check the vehicle, never an "
            "automatic fine; the software issues no fines.",
            "hotlists: default action of the kinds " + ", ".join(stop),
            "stop_and_check",
        ),
        Measure(
            "evidence_frames",
            "Il fotogramma intero di un allarme è conservato come prova con la sua impronta "
            "SHA-256 al momento dell'acquisizione.",
            "An alert's full frame is kept as evidence with its SHA-256 fingerprint at capture.",
            "hotlists.evidence_frames, privacy.retention.frames",
            f"{'on' if hotlists.evidence_frames else 'off'}, {_days(privacy.retention.frames)}",
        ),
        Measure(
            "ha_recorder",
            "Home Assistant non conserva targhe oltre il termine del motore: l'integrazione le "
            "cancella dal recorder; gli eventi dei transiti sono senza targa salvo opzione.",
            "Home Assistant keeps no plate past the engine's retention: the integration deletes "
            "them from its recorder; transit events carry no plate unless an option asks.",
            "privacy.retention.transits (read by the integration); option plates_in_events",
            _days(privacy.retention.transits),
        ),
        _store(settings),
    )
