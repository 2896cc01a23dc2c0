"""Fusion of several reads of one vehicle into one plate."""

from __future__ import annotations

from dataclasses import replace

import pytest

from rufina_alpr.fusion import FusedPlate, fuse
from rufina_alpr.reads import PlateRead


def read(
    text: str,
    conf: float = 0.95,
    region: str | None = "Italy",
    region_conf: float | None = 0.9,
    *,
    confs: tuple[float, ...] | None = None,
    source: str = "engine",
    crop: bytes | None = None,
) -> PlateRead:
    return PlateRead(
        text=text,
        char_confidences=confs if confs is not None else (conf,) * len(text),
        region=region,
        region_confidence=region_conf,
        source="frigate" if source == "frigate" else "engine",
        crop_jpeg=crop,
    )


def fused(reads: list[PlateRead], **kwargs: float) -> FusedPlate:
    result = fuse(reads, **kwargs)
    assert result is not None
    return result


def test_no_reads_no_plate() -> None:
    assert fuse([]) is None
    assert fuse([read(""), read(" - ", confs=(0.9, 0.9, 0.9))]) is None


def test_empty_reads_are_dropped() -> None:
    result = fused([read(""), read("AB123CD"), read("")])
    assert result.plate == "AB123CD"
    assert result.read_count == 1


# One look-alike per read, the country vote says Italy: the format decides.
CAR_CONFUSIONS = [
    ("AB12OCD", "AB120CD"),  # O in a digit slot is 0
    ("AB123C0", "AB123CD"),  # 0 in a letter slot is D (Italy has no O)
    ("AB123OD", "AB123DD"),  # O in a letter slot is D too, when the vote says Italy
    ("ABI23CD", "AB123CD"),  # I -> 1
    ("A8123CD", "AB123CD"),  # 8 -> B
    ("AB1B3CD", "AB183CD"),  # B -> 8
    ("AB1D3CD", "AB103CD"),  # D -> 0
    ("5B123CD", "SB123CD"),  # 5 -> S
    ("AB1S3CD", "AB153CD"),  # S -> 5
    ("AB123C2", "AB123CZ"),  # 2 -> Z
    ("AB1Z3CD", "AB123CD"),  # Z -> 2
    ("AB1236D", "AB123GD"),  # 6 -> G
    ("ABG23CD", "AB623CD"),  # G -> 6
]
MOTO_CONFUSIONS = [
    ("AB1234O", "AB12340"),
    ("0B12345", "DB12345"),
    ("AB1I345", "AB11345"),
    ("8B12345", "BB12345"),
    ("AB1B345", "AB18345"),
    ("AB12D45", "AB12045"),
    ("A512345", "AS12345"),
    ("AB12S45", "AB12545"),
    ("2B12345", "ZB12345"),
    ("AB1Z345", "AB12345"),
    ("6B12345", "GB12345"),
    ("AB12G45", "AB12645"),
]


@pytest.mark.parametrize(("text", "plate"), CAR_CONFUSIONS)
def test_italian_car_confusions_settled(text: str, plate: str) -> None:
    result = fused([read(text)])
    assert result.plate == plate
    assert result.format == "it_car"
    assert result.country == "IT"
    assert result.display == f"{plate[:2]} {plate[2:5]} {plate[5:]}"


@pytest.mark.parametrize(("text", "plate"), MOTO_CONFUSIONS)
def test_italian_moto_confusions_settled(text: str, plate: str) -> None:
    result = fused([read(text)])
    assert result.plate == plate
    assert result.format == "it_moto"
    assert result.display == f"{plate[:2]} {plate[2:]}"


def test_letter_slot_takes_best_letter_candidate() -> None:
    """1 has no Italian letter look-alike: the best letter read there wins, though outvoted."""
    result = fused([read("AB123C1", 0.9), read("AB123CT", 0.6)])
    assert result.plate == "AB123CT"


def test_look_alikes_settled_without_country_vote() -> None:
    """Frigate's reads carry no country: the Italian shape alone decides."""
    result = fused([read("AB1Z3CD", region=None, region_conf=None, source="frigate")])
    assert (result.plate, result.format, result.country) == ("AB123CD", "it_car", "IT")


