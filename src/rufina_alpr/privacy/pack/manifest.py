"""A pack's files and its ``manifest.json``, and the check of a pack against the configuration.

The manifest records when and by whom the pack was generated, the version, the hash of each
section of the configuration and, per document, the sections it uses, its hash and its files;
`staleness` compares recorded hashes with the configuration now: the documents out of date and
the sections that changed.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from rufina_alpr import __version__, contract
from rufina_alpr.errors import RufinaError
from rufina_alpr.privacy.pack.documents import DOCUMENTS, LANGS, render
from rufina_alpr.privacy.pack.html import to_html
from rufina_alpr.privacy.pack.inputs import SECTIONS, PackInputs

MANIFEST: Final = "manifest.json"
FORMAT: Final = 1


class ManifestError(RufinaError, ValueError):
    """A folder without a readable pack manifest."""


@dataclass(frozen=True, slots=True)
class GeneratedPack:
    """A pack in memory: its manifest and its files (path under the pack's folder: bytes)."""

    manifest: dict[str, Any]
    files: Mapping[str, bytes]

    @property
    def generated_at(self) -> datetime:
        return datetime.fromisoformat(self.manifest["generated_at"])

    @property
    def sections(self) -> dict[str, str]:
        return dict(self.manifest["sections"])

    @property
    def documents(self) -> dict[str, str]:
        """Each document's hash, by id."""
        return {doc: entry["hash"] for doc, entry in self.manifest["documents"].items()}


@dataclass(frozen=True, slots=True)
class Staleness:
    """What changed since a pack: the documents out of date (each with the changed sections it
    uses) and the sections that changed."""

    outdated: Mapping[str, tuple[str, ...]]
    changed: tuple[str, ...]

    @property
    def current(self) -> bool:
        return not self.outdated and not self.changed


def build_pack(
    inputs: PackInputs, *, generated_by: str, now: datetime | None = None
) -> GeneratedPack:
    """Every document in every language, as Markdown and HTML, and the manifest."""
    moment = (now or datetime.now(UTC)).replace(microsecond=0)
    files: dict[str, bytes] = {}
    documents: dict[str, Any] = {}
    for spec in DOCUMENTS:
        names = []
        for lang in LANGS:
            markdown = render(spec, lang, inputs, moment)
            page = to_html(markdown, title=spec.title(lang), lang=lang)
            for suffix, text in (("md", markdown), ("html", page)):
                name = f"{lang}/{spec.id}.{suffix}"
                files[name] = text.encode("utf-8")
                names.append(name)
        documents[spec.id] = {
            "title": {lang: spec.title(lang) for lang in LANGS},
            "sections": list(spec.sections),
            "hash": spec.hash(inputs),
            "files": names,
        }
    manifest = {
        "format": FORMAT,
        "generator": "rufina-alpr",
        "version": __version__,
        "generated_at": contract.iso_time(moment),
        "generated_by": generated_by,
        "sections": dict(inputs.hashes),
        "documents": documents,
    }
    files[MANIFEST] = (json.dumps(manifest, indent=2, ensure_ascii=False) + "\n").encode()
    return GeneratedPack(manifest, files)


def write_pack(pack: GeneratedPack, folder: Path) -> None:
    """Write the pack's files under ``folder`` (created), the manifest last."""
    for name, content in sorted(pack.files.items(), key=lambda item: item[0] == MANIFEST):
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)


def pack_zip(pack: GeneratedPack) -> bytes:
    """The pack's files as a ZIP archive (the API's download)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in sorted(pack.files.items()):
            archive.writestr(name, content)
    return buffer.getvalue()


def read_manifest(folder: Path) -> dict[str, Any]:
    """The manifest of the pack in ``folder``; `ManifestError` saying what is wrong."""
    path = folder / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ManifestError(
            f"{path}: no manifest: generate the pack first (rufina-alpr privacy pack --out "
            f"{folder})"
        ) from None
    except OSError as err:
        raise ManifestError(f"{path}: cannot read it ({err.strerror or err})") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ManifestError(f"{path}: not a pack manifest (not JSON: {err})") from None
    if not _well_formed(manifest):
        raise ManifestError(
            f"{path}: not a pack manifest (format {FORMAT} with sections and documents "
            "expected): generate the pack again"
        )
    return dict(manifest)


def _well_formed(manifest: Any) -> bool:
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        return False
    sections, documents = manifest.get("sections"), manifest.get("documents")
    if not isinstance(sections, dict) or not isinstance(documents, dict):
        return False
    if not all(isinstance(value, str) for value in sections.values()):
        return False
    try:
        datetime.fromisoformat(manifest["generated_at"])
    except (KeyError, TypeError, ValueError):
        return False
    return all(
        isinstance(entry, dict) and isinstance(entry.get("hash"), str)
        for entry in documents.values()
    )


def staleness(
    sections: Mapping[str, str], documents: Mapping[str, str], inputs: PackInputs
) -> Staleness:
    """Compare a pack's section and document hashes with the configuration now. A document
    the pack lacks counts as out of date, as does a section it did not record."""
    changed = tuple(name for name in SECTIONS if sections.get(name) != inputs.hashes[name])
    outdated = {
        spec.id: tuple(name for name in spec.sections if name in changed)
        for spec in DOCUMENTS
        if documents.get(spec.id) != spec.hash(inputs)
    }
    return Staleness(outdated, changed)


def check_manifest(manifest: Mapping[str, Any], inputs: PackInputs) -> Staleness:
    """A read manifest (`read_manifest`) against the configuration now."""
    documents = {doc: entry["hash"] for doc, entry in manifest["documents"].items()}
    return staleness(manifest["sections"], documents, inputs)
