"""Gates: ``authorised`` lists that, at their stations on their days and hours, alert on every
plate NOT on them (ZTL, roads closed to traffic, school streets at school hours).

`gate_verdict` judges one read against the gates closed at its station and local time
(`Hotlists.gate_check` calls it with the in-memory index): ``authorised`` when the plate, or one of
its alternatives, is exactly an active, in-scope entry of such a list; ``review`` when only a fuzzy
match of at least ``fuzzy_min_score`` is (in the vehicle's favour: no alert, a person looks);
``not_authorised`` otherwise. When several gates are closed there, the vehicle is authorised if any
of them authorises it (`docs/hotlists.md`, "Gates").
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal

import sqlalchemy as sa

from rufina_alpr.hotlists.matching import ALTERNATIVE_FACTOR, FuzzyIndex, match_score
from rufina_alpr.hotlists.models import (
    MAX_ID,
    Gate,
    HotlistError,
    HotlistInfo,
    HotlistMatch,
    entry_match,
)
from rufina_alpr.plate_formats import normalize_plate

GATE_KIND: Final = "authorised"
GateOutcome = Literal["authorised", "review", "not_authorised"]
_DAYS: Final = re.compile(r"[1-7]{1,7}")


@dataclass(frozen=True, slots=True)
class GateVerdict:
    """What a gate makes of a read. ``gate_list``: the list that authorised it (``authorised``),
    whose entry it nearly matched (``review``) or the first gate closed there, by priority then id
    (``not_authorised``). ``match``: the entry matched, None for ``not_authorised``. A match found
    on an alternative is scored as `Hotlists.match` scores it (times the alternative's score,
    ``fuzzy``) even when its text is exactly the entry's, which is what authorises it."""

    gate_list: HotlistInfo
    verdict: GateOutcome
    match: HotlistMatch | None

    @property
    def keeps_transit(self) -> bool:
        """False only for an authorised vehicle at a gate that does not keep their transits."""
        gate = self.gate_list.gate
        return self.verdict != "authorised" or gate is None or gate.keep_authorised


def checked_gate(gate: Gate, kind: str, known_stations: Collection[str] | None) -> Gate:
    """The gate as stored (stations sorted and unique, days in order), or `HotlistError`: only an
    ``authorised`` list may be a gate; its stations (at least one) known ones when
    ``known_stations`` is given; days digits 1-7 (Monday 1), each once; hours both or neither,
    from 0-23 to 0-24 (24 is midnight, as 0), not the same hour."""
    if kind != GATE_KIND:
        raise HotlistError(f"only an {GATE_KIND} list may be a gate (this one is {kind})")
    if isinstance(gate.stations, str) or not all(isinstance(s, str) for s in gate.stations):
        raise HotlistError("gate stations: a list of station ids")
    stations = sorted({s.strip() for s in gate.stations if s.strip()})
    if not stations:
        raise HotlistError("gate stations: at least one station")
    if any(len(s) > MAX_ID for s in stations):
        raise HotlistError(f"gate stations: ids of at most {MAX_ID} characters")
    if known_stations is not None and (unknown := [s for s in stations if s not in known_stations]):
        raise HotlistError(f"unknown station {', '.join(unknown)}")
    days = gate.days
    if days is not None and (
        not isinstance(days, str) or not _DAYS.fullmatch(days) or len(set(days)) != len(days)
    ):
        raise HotlistError('gate days: ISO weekdays 1-7 (Monday 1), each once, e.g. "12345"')
    from_hour, to_hour = gate.from_hour, gate.to_hour
    if (from_hour is None) != (to_hour is None):
        raise HotlistError("gate hours: give both the first hour and the end hour, or neither")
    if from_hour is not None and to_hour is not None:
        whole = all(isinstance(h, int) and not isinstance(h, bool) for h in (from_hour, to_hour))
        if not whole or not (0 <= from_hour <= 23 and 0 <= to_hour <= 24):
            raise HotlistError("gate hours: from 0-23 to 0-24")
        if from_hour == to_hour % 24:
            raise HotlistError("gate hours: not the same hour (no hours means all day)")
    if not isinstance(gate.keep_authorised, bool):
        raise HotlistError("gate keep_authorised: true or false")
    return Gate(
        stations=tuple(stations),
        days="".join(sorted(days)) if days is not None else None,
        from_hour=from_hour,
        to_hour=to_hour,
        keep_authorised=gate.keep_authorised,
    )


def gate_columns(gate: Gate | None) -> dict[str, Any]:
    """The ``hotlists`` row's gate columns for a checked gate; all NULL for none."""
    if gate is None:
        return {
            "gate_stations": sa.null(),  # SQL NULL, not JSON null
            "gate_days": None,
            "gate_from_hour": None,
            "gate_to_hour": None,
            "gate_keep_authorised": None,
        }
    return {
        "gate_stations": list(gate.stations),
        "gate_days": gate.days,
        "gate_from_hour": gate.from_hour,
        "gate_to_hour": gate.to_hour,
        "gate_keep_authorised": gate.keep_authorised,
    }


def gate_verdict(
    index: FuzzyIndex,
    plate: str,
    alternatives: Iterable[tuple[str, float]],
    station_id: str,
    *,
    moment: datetime,
    local: datetime,
    fuzzy_min_score: float,
) -> GateVerdict | None:
    """A read's verdict at the gates closed at ``station_id`` and ``local`` time (``moment``, the
    same instant, for expiries); None when no gate is closed there then. Looks only at the
    index's candidates for the read (no scan of the entries)."""
    closed = sorted(
        (
            info
            for info in index.lists.values()
            if info.kind == GATE_KIND and info.gate is not None
            if info.gate.applies(station_id, local)
        ),
        key=lambda info: (info.priority, info.id),
    )
    if not closed:
        return None
    gates = {info.id: info for info in closed}
    reads: list[tuple[str, float]] = [(normalize_plate(plate), 1.0)]
    for text, score in alternatives:
        reads.append((normalize_plate(text), min(ALTERNATIVE_FACTOR, max(0.0, score))))
    authorised: list[HotlistMatch] = []
    near: list[HotlistMatch] = []
    for read, factor in reads:
        if not read:
            continue
        for position in index.candidates(read):
            entry = index.entries[position]
            info = gates.get(entry.list_id)
            scored = match_score(read, entry.plate) if info is not None else None
            if info is None or scored is None:
                continue
            score, kind = scored
            exact = kind == "exact"
            if factor < 1.0:
                score, kind = round(score * factor, 4), "fuzzy"
            if not exact and score < fuzzy_min_score:
                continue
            if not entry.active_at(moment) or not entry.in_scope(station_id, local):
                continue
            (authorised if exact else near).append(entry_match(info, entry, read, score, kind))
    if authorised:
        # Kept when any gate that authorises it keeps authorised transits, then the surest.
        best = min(
            authorised,
            key=lambda m: (not _keeps(gates[m.list_id]), -m.score, m.list_id, m.entry_plate),
        )
        return GateVerdict(gates[best.list_id], "authorised", best)
    if near:
        best = min(near, key=lambda m: (-m.score, m.list_id, m.entry_plate))
        return GateVerdict(gates[best.list_id], "review", best)
    return GateVerdict(closed[0], "not_authorised", None)


def _keeps(info: HotlistInfo) -> bool:
    return info.gate is None or info.gate.keep_authorised
