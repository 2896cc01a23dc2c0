"""Guards on what arrives from the broker, applied before any message is parsed or used.

Anyone allowed to publish on ``frigate/#`` can send the engine anything, so every message is
bounded before ``json.loads`` sees it: a size cap (a 37 MiB event once held the event loop for
12.7 s; Frigate's real events are a few KB) and a nesting cap (json.loads on 100,000 nested
lists raises RecursionError, which no parser catches). Event ids go into Frigate URLs, store keys
and log lines, so they are checked against what Frigate makes: ``<timestamp>-<6 [a-z0-9]>``
(``str(float)`` of the frame time, also for dedicated LPR cameras' events), accepted more loosely
(letters, digits, ``.``, ``_``, ``-``; starting with a letter or digit) so no ``.``, ``..``,
``/``, space or control character can pass.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from rufina_alpr.errors import RufinaError

DEFAULT_MAX_PAYLOAD: Final = 256 * 1024
"""Bytes; Frigate 0.17's `frigate/events` messages are 3-5 KB (``shared/frigate/payloads``)."""
MAX_NESTING: Final = 32
"""Frigate's messages nest 4 levels (``after.snapshot.box``); json.loads recurses per level."""
EVENT_ID: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")

_SIGNIFICANT: Final = re.compile(rb'[][{}"\\]')
"""The only bytes that decide nesting: one character class, so each match is one step with
nothing to backtrack over (a string pattern with alternatives retried from every quote of an
unterminated string was quadratic: 96 KB of escaped quotes held the loop for a minute)."""
_QUOTE, _BACKSLASH = ord('"'), ord("\\")
_OPEN, _CLOSE = frozenset(b"[{"), frozenset(b"]}")


class IntakeError(RufinaError, ValueError):
    """A message refused before parsing; ``reason`` is a short, plate-free word for counters."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Nesting:
    """What one scan of a payload found: whether it nests too deeply, and how many bytes the
    scan looked at (never more than the payload's length: the guard is linear by count)."""

    too_deep: bool
    steps: int


def check_payload(payload: bytes, max_bytes: int) -> None:
    """Raise `IntakeError` for a payload too big or nested too deeply to hand to json.loads."""
    if len(payload) > max_bytes:
        raise IntakeError("too_large", f"{len(payload)} bytes, more than {max_bytes}")
    if too_deep(payload, MAX_NESTING):
        raise IntakeError("too_deep", f"JSON nested more than {MAX_NESTING} levels")


def too_deep(payload: bytes, limit: int) -> bool:
    """Whether the JSON text nests more than ``limit`` arrays/objects (brackets inside strings
    do not count)."""
    return scan_nesting(payload, limit).too_deep


def scan_nesting(payload: bytes, limit: int) -> Nesting:
    """One pass over the payload's quotes, backslashes and brackets, in order: a string's
    escaped byte is skipped, brackets count only outside strings. Each significant byte is one
    step, whatever the payload (unterminated strings, runs of escapes): linear in its size."""
    depth = steps = 0
    in_string = False
    escaped = -1  # the index of the byte the last backslash escapes
    for found in _SIGNIFICANT.finditer(payload):
        steps += 1
        index = found.start()
        if index == escaped:
            continue
        byte = payload[index]
        if in_string:
            if byte == _BACKSLASH:
                escaped = index + 1
            elif byte == _QUOTE:
                in_string = False
        elif byte == _QUOTE:
            in_string = True
        elif byte in _OPEN:
            depth += 1
            if depth > limit:
                return Nesting(True, steps)
        elif byte in _CLOSE:
            depth -= 1
    return Nesting(False, steps)


LATEST_TIME: Final = 4_102_444_800.0
"""2100-01-01 in Unix seconds: Frigate's times are Unix seconds, and one past what `datetime`
can hold (a forged 1e300) would fail every step that turns it into the passage's time."""


def plausible_times(*moments: float | None) -> bool:
    """Whether Frigate times (Unix seconds; None: not given) are within 1970-2100."""
    return all(moment is None or 0.0 <= moment <= LATEST_TIME for moment in moments)


def valid_event_id(identifier: str) -> bool:
    """Whether an event id can safely be a URL segment, a store key and a log field."""
    return EVENT_ID.fullmatch(identifier) is not None
