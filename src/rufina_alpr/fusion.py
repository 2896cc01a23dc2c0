"""Fuse several reads of one vehicle into one plate.

Each Frigate event yields a handful of reads (ours on several snapshots, plus Frigate's own). They
disagree on a character here and there, may include another plate seen in the background, and the
OCR confuses look-alikes (0/O/D, 1/I, 8/B, 5/S, 2/Z, 6/G). Fusion:

1. drops empty reads and clusters the rest by edit distance, one cluster per plate; the cluster
   with the most weight (sum of read confidences) is the vehicle's plate;
2. inside it, keeps the reads of the length with the most weight. Reads of another length (a
   character dropped or doubled) cannot be lined up position by position without guessing where,
   so they count as dissent at every position and become alternatives;
3. decides whether the plate is Italian (see ``_italian``) and, only then, reads every character
   as what the Italian letter or digit slot makes of it;
4. votes per position, each read's character weighted by its own confidence there.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from rufina_alpr.plate_formats import (
    IT_MOTO,
    IT_SPECIAL,
    PlateFormat,
    country_code,
    display_form,
    edit_distance,
    normalize_plate,
    settle_char,
    settle_italian,
    special_series,
    top_vote,
)
from rufina_alpr.reads import PlateRead, ReadSource

MAX_ALTERNATIVES = 5
# Confidences are clamped to (0, 1]: a zero-confidence read still counts, barely, and never
# divides by zero.
_FLOOR = 1e-6
# A region guess without a confidence counts half as much as a sure one.
_UNSURE_REGION = 0.5
# How sure the OCR must be of another country to overrule a text that fits an Italian layout.
SURE_FOREIGN = 0.9
# Width over height below which a plate is square, two-row: a car plate is about 4.7.
_SQUARE_ASPECT = 2.0


@dataclass(frozen=True, slots=True)
class Alternative:
    """Another plausible plate, scored on the same scale as the fused confidence."""

    plate: str
    score: float


@dataclass(frozen=True, slots=True)
class FusedPlate:
    """The plate of one vehicle passage.

    ``read_count`` counts the reads that agree on this plate (its cluster); ``format`` is
    ``"it_car"``, ``"it_moto"``, ``"it_special"`` or None (foreign or unknown); ``best_read`` is
    the read closest to the fused plate, whose crop serves as evidence; ``sources`` says who
    read it (the engine's OCR, Frigate's LPR, or both): Frigate's plate comes over MQTT, which
    anyone allowed to publish there can forge, so the engine trusts it only on its own evidence.
    """

    plate: str
    display: str
    country: str | None
    confidence: float
    low_confidence: bool
    alternatives: tuple[Alternative, ...]
    read_count: int
    format: str | None
    best_read: PlateRead
    sources: frozenset[ReadSource]


@dataclass(frozen=True, slots=True)
class _Read:
    text: str
    confidences: tuple[float, ...]
    read: PlateRead

    @property
    def votes(self) -> int:
        return self.read.views

    @property
    def weight(self) -> float:
        return self.votes * sum(self.confidences) / len(self.confidences)


@dataclass(frozen=True, slots=True)
class _Vote:
    plate: str
    votes: tuple[dict[str, float], ...]
    confidence: float
    country: str | None
    format: str | None


def fuse(reads: Sequence[PlateRead], *, low_confidence: float = 0.75) -> FusedPlate | None:
    """One plate from the reads of one vehicle; None only when no read saw any character."""
    usable = [r for r in map(_clean, reads) if r.text]
    if not usable:
        return None
    clusters = _clusters(usable)
    groups = [_by_length(c) for c in clusters]
    chosen = groups[0][0]
    fused = _vote(chosen, dissent=_weight(clusters[0]) - _weight(chosen))
    others = [g for cluster in groups for g in cluster if g is not chosen]
    best_read = min(clusters[0], key=lambda r: (edit_distance(r.text, fused.plate), -r.weight))
    return FusedPlate(
        plate=fused.plate,
        display=display_form(fused.plate, fused.format),
        country=fused.country,
        confidence=fused.confidence,
        low_confidence=fused.confidence < low_confidence,
        alternatives=_alternatives(fused, _weight(clusters[0]), others),
        read_count=len(clusters[0]),
        format=fused.format,
        best_read=best_read.read,
        sources=frozenset(r.read.source for r in clusters[0]),
    )


def _clean(read: PlateRead) -> _Read:
    """Normalised text with the confidences of the characters that remain."""
    confidences = read.char_confidences
    if len(confidences) != len(read.text):  # off contract: spread the mean over the text
        confidences = (read.confidence,) * len(read.text)
    kept = [
        (ch.upper(), min(max(c, _FLOOR), 1.0))
        for ch, c in zip(read.text, confidences, strict=True)
        if normalize_plate(ch)
    ]
    return _Read("".join(ch for ch, _ in kept), tuple(c for _, c in kept), read)


def _weight(reads: Sequence[_Read]) -> float:
    return sum(r.weight for r in reads)


def _clusters(reads: Sequence[_Read]) -> list[list[_Read]]:
    """Group reads of the same plate: within ~30% edit distance of the cluster's strongest read."""
    clusters: list[list[_Read]] = []
    for read in sorted(reads, key=lambda r: -r.weight):
        home = next((c for c in clusters if _same_plate(c[0].text, read.text)), None)
        if home is None:
            clusters.append([read])
        else:
            home.append(read)
    return sorted(clusters, key=lambda c: -_weight(c))