@pytest.mark.parametrize(
    ("text", "region", "country"),
    [
        ("BA302OZ", "Slovakia", "SK"),  # would be BA302DZ if Italian
        ("MAB1234", "Germany", "DE"),  # would be an Italian motorcycle MA81234
        ("BD51SMR", "United Kingdom", "GB"),  # would be an Italian car BD515MR
        ("AB1Z3CD", "France", "FR"),  # Italian shape after settling, but the vote says France
    ],
)
def test_foreign_plates_kept_as_read(text: str, region: str, country: str) -> None:
    result = fused([read(text, region=region), read(text, 0.9, region=region)])
    assert (result.plate, result.display, result.country, result.format) == (
        text,
        text,
        country,
        None,
    )


def test_slovak_plate_voted_not_coerced() -> None:
    reads = [
        read("BA302OZ", 0.97, "Slovakia", 0.99),
        read("BA3020Z", 0.7, "Slovakia", 0.95),
        read("BA302OZ", 0.9, "Slovakia", 0.97),
    ]
    assert fused(reads).plate == "BA302OZ"


def test_letter_italy_never_issues_keeps_plate_foreign_without_country_vote() -> None:
    result = fused([read("BA302OZ", region="Unknown", region_conf=0.8)])
    assert (result.plate, result.format, result.country) == ("BA302OZ", None, None)


def test_exact_italian_shape_is_italian_unless_sure_of_another_country() -> None:
    """An unsure foreign guess does not overrule the Italian layout; a sure one does."""
    car = fused([read("AB123CD", region="France", region_conf=0.8)])
    assert (car.plate, car.format, car.country) == ("AB123CD", "it_car", "IT")
    assert car.display == "AB 123 CD"
    unknown = fused([read("AB12345", region="Unknown", region_conf=1.0)])
    assert (unknown.format, unknown.display, unknown.country) == ("it_moto", "AB 12345", "IT")
    slovak = fused([read("RK376AF", region="Slovakia", region_conf=1.0)] * 3)
    assert (slovak.plate, slovak.format, slovak.country) == ("RK376AF", None, "SK")
    assert slovak.display == "RK376AF"
    split = fused(
        [read("RK376AF", region="Slovakia", region_conf=1.0), read("RK376AF", region="Unknown")]
    )
    assert (split.format, split.country) == ("it_car", "IT"), "half sure is not sure"


def test_square_plate_with_moto_layout_is_italian_even_if_called_norwegian() -> None:
    square = replace(read("AB12345", region="Norway", region_conf=1.0), box=(0, 0, 120, 100))
    assert (fused([square]).format, fused([square]).country) == ("it_moto", "IT")
    long = replace(square, box=(0, 0, 470, 100))
    assert (fused([long]).format, fused([long]).country) == (None, "NO")


@pytest.mark.parametrize("text", ["CCAB123", "CCAB12S", "EI123AB", "GDF123AB", "CRI123AB"])
def test_special_series_kept_as_read(text: str) -> None:
    result = fused([read(text)])
    assert (result.plate, result.display, result.format, result.country) == (
        text,
        text,
        "it_special",
        "IT",
    )


def test_civil_plate_with_special_prefix_is_a_car() -> None:
    assert fused([read("CC123AB")]).format == "it_car"


def test_one_wrong_read_is_outvoted() -> None:
    reads = [read("AB123CD"), read("AB128CD"), read("AB123CD", 0.9), read("AB123CD", 0.92)]
    result = fused(reads)
    assert result.plate == "AB123CD"
    assert result.read_count == 4
    assert "AB128CD" in [a.plate for a in result.alternatives]
    unanimous = fused([read("AB123CD"), read("AB123CD", 0.9), read("AB123CD", 0.92)])
    assert result.confidence < unanimous.confidence


def test_confident_read_beats_two_weak_ones() -> None:
    result = fused([read("AB123CD", 0.95), read("AB128CD", 0.4), read("AB128CD", 0.4)])
    assert result.plate == "AB123CD"


def test_two_fair_reads_beat_one_confident_read() -> None:
    result = fused([read("AB123CD", 0.95), read("AB128CD", 0.8), read("AB128CD", 0.8)])
    assert result.plate == "AB128CD"


def test_votes_weighted_per_character() -> None:
    """Two reads sure of the plate overall but unsure of the disputed character lose there."""
    unsure = (0.99, 0.99, 0.99, 0.99, 0.3, 0.99, 0.99)
    reads = [read("AB128CD", confs=unsure), read("AB128CD", confs=unsure), read("AB123CD", 0.9)]
    assert fused(reads).plate == "AB123CD"


