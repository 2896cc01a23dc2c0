"""Hotlist CSV: import (`HotlistImport` and its reports), export, this engine's and SCNTT rows,
entry values, expiry and hours parsing; `HotlistsCsv` is the base of `Hotlists` that holds them
(`rufina_alpr.hotlists`)."""

from __future__ import annotations

import contextlib
import csv
import functools
import io
import logging
import re
import threading
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from rufina_alpr.csv_cells import safe_row, unescape_cell
from rufina_alpr.hotlists.models import (
    CSV_HEADER,
    EXPIRY_RANGE,
    IMPORT_CHUNK,
    MAX_NAME,
    MAX_NOTES,
    MAX_REASON,
    PLATE_PATTERN,
    PLATE_TEXT,
    HotlistEntry,
    HotlistError,
    HotlistNotFound,
    ImportFormat,
    checked_priority,
    checked_text,
)
from rufina_alpr.plate_formats import normalize_plate
from rufina_alpr.store import Store, hotlist_entries, hotlists

_LOGGER = logging.getLogger(__name__)
_HOURS = re.compile(r"(\d{1,2})(?::00)?\s*-\s*(\d{1,2})(?::00)?")


@dataclass(frozen=True, slots=True)
class RejectedRow:
    line: int
    reason: str


@dataclass(frozen=True, slots=True)
class ImportReport:
    """What an import did. ``removed``: entries dropped because ``replace`` was asked."""

    list_id: str
    format: str
    added: int = 0
    updated: int = 0
    removed: int = 0
    rejected: tuple[RejectedRow, ...] = ()

    def describe(self) -> str:
        return (
            f"{self.format} import into {self.list_id}: {self.added} added, "
            f"{self.updated} updated, {self.removed} removed, {len(self.rejected)} rejected"
        )


@dataclass(slots=True)
class HotlistImport:
    """A parsed import, written in transactions of `IMPORT_CHUNK` rows: the engine runs each of
    `steps` on its single store thread, so transits are stored between them (a 100k-row import
    in one transaction held that thread for most of a minute)."""

    hotlists: HotlistsCsv
    list_id: str
    format: str
    rows: list[dict[str, Any]]
    rejected: tuple[RejectedRow, ...]
    replace: bool
    added: int = 0
    updated: int = 0
    removed: int = 0
    _stale: list[int] = field(default_factory=list)

    @property
    def report(self) -> ImportReport:
        return ImportReport(
            self.list_id, self.format, self.added, self.updated, self.removed, self.rejected
        )

    def steps(self) -> Generator[Callable[[], None]]:
        """The import's database steps, in order, each a short transaction. With ``replace``,
        the entries not in the file go last: meanwhile the list holds old and new entries."""
        with self.hotlists._importing():
            yield self._check
            for start in range(0, len(self.rows), IMPORT_CHUNK):
                yield functools.partial(self._write, self.rows[start : start + IMPORT_CHUNK])
            if self.replace:
                yield self._find_stale
                for start in range(0, len(self._stale), IMPORT_CHUNK):
                    yield functools.partial(self._delete, self._stale[start : start + IMPORT_CHUNK])
        _LOGGER.info("hotlist %s", self.report.describe())

    def _check(self) -> None:
        with self.hotlists.store.engine.begin() as connection:
            HotlistsCsv._require_list(connection, self.list_id)

    def _write(self, chunk: list[dict[str, Any]]) -> None:
        with self.hotlists.store.engine.begin() as connection:
            HotlistsCsv._require_list(connection, self.list_id)  # deleted meanwhile: stop there
            existing: dict[str, int] = {
                plate: entry_id
                for plate, entry_id in connection.execute(
                    sa.select(hotlist_entries.c.plate, hotlist_entries.c.id).where(
                        hotlist_entries.c.list_id == self.list_id,
                        hotlist_entries.c.plate.in_([values["plate"] for values in chunk]),
                    )
                )
            }
            new = [{"list_id": self.list_id, **v} for v in chunk if v["plate"] not in existing]
            changed = [
                {"entry_id": existing[v["plate"]], **v} for v in chunk if v["plate"] in existing
            ]
            if new:
                connection.execute(hotlist_entries.insert(), new)
            if changed:
                connection.execute(
                    hotlist_entries.update().where(
                        hotlist_entries.c.id == sa.bindparam("entry_id")
                    ),
                    changed,
                )
        self.added += len(new)
        self.updated += len(changed)

    def _find_stale(self) -> None:
        kept = {values["plate"] for values in self.rows}
        with self.hotlists.store.engine.begin() as connection:
            self._stale = [
                entry_id
                for plate, entry_id in connection.execute(
                    sa.select(hotlist_entries.c.plate, hotlist_entries.c.id).where(
                        hotlist_entries.c.list_id == self.list_id
                    )
                )
                if plate not in kept
            ]

    def _delete(self, entry_ids: list[int]) -> None:
        with self.hotlists.store.engine.begin() as connection:
            connection.execute(hotlist_entries.delete().where(hotlist_entries.c.id.in_(entry_ids)))
        self.removed += len(entry_ids)


