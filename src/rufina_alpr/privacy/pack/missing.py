"""What the comune must still supply, found missing in the configuration: the software never
invents a particular. Each missing one is a placeholder in the documents (``[DA COMPLETARE: …]``,
``[TO BE COMPLETED: …]``) and an item of the to-do list, from the same `Missing` value.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from rufina_alpr.privacy.settings import Controller
from rufina_alpr.stations import Municipality

if TYPE_CHECKING:
    from rufina_alpr.privacy.pack.inputs import FrigateFacts, ListFact, RoleFact, StationFact

PLACEHOLDER: Final = {"it": "[DA COMPLETARE: {}]", "en": "[TO BE COMPLETED: {}]"}

CONTROLLER_LABELS: Final[dict[str, tuple[str, str]]] = {
    "name": ("denominazione del titolare (il Comune)", "the controller's name (the comune)"),
    "address": ("indirizzo del titolare", "the controller's address"),
    "email": ("e-mail del titolare", "the controller's e-mail"),
    "pec": ("PEC del titolare", "the controller's certified e-mail (PEC)"),
    "phone": ("telefono del titolare", "the controller's telephone"),
    "dpo_name": (
        "nome del Responsabile della protezione dei dati (RPD)",
        "the Data Protection Officer's name (DPO)",
    ),
    "dpo_email": ("contatto e-mail dell'RPD", "the DPO's e-mail"),
    "notice_url": (
        "indirizzo web dell'informativa completa",
        "the web address of the full notice",
    ),
    "security_pact": (
        "estremi del patto per la sicurezza urbana con la Prefettura (art. 5 d.l. 14/2017)",
        "the urban security pact with the Prefecture (art. 5 d.l. 14/2017)",
    ),
}


@dataclass(frozen=True, slots=True)
class Missing:
    """A particular the comune must supply: ``key`` names it for the templates, ``setting``
    says where to write it."""

    key: str
    section: str
    it: str
    en: str
    setting: str

    def placeholder(self, lang: str) -> str:
        return PLACEHOLDER[lang].format(self.it if lang == "it" else self.en)


def missing_particulars(
    *,
    municipality: Municipality | None,
    stations: Sequence[StationFact],
    lists: Sequence[ListFact],
    controller: Controller,
    roles: Sequence[RoleFact],
    frigate: FrigateFacts,
) -> tuple[Missing, ...]:
    """Every particular missing from the configuration, in the order the to-do list gives."""
    found = [
        Missing(f"controller.{name}", "controller", it, en, f"privacy.controller.{name}")
        for name, (it, en) in CONTROLLER_LABELS.items()
        if not getattr(controller, name)
    ]
    if municipality is None:
        found.append(
            Missing(
                "municipality",
                "stations",
                "comune e registro delle postazioni (luoghi, finalità)",
                "the municipality and its station registry (places, purposes)",
                "stations_file (frigate_config/stations.yaml)",
            )
        )
    found += [
        Missing(
            f"station.{station.id}.purpose",
            "stations",
            f"finalità della postazione {station.id}",
            f"the purpose of station {station.id}",
            f"stations_file: stations[id={station.id}].purpose.it / .en",
        )
        for station in stations
        if not station.purpose
    ]
    found += _legal_bases(lists, controller)
    if frigate.observed is None or not frigate.verified:
        kept = (
            f" (Frigate ne dichiara {frigate.observed.max_days:g})"
            if frigate.observed is not None
            else ""
        )
        kept_en = (
            f" (Frigate states {frigate.observed.max_days:g})"
            if frigate.observed is not None
            else ""
        )
        found.append(
            Missing(
                "frigate.retention",
                "frigate",
                f"verifica che Frigate conservi registrazioni e istantanee al massimo "
                f"{frigate.days} giorni, senza registrazione continua{kept}",
                f"check that Frigate keeps recordings and snapshots {frigate.days} days at "
                f"most, with no continuous recording{kept_en}",
                f"Frigate config.yml record.*.days, snapshots.retain.default (rufina-alpr "
                f"stations frigate-config --retain-days {frigate.days})",
            )
        )
    if not any(role.source in ("user", "ingress") for role in roles):
        found.append(
            Missing(
                "roles.users",
                "roles",
                "utenti nominativi per ogni persona autorizzata (solo il token "
                "dell'amministratore è configurato)",
                "a named user for each authorised person (only the administrator's token is "
                "configured)",
                "api.users (name, token, role), or Home Assistant ingress (api.ingress)",
            )
        )
    return tuple(found)


def _legal_bases(lists: Sequence[ListFact], controller: Controller) -> list[Missing]:
    """One item per kind of list in use whose lists lack a legal basis (by id or by kind)."""
    without: dict[str, list[str]] = {}
    for item in lists:
        if item.basis is None:
            without.setdefault(item.kind, []).append(item.id)
    return [
        Missing(
            f"legal_basis.{kind}",
            "lists",
            f"base giuridica delle liste di tipo {kind} ({', '.join(ids)})",
            f"the legal basis of the lists of kind {kind} ({', '.join(ids)})",
            f"privacy.controller.legal_bases.{kind} (or .<list id>)",
        )
        for kind, ids in without.items()
        if kind not in controller.legal_bases
    ]
