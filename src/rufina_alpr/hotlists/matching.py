"""Plate matching: the match score with its confusable edit cost, and the fuzzy index.

Matching is exact after normalisation (`normalize_plate`) or fuzzy: OCR-confusable substitutions
(O/0, I/1, B/8, D/0, S/5, Z/2, G/6) plus at most one other edit, on the fused plate and on its
alternatives.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

from rufina_alpr.hotlists.models import HotlistEntry, HotlistInfo, MatchKind
from rufina_alpr.plate_formats import normalize_plate

# OCR look-alikes, pair by pair (D/0 and O/0 make O/D a look-alike only through two steps).
CONFUSABLE_PAIRS: Final[frozenset[frozenset[str]]] = frozenset(
    frozenset(pair) for pair in ("O0", "I1", "B8", "D0", "S5", "Z2", "G6")
)
# Each look-alike class to one character: the key of the fuzzy index (a superset, then checked).
_CANONICAL: Final = str.maketrans(
    {"O": "0", "D": "0", "I": "1", "B": "8", "S": "5", "Z": "2", "G": "6"}
)
CONFUSABLE_COST: Final = 0.05  # score lost per confusable substitution
EDIT_COST: Final = 0.15  # score lost for the one other edit (substitution, insertion, deletion)
MAX_CONFUSABLES: Final = 3
MAX_EDITS: Final = 1
MIN_FUZZY_LENGTH: Final = 5  # shorter plates match exactly or not at all
# A match found on one of the read's alternatives rather than on the fused plate is less certain:
# its score is the plate match times the alternative's own score, capped at this factor.
ALTERNATIVE_FACTOR: Final = 0.9


def _substitution(a: str, b: str) -> tuple[int, int]:
    if a == b:
        return (0, 0)
    if frozenset((a, b)) in CONFUSABLE_PAIRS:
        return (0, 1)
    return (1, 0)


def _edit_cost(read: str, entry: str) -> tuple[int, int]:
    """Fewest (other edits, confusable substitutions) turning ``read`` into ``entry``."""
    previous = [(j, 0) for j in range(len(entry) + 1)]
    for i, r in enumerate(read, start=1):
        current = [(i, 0)]
        for j, e in enumerate(entry, start=1):
            sub = _substitution(r, e)
            diagonal = previous[j - 1]
            up, left = previous[j], current[j - 1]
            current.append(
                min(
                    (diagonal[0] + sub[0], diagonal[1] + sub[1]),
                    (up[0] + 1, up[1]),
                    (left[0] + 1, left[1]),
                )
            )
        previous = current
    return previous[-1]


def match_score(read: str, entry: str) -> tuple[float, MatchKind] | None:
    """How well a read matches an entry plate: ``(1.0, "exact")`` when equal after normalisation;
    ``(score < 1, "fuzzy")`` for up to three OCR-confusable substitutions (-0.05 each) plus at most
    one other edit (-0.15); None when the plates are unrelated."""
    a, b = normalize_plate(read), normalize_plate(entry)
    if not a or not b:
        return None
    if a == b:
        return (1.0, "exact")
    if min(len(a), len(b)) < MIN_FUZZY_LENGTH or abs(len(a) - len(b)) > MAX_EDITS:
        return None
    edits, confusables = _edit_cost(a, b)
    if edits > MAX_EDITS or confusables > MAX_CONFUSABLES:
        return None
    return (round(1.0 - CONFUSABLE_COST * confusables - EDIT_COST * edits, 4), "fuzzy")


def _canonical(plate: str) -> str:
    return plate.translate(_CANONICAL)


def fuzzy_keys(plate: str) -> set[str]:
    """The canonical form and its one-character deletions: two plates within one edit of each
    other (look-alikes aside) share at least one key."""
    canonical = _canonical(plate)
    keys = {canonical}
    keys.update(canonical[:i] + canonical[i + 1 :] for i in range(len(canonical)))
    return keys


@dataclass(slots=True)
class FuzzyIndex:
    """Every entry in memory, with the lookups `match` needs; rebuilt when the tables change."""

    fingerprint: tuple[Any, ...]
    lists: dict[str, HotlistInfo]
    entries: list[HotlistEntry]
    exact: dict[str, list[int]] = field(default_factory=dict)
    fuzzy: dict[str, set[int]] = field(default_factory=dict)

    def candidates(self, plate: str) -> set[int]:
        found = set(self.exact.get(plate, ()))
        if len(plate) >= MIN_FUZZY_LENGTH - MAX_EDITS:
            for key in fuzzy_keys(plate):
                found.update(self.fuzzy.get(key, ()))
        return found
