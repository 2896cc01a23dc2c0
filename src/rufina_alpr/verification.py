"""Whether an event named on MQTT is one Frigate saved, on that camera, and whether it ended.

Anyone allowed to publish on ``frigate/#`` can name any event id in any message: an `end` sent
right after Frigate's `new` would close a real vehicle as unread (or with a made-up plate), and a
plate read naming another camera's event would get that camera's image as "its" evidence.
Frigate's HTTP API is authenticated, so its record (``GET /api/events/<id>``) decides: the
camera and label must be the message's, and an `end` counts only once Frigate's record ended.

Frigate publishes `end` on MQTT before its event processor (another process) writes the end
time, and saves an event only once it has a snapshot or a clip: a record still in progress, or
none yet, is asked for again a few times before the answer stands.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Final, Literal

from rufina_alpr.frigate import FrigateError, FrigateEvent

ASK_AGAIN: Final = (0.25, 0.5, 1.0, 2.0, 4.0)
"""Seconds between asks while Frigate's record lags its MQTT `end` (about 8 s in all)."""
UNREACHABLE: Final = "frigate unreachable"
"""How an unread passage's reason starts when Frigate could not answer: read again later."""

Verdict = Literal["confirmed", "refused", "unverified", "absent"]


@dataclass(frozen=True, slots=True)
class Verification:
    """``confirmed``: Frigate's record (``event``) is the message's camera and label, and ended
    (or need not have). ``refused``: the record contradicts the message (another camera or
    label: a forged id; or still tracked after every ask: a forged `end`). ``absent``: Frigate
    answered but saved no such event. ``unverified``: Frigate could not answer (``reason``)."""

    verdict: Verdict
    event: FrigateEvent | None = None
    reason: str = ""


async def verify_event(
    fetch: Callable[[str], Awaitable[FrigateEvent | None]],
    camera: str,
    event_id: str,
    *,
    labels: Collection[str],
    ended: bool,
    wait: bool = True,
    delays: Sequence[float] = ASK_AGAIN,
) -> Verification:
    """Ask Frigate (``fetch``: `FrigateClient.event`) for its record of ``event_id``.

    ``ended``: the message says the event ended, so the record must say so too. ``wait``: ask
    again (after each of ``delays``) while the record is missing or still in progress."""
    pending: Verification | None = None
    for delay in (0.0, *(delays if wait else ())):
        if delay:
            await asyncio.sleep(delay)
        try:
            record = await fetch(event_id)
        except FrigateError as err:
            prefix = UNREACHABLE if err.transient else "frigate"
            return Verification("unverified", reason=f"{prefix}: {err}")
        if record is None:
            pending = Verification("absent", reason="not in Frigate's events")
            continue
        if record.camera != camera:
            return Verification("refused", record, "the id is an event of another camera")
        if record.label not in labels:
            return Verification("refused", record, f"Frigate's event is a {record.label[:32]}")
        if ended and record.end_time is None:
            pending = Verification("refused", record, "Frigate still tracks the object")
            continue
        return Verification("confirmed", record)
    assert pending is not None
    return pending
