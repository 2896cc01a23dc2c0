"""Plate text knowledge: normalisation, Italian formats, display forms and country codes.

Everything here is pure data plus small functions over strings, so that fusion, hotlists and the
UI agree on what a plate looks like.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

LETTER = "L"
DIGIT = "D"

# Italy never issues I, O, Q or U on current plates: they look too much like 1, 0 and V.
ITALIAN_LETTERS = frozenset("ABCDEFGHJKLMNPRSTVWXYZ")
FORBIDDEN_LETTERS = frozenset("IOQU")
DIGITS = frozenset("0123456789")

# What a look-alike most likely is when the slot demands the other kind. O has no letter of its
# own in Italy, so in a letter slot both O and 0 stand for D; 1 and I have no Italian letter at all.
_AS_LETTER = {"0": "D", "O": "D", "8": "B", "5": "S", "2": "Z", "6": "G"}
_AS_DIGIT = {"O": "0", "D": "0", "I": "1", "B": "8", "S": "5", "Z": "2", "G": "6"}


@dataclass(frozen=True, slots=True)
class PlateFormat:
    """An Italian plate layout: one slot kind per character (``L`` letter, ``D`` digit).

    ``groups`` are the character counts of the display form; empty ``slots`` means "as read".
    """

    name: str
    slots: str
    groups: tuple[int, ...]
    description: str


IT_CAR = PlateFormat("it_car", "LLDDDLL", (2, 3, 2), "car, since 1994: AB 123 CD")
IT_MOTO = PlateFormat("it_moto", "LLDDDDD", (2, 5), "motorcycle, since 1999: AB 12345")
# Order matters: on a tie the first wins, and cars far outnumber motorcycles.
ITALIAN_FORMATS = (IT_CAR, IT_MOTO)
# Special series of state corps follow their own layouts: recognised, then kept as read.
IT_SPECIAL = PlateFormat("it_special", "", (), "special series (Carabinieri, Esercito, ...)")

# Prefixes of the special series, so that those plates are not forced into the civil layouts.
SPECIAL_SERIES: Mapping[str, str] = {
    "EI": "Esercito Italiano",
    "AM": "Aeronautica Militare",
    "MM": "Marina Militare",
    "CC": "Carabinieri",
    "GDF": "Guardia di Finanza",
    "CP": "Capitanerie di Porto",
    "VF": "Vigili del Fuoco",
    "CRI": "Croce Rossa Italiana",
    "CFS": "Corpo Forestale dello Stato",
    "POLIZIA": "Polizia di Stato",
}

# The OCR's region names (cct-xs-v2-global plate config) -> ISO 3166-1 alpha-2.
COUNTRY_CODES: Mapping[str, str] = {
    "Albania": "AL",
    "Andorra": "AD",
    "Argentina": "AR",
    "Armenia": "AM",
    "Australia": "AU",
    "Austria": "AT",
    "Azerbaijan": "AZ",
    "Bahrain": "BH",
    "Belarus": "BY",
    "Belgium": "BE",
    "Bosnia and Herzegovina": "BA",
    "Brazil": "BR",
    "Bulgaria": "BG",
    "Cambodia": "KH",
    "Canada": "CA",
    "Croatia": "HR",
    "Cyprus": "CY",
    "Czech Republic": "CZ",
    "Denmark": "DK",
    "Estonia": "EE",
    "Finland": "FI",
    "France": "FR",
    "Georgia": "GE",
    "Germany": "DE",
    "Gibraltar": "GI",
    "Greece": "GR",
    "Guernsey": "GG",
    "Hungary": "HU",
    "Iceland": "IS",
    "Indonesia": "ID",
    "Ireland": "IE",
    "Israel": "IL",
    "Italy": "IT",
    "Latvia": "LV",
    "Liechtenstein": "LI",
    "Lithuania": "LT",
    "Luxembourg": "LU",
    "Malaysia": "MY",
    "Malta": "MT",
    "Mexico": "MX",
    "Moldova": "MD",
    "Monaco": "MC",
    "Montenegro": "ME",
    "Netherlands": "NL",
    "New Zealand": "NZ",
    "North Macedonia": "MK",
    "Norway": "NO",
    "Poland": "PL",
    "Portugal": "PT",
    "Qatar": "QA",
    "Romania": "RO",
    "San Marino": "SM",
    "Serbia": "RS",
    "Singapore": "SG",
    "Slovakia": "SK",
    "Slovenia": "SI",
    "Spain": "ES",
    "Sweden": "SE",
    "Switzerland": "CH",
    "Thailand": "TH",
    "Turkey": "TR",
    "United States": "US",
    "Ukraine": "UA",
    "United Kingdom": "GB",
    "Vietnam": "VN",
}


def normalize_plate(text: str) -> str:
    """Canonical plate text: uppercase, without the spaces, dashes and dots people and OCRs add."""
    return "".join(ch for ch in text.upper() if not ch.isspace() and ch not in "-.")


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance: characters inserted, deleted or replaced to turn ``a`` into ``b``."""
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def country_code(region: str | None) -> str | None:
    """ISO code for an OCR region name; None for "Unknown", None or a name we do not know."""
    return COUNTRY_CODES.get(region) if region else None