def _same_plate(a: str, b: str) -> bool:
    return edit_distance(a, b) <= max(1, round(0.3 * max(len(a), len(b))))


def _by_length(cluster: Sequence[_Read]) -> list[list[_Read]]:
    """The cluster's reads grouped by length, heaviest group first."""
    groups: dict[int, list[_Read]] = defaultdict(list)
    for read in cluster:
        groups[len(read.text)].append(read)
    return sorted(groups.values(), key=lambda g: -_weight(g))


@dataclass(frozen=True, slots=True)
class _CountryVote:
    """The country the OCR votes for and how sure it is (0-1, over all reads, weighted)."""

    code: str | None
    certainty: float


def _country(reads: Sequence[_Read]) -> _CountryVote:
    """ISO code of the country the OCR votes for, weighted by read and region confidence.

    ``certainty`` is the winner's score over the weight of every read, so reads that name no
    country (``Unknown``) or another one lower it.
    """
    scores: dict[str, float] = defaultdict(float)
    for r in reads:
        code = country_code(r.read.region)
        if code is not None:
            certainty = r.read.region_confidence
            scores[code] += r.weight * (_UNSURE_REGION if certainty is None else certainty)
    if not scores:
        return _CountryVote(None, 0.0)
    code = top_vote(scores)
    return _CountryVote(code, scores[code] / _weight(reads))


def _position_votes(
    texts: Sequence[Sequence[str | None]], reads: Sequence[_Read]
) -> tuple[dict[str, float], ...]:
    votes: tuple[dict[str, float], ...] = tuple(defaultdict(float) for _ in texts[0])
    for text, read in zip(texts, reads, strict=True):
        for position, (ch, c) in enumerate(zip(text, read.confidences, strict=True)):
            if ch is not None:
                votes[position][ch] += c * read.votes
    return votes


