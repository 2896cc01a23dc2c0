"""The operator panel speaks Italian and English: both languages have the same strings."""

from __future__ import annotations

import re
from pathlib import Path

import rufina_alpr.api.panel

STATIC = Path(rufina_alpr.api.panel.__file__).parent / "static"
PLACEHOLDER = re.compile(r"\{(\w+)\}")
# "{n|transito|transiti}" (i18n.js `PLURAL`): a count's word for one, then for any other count.
PLURAL = re.compile(r"\{(\w+)\|((?:[^|{}]|\{\w+\})*)\|((?:[^|{}]|\{\w+\})*)\}")


def _language(source: str, name: str) -> dict[str, str]:
    block = re.search(rf"\n  {name}: {{\n(?P<body>.*?)\n  }},?\n", source, re.S)
    assert block, f"no {name} block in i18n.js"
    strings = {}
    for match in re.finditer(
        r'(?:"(?P<q>[\w.]+)"|(?P<b>[A-Za-z_]\w*))\s*:\s*"(?P<text>(?:[^"\\]|\\.)*)"', block["body"]
    ):
        strings[match["q"] or match["b"]] = match["text"]
    return strings


def test_italian_and_english_have_the_same_strings_and_placeholders() -> None:
    source = (STATIC / "i18n.js").read_text(encoding="utf-8")
    italian, english = _language(source, "it"), _language(source, "en")
    assert len(italian) > 100
    assert set(italian) == set(english), set(italian) ^ set(english)
    for key, text in italian.items():
        assert set(PLACEHOLDER.findall(text)) == set(PLACEHOLDER.findall(english[key])), key


def test_plural_forms_are_well_formed_and_count_a_value_the_string_is_given() -> None:
    """A count's word agrees with it ("1 viaggio", "2 viaggi"); a brace that is neither a
    placeholder nor a plural form would show on screen."""
    source = (STATIC / "i18n.js").read_text(encoding="utf-8")
    italian, english = _language(source, "it"), _language(source, "en")
    plurals = 0
    for key in italian:
        given = set(PLACEHOLDER.findall(italian[key])) | set(PLACEHOLDER.findall(english[key]))
        for text in (italian[key], english[key]):
            for count, one, other in PLURAL.findall(text):
                plurals += 1
                assert count in given and one and other and one != other, (key, text)
            assert "{" not in PLACEHOLDER.sub("", PLURAL.sub("", text)), (key, text)
    assert plurals >= 20  # the counts of transits, journeys, cameras, vehicles, alerts


def test_every_key_the_panel_uses_exists() -> None:
    source = (STATIC / "i18n.js").read_text(encoding="utf-8")
    italian = _language(source, "it")
    modules = (
        "app.js",
        "util.js",
        "charts.js",
        "alerts.js",
        "privacy.js",
        "investigations.js",
        "route.js",
        "routemap.js",
        "system.js",
        "audit.js",
    )
    code = "\n".join((STATIC / name).read_text(encoding="utf-8") for name in modules)
    used = set(re.findall(r'\bt\("([\w.]+)"', code))
    assert used, "the panel calls t(...)"
    assert used <= set(italian), used - set(italian)
