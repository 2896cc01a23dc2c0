"""The pack's documents, written from Jinja templates (``templates/<lang>/<doc>.md.j2``) over the
`PackInputs`: each states the sections it was generated from and its own hash over them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any, Final, Literal

import jinja2

from rufina_alpr import __version__
from rufina_alpr.hotlists import DEFAULT_ACTION, KINDS
from rufina_alpr.privacy.pack.inputs import SECTIONS, PackInputs, StationFact, digest, sections_of
from rufina_alpr.privacy.settings import DATA_KINDS

Lang = Literal["it", "en"]
LANGS: Final[tuple[Lang, ...]] = ("it", "en")
TEMPLATES: Final = Path(__file__).with_name("templates")


@dataclass(frozen=True, slots=True)
class DocumentSpec:
    """A document of the pack: its id (the file name), the sections it states, its titles."""

    id: str
    sections: tuple[str, ...]
    title_it: str
    title_en: str
    states_frigate_reading: bool = False
    """Whether it states what Frigate's running configuration said (so a view asks Frigate)."""

    def title(self, lang: Lang) -> str:
        return self.title_it if lang == "it" else self.title_en

    def hash(self, inputs: PackInputs) -> str:
        """The document's hash: over its id and the hashes of the sections it uses."""
        return digest({"document": self.id, "sections": sections_of(inputs, self.sections)})


DOCUMENTS: Final[tuple[DocumentSpec, ...]] = (
    DocumentSpec(
        "dpia",
        SECTIONS,
        "Valutazione d'impatto sulla protezione dei dati (DPIA) - bozza",
        "Data protection impact assessment (DPIA) - draft",
        states_frigate_reading=True,
    ),
    DocumentSpec(
        "notices",
        ("stations", "retention", "controller"),
        "Informativa di primo livello: cartelli delle postazioni",
        "First-level notices: the stations' signs",
    ),
    DocumentSpec(
        "informativa",
        ("stations", "retention", "lists", "controller", "frigate"),
        "Informativa sul trattamento dei dati personali (art. 13 GDPR)",
        "Privacy notice (art. 13 GDPR)",
    ),
    DocumentSpec(
        "record",
        ("stations", "retention", "lists", "controller", "frigate", "measures"),
        "Registro delle attività di trattamento (art. 30 GDPR): scheda",
        "Record of processing activities (art. 30 GDPR): entry",
    ),
    DocumentSpec(
        "todo",
        ("stations", "lists", "roles", "controller", "frigate"),
        "Da completare a cura del Comune",
        "To be completed by the comune",
        states_frigate_reading=True,
    ),
)
DOCUMENT_IDS: Final = tuple(spec.id for spec in DOCUMENTS)


def document(doc_id: str) -> DocumentSpec:
    """The document with this id; KeyError for another."""
    for spec in DOCUMENTS:
        if spec.id == doc_id:
            return spec
    raise KeyError(doc_id)


def _cell(value: object) -> str:
    """Text fit for a Markdown table cell: one line, pipes escaped."""
    return " ".join(str(value).split()).replace("|", "\\|")


def _days(value: float) -> str:
    return f"{value:g}"


@cache
def _environment() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=False,  # Markdown; markdown-it escapes HTML when it prints it
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    environment.filters["cell"] = _cell
    environment.filters["days"] = _days
    return environment


class _Context:
    """What a template sees besides the inputs: the placeholders of what is missing, the
    purposes in its language."""

    def __init__(self, inputs: PackInputs, lang: Lang) -> None:
        self.inputs = inputs
        self.lang = lang
        self._missing = {item.key: item for item in inputs.missing}

    def fill(self, value: object, key: str) -> str:
        """The value, or the placeholder of the missing particular ``key``."""
        if value:
            return str(value)
        return self._missing[key].placeholder(self.lang)

    def controller(self, name: str) -> str:
        return self.fill(getattr(self.inputs.controller, name), f"controller.{name}")

    def purpose(self, station: StationFact) -> str:
        if self.lang == "en" and station.purpose_en:
            return station.purpose_en
        if station.purpose and self.lang == "en":
            return f"{station.purpose} (in Italian)"
        return self.fill(station.purpose, f"station.{station.id}.purpose")

    def town(self) -> str:
        town = self.inputs.municipality
        if town is None:
            return self._missing["municipality"].placeholder(self.lang)
        return f"{town.name} ({town.province})"

    def basis(self, kind: str) -> str | None:
        """The kind's legal basis, or the placeholder when lists of the kind lack one; None
        for a kind no list uses and that has none."""
        given = self.inputs.kind_basis(kind)
        if given:
            return given
        key = f"legal_basis.{kind}"
        return self._missing[key].placeholder(self.lang) if key in self._missing else None


def render(spec: DocumentSpec, lang: Lang, inputs: PackInputs, generated_at: datetime) -> str:
    """The document as Markdown."""
    template = _environment().get_template(f"{lang}/{spec.id}.md.j2")
    variables: dict[str, Any] = {
        "i": inputs,
        "x": _Context(inputs, lang),
        "doc": spec,
        "title": spec.title(lang),
        "doc_hash": spec.hash(inputs),
        "doc_sections": sections_of(inputs, spec.sections),
        "generated_at": generated_at,
        "version": __version__,
        "kinds": DATA_KINDS,
        "list_kinds": KINDS,
        "default_action": DEFAULT_ACTION,
        "lpr": [station for station in inputs.stations if station.kind == "lpr"],
        "context": [station for station in inputs.stations if station.kind == "context"],
    }
    return template.render(variables)