class HotlistsCsv:
    """The CSV half of `Hotlists` (its base class): import and export, entry values, expiries."""

    store: Store
    timezone: tzinfo
    known_stations: frozenset[str] | None
    _imports: int
    _lock: threading.Lock

    def entries(self, list_id: str, *, include_expired: bool = False) -> list[HotlistEntry]:
        """A list's entries (`Hotlists.entries`), which `export_csv` writes."""
        raise NotImplementedError

    # ------------------------------------------------------------------ CSV
    def import_csv(
        self,
        list_id: str,
        text: str,
        *,
        added_by: str,
        replace: bool = False,
        format: ImportFormat = "auto",
    ) -> ImportReport:
        """Import entries from CSV text, all steps in a row (see `prepare_import`)."""
        job = self.prepare_import(list_id, text, added_by=added_by, replace=replace, format=format)
        with contextlib.closing(job.steps()) as steps:
            for step in steps:
                step()
        return job.report

    def prepare_import(
        self,
        list_id: str,
        text: str,
        *,
        added_by: str,
        replace: bool = False,
        format: ImportFormat = "auto",
    ) -> HotlistImport:
        """Parse CSV text (no database: any thread): this engine's format (`CSV_HEADER`) or an
        SCNTT export (`SCNTT_COLUMNS`, detected by its ``TARGA`` column). Good rows are imported,
        bad ones are reported with their line number; ``replace``: the list becomes exactly the
        good rows. A file that is not such a list (empty, or its header without the column of
        plates) has its first line rejected and changes nothing, ``replace`` or not: a wrong
        file must never empty a list. The `HotlistImport` writes them in steps."""
        text = text.removeprefix("\ufeff")
        if "\r" in text and "\n" not in text:  # classic Mac line ends: a line per carriage return
            text = text.replace("\r", "\n")
        first = text.split("\n", 1)[0]
        kind = format
        if kind == "auto":
            kind = "scntt" if "TARGA" in first.upper() else "csv"
        if kind not in ("csv", "scntt"):
            raise HotlistError("format must be auto, csv or scntt")
        delimiter = ";" if first.count(";") > first.count(",") else ","
        reader = csv.DictReader(io.StringIO(text), delimiter=delimiter)
        try:
            fieldnames = reader.fieldnames
        except csv.Error as err:
            return HotlistImport(
                self, list_id, kind, [], (RejectedRow(1, _csv_problem(err)),), False
            )
        header = [name.strip().lower() for name in fieldnames or []]
        required = "targa" if kind == "scntt" else "plate"
        if required not in header:
            problem = (
                f"the header has no '{required}' column" if any(header) else "the file is empty"
            )
            return HotlistImport(self, list_id, kind, [], (RejectedRow(1, problem),), False)
        rows: dict[str, dict[str, Any]] = {}
        lines: dict[str, int] = {}
        rejected: list[RejectedRow] = []
        parse = self._scntt_row if kind == "scntt" else self._csv_row
        while True:
            try:
                raw = next(reader)
            except StopIteration:
                break
            except csv.Error as err:  # the reader goes on with the next line
                rejected.append(RejectedRow(reader.line_num + 1, _csv_problem(err)))
                continue
            line = reader.line_num
            record = {
                (key or "").strip().lower(): unescape_cell((value or "").strip())
                for key, value in raw.items()
                if key is not None
            }
            if not any(record.values()):
                continue
            try:
                values = parse(record, added_by)
            except HotlistError as err:
                rejected.append(RejectedRow(line, str(err)))
                continue
            if values["plate"] in rows:
                rejected.append(
                    RejectedRow(line, f"plate repeated from line {lines[values['plate']]}")
                )
                continue
            rows[values["plate"]] = values
            lines[values["plate"]] = line
        return HotlistImport(self, list_id, kind, list(rows.values()), tuple(rejected), replace)

    @contextlib.contextmanager
    def _importing(self) -> Iterator[None]:
        """While an import runs, matching keeps the index it has (rebuilding it after every chunk
        would cost each transit seconds on a large list): transits meet the lists as they were."""
        with self._lock:
            self._imports += 1
        try:
            yield
        finally:
            with self._lock:
                self._imports -= 1

    def export_csv(self, list_id: str) -> str:
        """Every entry of a list (expired ones too) in this engine's CSV format."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(CSV_HEADER)
        for entry in self.entries(list_id, include_expired=True):
            writer.writerow(
                safe_row(
                    (
                        entry.plate,
                        entry.reason,
                        "" if entry.priority is None else entry.priority,
                        self._format_expiry(entry.expires_at),
                        entry.notes or "",
                        "|".join(entry.stations or ()),
                        ""
                        if entry.from_hour is None
                        else f"{entry.from_hour:02d}-{entry.to_hour:02d}",
                    )
                )
            )
        return out.getvalue()

    # ------------------------------------------------------------------ internals

    def _aware(self, moment: datetime) -> datetime:
        return moment.replace(tzinfo=self.timezone) if moment.tzinfo is None else moment

    @staticmethod
    def _require_list(connection: Connection, list_id: str) -> None:
        if connection.scalar(sa.select(hotlists.c.id).where(hotlists.c.id == list_id)) is None:
            raise HotlistNotFound(f"no list {list_id}")

    def _entry_values(
        self,
        *,
        plate: str,
        reason: str,
        priority: int | None,
        expires_at: datetime | None,
        notes: str | None,
        stations: Iterable[str] | None,
        from_hour: int | None,
        to_hour: int | None,
        added_by: str,
    ) -> dict[str, Any]:
        normalized = normalize_plate(plate or "")
        if not PLATE_TEXT.fullmatch(plate or "") or not PLATE_PATTERN.fullmatch(normalized):
            raise HotlistError("plate: 2 to 12 letters or digits")
        scope: list[str] | None = None
        if stations is not None:
            scope = sorted({s.strip() for s in stations if s.strip()}) or None
            unknown = (
                [s for s in scope or () if s not in self.known_stations]
                if self.known_stations is not None
                else []
            )
            if unknown:
                raise HotlistError(f"unknown station {', '.join(unknown)}")
        if (from_hour is None) != (to_hour is None):
            raise HotlistError("hours: give both the first hour and the end hour, or neither")
        if (
            from_hour is not None
            and to_hour is not None
            and (not (0 <= from_hour <= 23 and 0 <= to_hour <= 24) or from_hour == to_hour % 24)
        ):
            raise HotlistError("hours: from 0-23 to 0-24, not the same hour")
        return {
            "plate": normalized,
            "reason": checked_text(reason, "reason", MAX_REASON, required=True),
            "priority": None if priority is None else checked_priority(priority),
            "expires_at": None if expires_at is None else self._expiry(expires_at),
            "notes": checked_text(notes, "notes", MAX_NOTES),
            "stations": scope,
            "from_hour": from_hour,
            "to_hour": to_hour,
            "added_by": checked_text(added_by, "added_by", MAX_NAME, required=True),
            "added_at": datetime.now(UTC),
        }

    def _csv_row(self, record: dict[str, str], added_by: str) -> dict[str, Any]:
        from_hour, to_hour = parse_hours(record.get("hours", ""))
        stations = record.get("stations", "")
        return self._entry_values(
            plate=record.get("plate", ""),
            reason=record.get("reason", ""),
            priority=_int(record.get("priority", ""), "priority"),
            expires_at=self.parse_expiry(record.get("expires", "")),
            notes=record.get("notes") or None,
            stations=re.split(r"[|\s]+", stations) if stations else None,
            from_hour=from_hour,
            to_hour=to_hour,
            added_by=added_by,
        )

    def _scntt_row(self, record: dict[str, str], added_by: str) -> dict[str, Any]:
        details = [
            f"{label}: {record[key]}"
            for key, label in (
                ("nazione", "nazione"),
                ("tipo_veicolo", "veicolo"),
                ("data_segnalazione", "segnalato il"),
                ("ente", "ente"),
            )
            if record.get(key)
        ]
        if record.get("note"):
            details.append(record["note"])
        details.append("fonte: SCNTT")
        return self._entry_values(
            plate=record.get("targa", ""),
            reason=record.get("motivo") or "segnalazione SCNTT",
            priority=None,
            expires_at=self.parse_expiry(record.get("data_scadenza", "")),
            notes="; ".join(details),
            stations=None,
            from_hour=None,
            to_hour=None,
            added_by=added_by,
        )

    def parse_expiry(self, text: str) -> datetime | None:
        """A date means "through that day" (expires at the next local midnight); a date and time
        without an offset is local time. Italian ``dd/mm/yyyy`` is accepted too."""
        text = text.strip()
        if not text:
            return None
        italian = re.fullmatch(r"(\d{1,2})/(\d{1,2})/(\d{4})", text)
        try:
            if italian:
                day = date(int(italian[3]), int(italian[2]), int(italian[1]))
            elif re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
                day = date.fromisoformat(text)
            else:
                day = None
                moment = self._aware(datetime.fromisoformat(text))
            if day is not None:
                moment = datetime.combine(day + timedelta(days=1), time(), tzinfo=self.timezone)
        except (ValueError, OverflowError) as err:
            raise HotlistError(f"expires: not a date ({text})") from err
        # A typed year 1 or 9999 is a typing mistake (and overflowed on conversion: a 500).
        if not EXPIRY_RANGE[0].year <= moment.year < EXPIRY_RANGE[1].year:
            raise HotlistError(
                f"expires: a year from {EXPIRY_RANGE[0].year} to {EXPIRY_RANGE[1].year - 1} "
                f"({text})"
            )
        return moment

    def _expiry(self, moment: datetime) -> datetime:
        """An expiry in UTC, clamped into `EXPIRY_RANGE` (a year-1 or year-9999 time overflowed
        on conversion; clamped, it expires as it would have: long ago, or never in practice),
        as the store clamps times outside its years."""
        try:
            utc = self._aware(moment).astimezone(UTC)
        except OverflowError:
            utc = EXPIRY_RANGE[0] if moment.year < EXPIRY_RANGE[0].year else EXPIRY_RANGE[1]
        return min(max(utc, EXPIRY_RANGE[0]), EXPIRY_RANGE[1])

    def _format_expiry(self, moment: datetime | None) -> str:
        if moment is None:
            return ""
        local = moment.astimezone(self.timezone)
        if local.time() == time():
            return (local.date() - timedelta(days=1)).isoformat()
        return local.isoformat()


def _csv_problem(err: csv.Error) -> str:
    """A line the CSV reader cannot split, said for the person who exported the file."""
    if "new-line character" in str(err):
        return "a carriage return or line break inside a cell that is not quoted"
    return f"not valid CSV: {err}"


def _int(text: str, what: str) -> int | None:
    if not text:
        return None
    try:
        return int(text)
    except ValueError as err:
        raise HotlistError(f"{what}: not a whole number ({text})") from err


def parse_hours(text: str) -> tuple[int | None, int | None]:
    text = text.strip()
    if not text:
        return None, None
    found = _HOURS.fullmatch(text)
    if not found:
        raise HotlistError(f"hours: expected HH-HH, e.g. 22-06 ({text})")
    return int(found[1]), int(found[2])