def test_reads_of_other_length_are_dissent_and_alternative() -> None:
    agreeing = [read("AB123CD", 0.9), read("AB123CD", 0.92), read("AB123CD", 0.91)]
    result = fused([*agreeing, read("AB1123CD", 0.95)])
    assert result.plate == "AB123CD"
    assert result.read_count == 4
    assert "AB1123CD" in [a.plate for a in result.alternatives]
    assert result.confidence < fused(agreeing).confidence


def test_length_with_most_weight_wins() -> None:
    result = fused([read("AB23CD", 0.3), read("AB23CD", 0.3), read("AB123CD", 0.95)])
    assert result.plate == "AB123CD"
    assert result.format == "it_car"


def test_frigate_read_is_one_more_vote() -> None:
    engine = [read("AB123CD", 0.8), read("AB128CD", 0.8)]
    frigate = read("AB 123 CD", region=None, region_conf=None, source="frigate", confs=(0.85,) * 9)
    result = fused([*engine, frigate])
    assert result.plate == "AB123CD"
    assert result.read_count == 3
    assert fused([*engine, read("AB128CD", 0.85, None, None, source="frigate")]).plate == "AB128CD"


def test_two_plates_strongest_cluster_wins() -> None:
    reads = [read("AB123CD"), read("XY987ZW", 0.9), read("AB123CD", 0.9), read("XY987ZW", 0.5)]
    result = fused([*reads, read("A8123CD", 0.8)])
    assert result.plate == "AB123CD"
    assert result.read_count == 3
    assert result.alternatives[0].plate == "XY987ZW"
    assert result.alternatives[0].score < result.confidence
    assert result.best_read.text == "AB123CD"
    other = fused([*reads, read("XY987ZW", 0.95), read("XY987ZW", 0.95)])
    assert other.plate == "XY987ZW"
    assert "AB123CD" in [a.plate for a in other.alternatives]


def test_low_confidence_flagged_not_dropped() -> None:
    result = fused([read("AB123CD", 0.5)])
    assert result.plate == "AB123CD"
    assert result.low_confidence
    assert result.confidence == pytest.approx(0.5)
    assert not fused([read("AB123CD", 0.5)], low_confidence=0.4).low_confidence
    assert not fused([read("AB123CD", 0.95)]).low_confidence


def test_contested_character_makes_low_confidence() -> None:
    result = fused([read("AB123CD", 0.99), read("AB128CD", 0.98)])
    assert result.plate == "AB123CD"
    assert result.low_confidence
    assert result.alternatives[0].plate == "AB128CD"


def test_alternatives_bounded_sorted_and_never_the_winner() -> None:
    reads = [read("AB123CD", 0.99) for _ in range(4)]
    reads += [read(t, 0.6) for t in ("XB123CD", "AK123CD", "AB723CD", "AB193CD", "AB124CD")]
    reads += [read("AB123CF", 0.6), read("ZZ999ZZ", 0.7)]
    result = fused(reads)
    plates = [a.plate for a in result.alternatives]
    scores = [a.score for a in result.alternatives]
    assert result.plate == "AB123CD"
    assert len(plates) == 5
    assert result.plate not in plates
    assert len(set(plates)) == len(plates)
    assert scores == sorted(scores, reverse=True)
    assert all(0 < s <= result.confidence for s in scores)


def test_best_read_is_closest_and_surest() -> None:
    reads = [
        read("AB128CD", 0.99, crop=b"wrong"),
        read("AB123CD", 0.8, crop=b"fair"),
        read("AB123CD", 0.9, crop=b"best"),
    ]
    assert fused(reads).best_read.crop_jpeg == b"best"


def test_off_contract_confidences_do_not_crash() -> None:
    assert fused([read("AB123CD", confs=(0.0,) * 7)]).plate == "AB123CD"
    assert fused([read("AB123CD", confs=(0.9, 0.9))]).confidence == pytest.approx(0.9)


def test_frigates_plate_is_one_more_read_only_when_it_can_be_a_plate() -> None:
    """Frigate's API takes any text: only a plate, normalised, goes on to fusion."""
    read = PlateRead.from_frigate("ab-123 cd", 0.91)
    assert read is not None
    assert (read.text, read.char_confidences, read.source) == ("AB123CD", (0.91,) * 7, "frigate")
    unscored = PlateRead.from_frigate("AB123CD", None)
    assert unscored is not None and unscored.confidence == pytest.approx(0.8)
    assert PlateRead.from_frigate("<script>alert(1)</script>", 0.9) is None
    assert PlateRead.from_frigate("", 0.9) is None
