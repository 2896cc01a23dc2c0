"""The privacy pack: the documents a comune must keep (DPIA draft, first-level notices per
station, the art. 13 informativa, the art. 30 record entry, and what the comune must still
supply), in Italian and English, as Markdown and printable HTML, written from the running
configuration and kept true to it.

``inputs``: the facts, in sections with a hash each; ``measures`` and ``missing``: the enforced
measures and the missing particulars; ``documents``: the templates; ``html``: printable pages;
``manifest``: the files, ``manifest.json`` and the check; ``records``: the store's side (the
hotlists' definitions, ``privacy_packs``, `pack_status`).
"""

from __future__ import annotations

from rufina_alpr.privacy.pack.documents import (
    DOCUMENT_IDS,
    DOCUMENTS,
    LANGS,
    Lang,
    document,
    render,
)
from rufina_alpr.privacy.pack.html import to_html
from rufina_alpr.privacy.pack.inputs import (
    SECTIONS,
    FrigateObserved,
    PackInputs,
    frigate_observed,
    pack_inputs,
)
from rufina_alpr.privacy.pack.manifest import (
    MANIFEST,
    GeneratedPack,
    ManifestError,
    Staleness,
    build_pack,
    check_manifest,
    pack_zip,
    read_manifest,
    write_pack,
)
from rufina_alpr.privacy.pack.records import (
    PackStatus,
    current_inputs,
    current_status,
    list_definitions,
    pack_status,
    record_pack,
)

__all__ = [
    "DOCUMENTS",
    "DOCUMENT_IDS",
    "LANGS",
    "MANIFEST",
    "SECTIONS",
    "FrigateObserved",
    "GeneratedPack",
    "Lang",
    "ManifestError",
    "PackInputs",
    "PackStatus",
    "Staleness",
    "build_pack",
    "check_manifest",
    "current_inputs",
    "current_status",
    "document",
    "frigate_observed",
    "list_definitions",
    "pack_inputs",
    "pack_status",
    "pack_zip",
    "read_manifest",
    "record_pack",
    "render",
    "to_html",
    "write_pack",
]
