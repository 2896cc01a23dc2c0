"""Plate text knowledge: normalisation, Italian formats, display forms, country codes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from rufina_alpr.plate_formats import (
    COUNTRY_CODES,
    DIGIT,
    LETTER,
    country_code,
    display_form,
    match_italian_format,
    normalize_plate,
    settle_char,
    settle_italian,
    special_series,
    written_form,
)

MODELS = Path(
    os.environ.get("RUFINA_ALPR_MODELS")
    or Path(__file__).resolve().parents[2].parent / "shared" / "models"
)
OCR_CONFIG = MODELS / "cct-xs-v2-global" / "cct_xs_v2_global_plate_config.yaml"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("ab 123 cd", "AB123CD"), ("AB-123-CD", "AB123CD"), (" ab.12345 ", "AB12345"), ("", "")],
)
def test_normalize_plate(raw: str, expected: str) -> None:
    assert normalize_plate(raw) == expected


@pytest.mark.parametrize(
    ("plate", "fmt", "expected"),
    [
        ("AB123CD", "it_car", "AB 123 CD"),
        ("ab 12345", "it_moto", "AB 12345"),
        ("BA302OZ", None, "BA302OZ"),
        ("CCAB123", "it_special", "CCAB123"),
        ("AB1234", "it_car", "AB1234"),  # does not fit: as read
    ],
)
def test_display_form(plate: str, fmt: str | None, expected: str) -> None:
    assert display_form(plate, fmt) == expected


@pytest.mark.parametrize(
    ("region", "code"),
    [
        ("Italy", "IT"),
        ("Slovakia", "SK"),
        ("United Kingdom", "GB"),
        ("Germany", "DE"),
        ("Czech Republic", "CZ"),
        ("San Marino", "SM"),
        ("Unknown", None),
        (None, None),
        ("Atlantis", None),
    ],
)
def test_country_code(region: str | None, code: str | None) -> None:
    assert country_code(region) == code


def test_every_ocr_region_has_an_iso_code() -> None:
    if not OCR_CONFIG.is_file():
        if os.environ.get("CI") == "true":
            pytest.fail(f"OCR config missing in CI: {OCR_CONFIG}")
        pytest.skip(f"OCR config not found at {OCR_CONFIG} (set RUFINA_ALPR_MODELS)")
    regions = yaml.safe_load(OCR_CONFIG.read_text())["plate_regions"]
    assert len(regions) == 66
    named = [r for r in regions if r != "Unknown"]
    assert sorted(COUNTRY_CODES) == sorted(named)
    codes = [country_code(r) for r in named]
    assert all(c is not None and len(c) == 2 and c.isupper() for c in codes)
    assert len(set(codes)) == len(codes)


@pytest.mark.parametrize(
    ("char", "slot", "expected"),
    [
        ("A", LETTER, "A"),
        ("8", LETTER, "B"),
        ("0", LETTER, "D"),
        ("O", LETTER, "D"),  # Italy never issues O
        ("5", LETTER, "S"),
        ("2", LETTER, "Z"),
        ("6", LETTER, "G"),
        ("1", LETTER, None),  # its look-alike I is never issued either
        ("I", LETTER, None),
        ("7", DIGIT, "7"),
        ("O", DIGIT, "0"),
        ("D", DIGIT, "0"),
        ("I", DIGIT, "1"),
        ("B", DIGIT, "8"),
        ("S", DIGIT, "5"),
        ("Z", DIGIT, "2"),
        ("G", DIGIT, "6"),
        ("K", DIGIT, None),
    ],
)
def test_settle_char(char: str, slot: str, expected: str | None) -> None:
    assert settle_char(char, slot) == expected


@pytest.mark.parametrize(
    ("text", "fmt", "plate", "exact"),
    [
        ("AB123CD", "it_car", "AB123CD", True),
        ("ab 123 cd", "it_car", "AB123CD", True),
        ("A8I23C0", "it_car", "AB123CD", False),
        ("5Z12OGD", "it_car", "SZ120GD", False),
        ("AB12345", "it_moto", "AB12345", True),
        ("A8I2S4G", "it_moto", "AB12546", False),
        ("AB123C5", "it_car", "AB123CS", False),  # the car needs one change, the moto two
    ],
)
def test_match_italian_format(text: str, fmt: str, plate: str, exact: bool) -> None:
    match = match_italian_format(text)
    assert match is not None
    assert (match.format.name, match.plate, match.exact) == (fmt, plate, exact)


@pytest.mark.parametrize("text", ["BA302O", "AB123CDE", "MAK1234", "1B80338", "A1123CD", ""])
def test_no_italian_format(text: str) -> None:
    assert match_italian_format(text) is None


def test_forbidden_letter_is_reported() -> None:
    match = match_italian_format("BA302OZ")
    assert match is not None
    assert match.forbidden
    assert match.plate == "BA302DZ"  # what it would be if it were Italian
    clean = match_italian_format("BA302DZ")
    assert clean is not None
    assert not clean.forbidden


def test_settle_italian_uses_the_vote_distribution() -> None:
    """A letter slot read mostly as 1 takes the best letter candidate instead."""
    votes = [{"A": 1.0}, {"B": 1.0}, {"1": 1.0}, {"2": 1.0}, {"3": 1.0}, {"C": 1.0}]
    votes.append({"1": 1.2, "T": 0.5})
    match = settle_italian(votes)
    assert match is not None
    assert match.plate == "AB123CT"


@pytest.mark.parametrize(
    ("plate", "prefix"),
    [
        ("CC AB 123", "CC"),
        ("EI 123 AB", "EI"),
        ("GdF 123 AB", "GDF"),
        ("VF 12345", "VF"),
        ("CRI 123 AB", "CRI"),
        ("POLIZIA F1234", "POLIZIA"),
        ("AB123CD", None),
        ("CC", None),
    ],
)
def test_special_series(plate: str, prefix: str | None) -> None:
    assert special_series(plate) == prefix


@pytest.mark.parametrize(
    ("plate", "written"),
    [
        ("AB123CD", "AB 123 CD"),  # a car
        ("ab 123 cd", "AB 123 CD"),
        ("AB12345", "AB 12345"),  # a motorcycle
        ("AB0I2CD", "AB0I2CD"),  # fits only once look-alikes are settled: as stored
        ("AI123CD", "AI123CD"),  # a letter Italy never issues: perhaps foreign
        ("M5XSX", "M5XSX"),  # foreign
    ],
)
def test_a_plate_known_only_as_text_is_written_in_its_format_when_it_fits_exactly(
    plate: str, written: str
) -> None:
    assert written_form(plate) == written