def _italian(reads: Sequence[_Read], country: _CountryVote) -> PlateFormat | None:
    """The Italian layout the reads fit (or ``IT_SPECIAL``), None when the plate is not Italian.

    The OCR's country head is sure and right on real plates (Slovak, Czech, Polish, UK: 1.0 on
    nearly every read of the labelled photos) but unsure on unusual renderings (France 0.6-0.9,
    Unknown). Slovak ``RK376AF`` has exactly the Italian car layout, so only the country head can
    tell them apart: an exact Italian shape is Italian unless the OCR is sure (``SURE_FOREIGN``)
    of another country; look-alikes are settled only when no other country wins the vote; and I,
    O, Q or U in a letter slot, which Italy never issues, are settled only when the vote says
    Italy. Special series are recognised and kept as read. One exception to a sure foreign vote:
    a square plate reading ``AB12345`` is the Italian two-row motorcycle plate (the OCR calls
    those Norwegian, whose ``AB 12345`` plates are long and single-row).
    """
    raw = _position_votes([r.text for r in reads], reads)
    voted = "".join(top_vote(v) for v in raw)
    match = settle_italian(raw)
    foreign = country.code not in ("IT", None)
    if match is not None and match.exact:
        sure_foreign = foreign and country.certainty >= SURE_FOREIGN
        if sure_foreign and not (match.format is IT_MOTO and _square(reads)):
            return None
        return match.format
    if foreign:
        return None
    if special_series(voted):
        return IT_SPECIAL
    if match is not None and (country.code == "IT" or not match.forbidden):
        return match.format
    return None


def _square(reads: Sequence[_Read]) -> bool:
    """True when most reads with a box saw a square (two-row) plate."""
    aspects = sorted(
        (x2 - x1) / (y2 - y1)
        for x1, y1, x2, y2 in (r.read.box for r in reads if r.read.box is not None)
        if y2 > y1
    )
    return bool(aspects) and aspects[len(aspects) // 2] < _SQUARE_ASPECT


def _vote(group: Sequence[_Read], dissent: float) -> _Vote:
    """Per-position vote of same-length reads; ``dissent`` is the weight of reads that disagree.

    A position's score is the winner's share of all the weight there times the best confidence
    any read had in that character. The plate's confidence is its weakest position's score: one
    wrong character makes a wrong plate, and the OCR is sure of most characters even on a misread.
    """
    country = _country(group)
    layout = _italian(group, country)
    texts: list[Sequence[str | None]] = [r.text for r in group]
    if layout is not None and layout.slots:
        texts = [
            [settle_char(ch, slot) for ch, slot in zip(r.text, layout.slots, strict=True)]
            for r in group
        ]
    votes = _position_votes(texts, group)
    plate = "".join(top_vote(v) for v in votes)
    total = [
        sum(c * r.votes for r, c in zip(group, cs, strict=True)) + dissent
        for cs in zip(*(r.confidences for r in group), strict=True)
    ]
    scores = []
    for position, ch in enumerate(plate):
        sure = max(
            r.confidences[position] for r, t in zip(group, texts, strict=True) if t[position] == ch
        )
        scores.append(votes[position][ch] / total[position] * sure)
    return _Vote(
        plate=plate,
        votes=votes,
        confidence=min(scores),
        country="IT" if layout else country.code,
        format=layout.name if layout else None,
    )


def _alternatives(
    fused: _Vote, weight: float, others: Sequence[Sequence[_Read]]
) -> tuple[Alternative, ...]:
    """Runner-up characters of the fused plate and the plates of the other read groups.

    A runner-up scores the fused confidence scaled by its vote against the winner's; another group
    scores its own confidence scaled by its weight against the winning cluster's.
    """
    scores: dict[str, float] = {}

    def offer(plate: str, score: float) -> None:
        if plate != fused.plate and score > scores.get(plate, 0.0):
            scores[plate] = score

    for position, votes in enumerate(fused.votes):
        winner = votes[fused.plate[position]]
        for ch, w in votes.items():
            offer(
                fused.plate[:position] + ch + fused.plate[position + 1 :],
                fused.confidence * w / winner,
            )
    for group in others:
        other = _vote(group, dissent=0.0)
        offer(other.plate, other.confidence * min(1.0, _weight(group) / weight))
    ranked = sorted(scores.items(), key=lambda item: (-item[1], item[0]))
    return tuple(Alternative(p, s) for p, s in ranked[:MAX_ALTERNATIVES])
