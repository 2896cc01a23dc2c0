"""What the engine knows of one Frigate event until it ends (`EventState`), shared by the stages."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from rufina_alpr.frigate import FrigateEvent, LprUpdate
from rufina_alpr.reads import PlateRead
from rufina_alpr.stations import Station


@dataclass(slots=True)
class EventState:
    """What the engine knows of one Frigate event until it ends."""

    event: FrigateEvent
    station: Station
    first_seen: float = field(default_factory=time.monotonic)
    reads: list[PlateRead] = field(default_factory=list)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    reads_scheduled: int = 0
    reads_running: int = 0
    last_read_at: float = 0.0
    last_snapshot_time: float | None = None
    recording_read: bool = False
    """The last read took the record frame of ``last_snapshot_time`` (else the snapshot)."""
    newer: FrigateEvent | None = None
    """The newest snapshot that came while this event's read ran: read next, the others never
    (under load the `end` read takes the final snapshot anyway)."""
    failures: list[str] = field(default_factory=list)
    finalizing: bool = False
    lpr: LprUpdate | None = None
    """Frigate's latest plate for this object (`tracked_object_update` type ``lpr``)."""
    dedicated: bool = False
    """Known only from LPR updates (a dedicated LPR camera): no `end` will come."""
    quiet_timer: asyncio.TimerHandle | None = None
    confirmed: bool = False
    """Frigate's own record (``GET /api/events/<id>``) is this camera's and label's: its plate
    replaces the one MQTT brought. Unconfirmed, Frigate's plate counts only where the engine's
    own OCR agrees with it (`verification`)."""
    store_retries: int = 0

    @property
    def unseen(self) -> bool:
        """Nothing of the event was ever seen but messages: no image asked for, no plate."""
        return self.reads_scheduled == 0 and self.lpr is None and not self.finalizing