def special_series(plate: str) -> str | None:
    """The special-series prefix a plate starts with (``"CC"``, ``"GDF"``, ...), if any."""
    text = normalize_plate(plate)
    return next((p for p in SPECIAL_SERIES if text.startswith(p) and len(text) > len(p)), None)


def display_form(plate: str, fmt: str | None) -> str:
    """How people write the plate: ``AB 123 CD`` for cars, ``AB 12345`` for motorcycles.

    Foreign plates, special series and anything that does not fit its format stay as read.
    """
    text = normalize_plate(plate)
    layout = next((f for f in ITALIAN_FORMATS if f.name == fmt), None)
    if layout is None or len(text) != len(layout.slots):
        return text
    parts, start = [], 0
    for size in layout.groups:
        parts.append(text[start : start + size])
        start += size
    return " ".join(parts)


def written_form(plate: str) -> str:
    """How people write a plate known only as text (a hotlist entry, a search): the display form
    of the Italian format it fits as it stands, else the text as stored."""
    match = match_italian_format(plate)
    fits = match is not None and match.changed == 0 and not match.forbidden
    return display_form(plate, match.format.name if match is not None and fits else None)


def settle_char(char: str, slot: str) -> str | None:
    """What a character read in an Italian letter or digit slot stands for.

    A character that fits the slot is itself, a look-alike of the other kind is what it is
    mistaken for (``8`` in a letter slot is ``B``), anything else fits nowhere (None).
    """
    if slot == LETTER:
        return char if char in ITALIAN_LETTERS else _AS_LETTER.get(char)
    return char if char in DIGITS else _AS_DIGIT.get(char)


def settle_votes(votes: Mapping[str, float], slot: str) -> dict[str, float]:
    """Re-count the weighted characters read at one position for an Italian slot."""
    settled: dict[str, float] = {}
    for char, weight in votes.items():
        target = settle_char(char, slot)
        if target is not None:
            settled[target] = settled.get(target, 0.0) + weight
    return settled


def top_vote(votes: Mapping[str, float]) -> str:
    """The most voted key; ties go to the alphabetically first, so results are repeatable."""
    return min(votes, key=lambda key: (-votes[key], key))


@dataclass(frozen=True, slots=True)
class ItalianMatch:
    """How a plate fits an Italian format once look-alike characters are settled.

    ``changed`` counts positions where the settled character differs from the most voted one;
    ``forbidden`` says a letter slot was read as I, O, Q or U, which Italy never issues: evidence
    that the plate may be foreign.
    """

    format: PlateFormat
    plate: str
    changed: int
    forbidden: bool

    @property
    def exact(self) -> bool:
        """True when the text fits the format as read."""
        return self.changed == 0


def settle_italian(votes: Sequence[Mapping[str, float]]) -> ItalianMatch | None:
    """Best Italian format for per-position weighted character votes; None when none can fit.

    The format needing the fewest changes wins, so ``AB12345`` stays a motorcycle plate.
    """
    read = "".join(top_vote(v) for v in votes)
    best: ItalianMatch | None = None
    for fmt in ITALIAN_FORMATS:
        if len(fmt.slots) != len(votes):
            continue
        settled = [settle_votes(v, s) for v, s in zip(votes, fmt.slots, strict=True)]
        if not all(settled):
            continue
        plate = "".join(top_vote(v) for v in settled)
        match = ItalianMatch(
            format=fmt,
            plate=plate,
            changed=sum(a != b for a, b in zip(plate, read, strict=True)),
            forbidden=any(
                s == LETTER and ch in FORBIDDEN_LETTERS
                for s, ch in zip(fmt.slots, read, strict=True)
            ),
        )
        if best is None or match.changed < best.changed:
            best = match
    return best


def match_italian_format(plate: str) -> ItalianMatch | None:
    """Which Italian format a plate string matches, or could match after settling look-alikes."""
    return settle_italian([{ch: 1.0} for ch in normalize_plate(plate)])
