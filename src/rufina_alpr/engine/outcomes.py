"""An ended event's outcome (`Finalizer`): its last read, Frigate's word that it is real, fusion,
then one stored transit (with its hotlist matches) or passage, the acknowledgement of its `end`,
and the hand-over to the `Publisher`. A store that refuses makes it try again later."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Any, Final, Literal

from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError

from rufina_alpr import verification
from rufina_alpr.alerts import Alert, ledger
from rufina_alpr.alerts.ledger import Settled
from rufina_alpr.config import Settings
from rufina_alpr.engine.alerting import Alerter
from rufina_alpr.engine.events import EventState, EventTracker, event_time
from rufina_alpr.engine.publisher import Publisher, mask_plate
from rufina_alpr.engine.reads import ReadScheduler
from rufina_alpr.frigate import FrigateClient, FrigateError, FrigateEvent, PlateGuess
from rufina_alpr.fusion import fuse
from rufina_alpr.hotlists import GateVerdict, Hotlists, hotlist_summary
from rufina_alpr.journeys import JourneyCheck
from rufina_alpr.metrics import Metrics
from rufina_alpr.mqtt import Message
from rufina_alpr.reads import PlateRead
from rufina_alpr.stations import Station
from rufina_alpr.store import PASSAGE_COUNTED, PASSAGE_UNREAD, Store, StoreError
from rufina_alpr.store.database import Database
from rufina_alpr.transits import Transit
from rufina_alpr.verification import Verification, verify_event

_LOGGER = logging.getLogger(__name__)

STORE_RETRY: Final = (1.0, 30.0)
"""Seconds before an outcome the store refused is stored again: first, and at most (doubling)."""
VERIFICATIONS: Final = 8
"""Questions to Frigate's API about events (`verification`) at once."""

REFUSED: Final = "refused"
"""`Finalizer._settle`'s word for an `end` Frigate's record contradicts."""
Outcome = tuple[Transit, list[Settled]] | Literal["refused"]
"""What an ended event came to: its stored transit and its alerts' changes, or `REFUSED`."""
Spawn = Callable[[Coroutine[Any, Any, Any], str], "asyncio.Task[Any]"]


class Finalizer:
    """Settles each ended event exactly once: a transit, an unread or a counted passage."""

    def __init__(
        self,
        settings: Settings,
        metrics: Metrics,
        *,
        db: Database,
        hotlists: Hotlists,
        scheduler: ReadScheduler,
        tracker: EventTracker,
        publisher: Publisher,
        alerter: Alerter,
        frigate: Callable[[], FrigateClient | None],
        ack: Callable[[Message], None],
        spawn: Spawn,
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self.db = db
        self.hotlists = hotlists
        self.scheduler = scheduler
        self.tracker = tracker
        self.publisher = publisher
        self.alerter = alerter
        self.journeys = (
            JourneyCheck(settings.stations, settings.tracking, timezone=settings.timezone)
            if settings.tracking.impossible_journey
            else None
        )
        self._frigate = frigate
        self._ack = ack
        self._spawn = spawn
        self._verifying = asyncio.Semaphore(VERIFICATIONS)

    @property
    def frigate(self) -> FrigateClient:
        client = self._frigate()
        assert client is not None, "the engine is not started"
        return client

    def start(self, state: EventState, message: Message | None) -> None:
        """Finalize the event in a task of its own (the engine waits for those at its stop)."""
        self._spawn(self.finalize(state, message), f"finalize-{state.event.id}")

    def start_count(self, station: Station, event: FrigateEvent, message: Message) -> None:
        """Count a context camera's vehicle in a task of its own."""
        self._spawn(self.count_passage(station, event, message), "finalize-count")

    async def finalize(self, state: EventState, message: Message | None) -> None:
        """An event's outcome (`_settle`); then its message is acknowledged, the event forgotten
        (unless its `end` was refused: it goes on) and a stored transit handed to the broker (not
        awaited). A store failure leaves the message unacknowledged and tries again later."""
        event = state.event
        received = time.monotonic()
        self.scheduler.ending(event.key)  # its `end` came first: the end read decides
        settled: Outcome | None = None
        retry = False
        try:
            settled = await self._settle(state)
        except StoreError:
            retry = True
            _LOGGER.warning(
                "event %s at %s not stored yet: trying again", event.id, state.station.id
            )
            self._retry_later(state, message)
        finally:
            if not retry:
                if message is not None:
                    self._ack(message)
                if settled != REFUSED:
                    self.tracker.forget(event.key)
        if isinstance(settled, tuple):
            transit, changes = settled
            self.publisher.publish_soon(transit, changes, received)
            for change in changes:
                self.metrics.inc(f"alerts_{change.change}")
                if change.change == "raised":
                    self.alerter.capture(change.alert, state.event)
            if self.settings.frigate.write_back_plate or self.settings.frigate.write_back_sub_label:
                self._spawn(self._write_back(transit), f"write-back-{event.id}")

    async def _settle(self, state: EventState) -> Outcome | None:
        """Its last read, Frigate's word that it is real and ended, fusion, the store: the stored
        transit and its alerts, `REFUSED`, or None (nothing stored: an unread passage, a
        duplicate, an event Frigate does not know). An unread outcome stored earlier (Frigate
        was unreachable, or a forged `end` came first) is settled by this one."""
        event, station = state.event, state.station
        outcome = await self.db.write(
            self.db.store.event_outcome, event.camera, event.id, writes=False
        )
        if outcome is not None and outcome != PASSAGE_UNREAD:
            self.metrics.inc("events_duplicate")
            return None
        settle = outcome == PASSAGE_UNREAD
        self.scheduler.read_end(state)
        verdict = None if state.confirmed else await self._verify(state)
        if verdict is not None and verdict.verdict == "refused":
            self._refuse(state, verdict)
            return REFUSED  # its message is acknowledged, the event is not forgotten
        await self.scheduler.drain(state)
        if verdict is not None and verdict.verdict == "absent" and not state.fused_reads:
            self.metrics.inc("events_not_in_frigate")
            _LOGGER.debug("event %s at %s: not in Frigate's events", event.id, station.id)
            await self.alerter.withdraw(state, "Frigate does not know the event")
            return None
        transit, reads, own_read = self._transit(state)
        if transit is None:
            await self._unread(state, settle)
            await self.alerter.withdraw(state, "nothing read at the vehicle's end")
            return None
        trusted = state.confirmed or own_read
        kept = transit if trusted else self._unconfirmed(transit)
        gate, drop = await self.db.write(self._gate, kept) if trusted else (None, False)
        if drop:
            # Authorised at a gate that keeps no authorised transit (ZTL practice): counted.
            if not await self.add_passage(station, event, PASSAGE_COUNTED, settle_unread=settle):
                self.metrics.inc("events_duplicate")
            else:
                self.metrics.inc("passages_authorised_not_kept")
            return None
        stored, changes = await self.db.write(
            lambda: record_transit(
                self.db.store,
                self.hotlists,
                kept,
                reads,
                metrics=self.metrics,
                cooldown=self.settings.hotlists.cooldown,
                journeys=self.journeys,
                gate_verdict=gate,
                match_hotlists=trusted,
                settle_unread=settle,
            )
        )
        if stored is None:
            self.metrics.inc("events_duplicate")
            return None
        self._stored(stored, settle)
        return stored, changes

    def _gate(self, transit: Transit) -> tuple[GateVerdict | None, bool]:
        """On the database thread: the gates' verdict on the transit, and whether the transit is
        not to be stored (an authorised vehicle where the gate keeps none, unless a list it is
        on alerts: a stolen car is stored wherever it passes)."""
        gate = self.hotlists.gate_check(
            transit.plate, transit.alternatives, transit.station_id, transit.time
        )
        if gate is None or gate.keeps_transit:
            return gate, False
        matches = self.hotlists.match(
            transit.plate, transit.alternatives, transit.station_id, transit.time
        )
        return gate, not any(match.alerts for match in matches)

    async def _unread(self, state: EventState, settle: bool) -> None:
        """Store an event nothing was read of, with why (its last failures)."""
        event, station = state.event, state.station
        reason = "; ".join(dict.fromkeys(state.failures[-3:])) or (
            "no plate read" if event.has_snapshot else "no snapshot"
        )
        if not await self.add_passage(station, event, PASSAGE_UNREAD, reason, settle):
            self.metrics.inc("events_duplicate")
            return
        self.metrics.inc("passages_unread")
        _LOGGER.info("event %s at %s recorded as unread: %s", event.id, station.id, reason)

    def _stored(self, transit: Transit, settled: bool) -> None:
        """Count and log a stored transit (its plate masked)."""
        self.metrics.inc("transits_stored")
        if settled:
            self.metrics.inc("passages_read_again")
        if transit.hotlist is not None:
            self.metrics.inc("hotlist_matches")
        _LOGGER.info(
            "transit at %s: %s (%.2f, %d reads)",
            transit.station_id,
            mask_plate(transit.plate),
            transit.confidence,
            transit.read_count,
        )

    def _retry_later(self, state: EventState, message: Message | None) -> None:
        """Store the outcome of an event again after a back-off; its message stays unacked."""
        delay = backoff(state.store_retries)
        state.store_retries += 1

        async def retry() -> None:
            await asyncio.sleep(delay)
            await self.finalize(state, message)

        self._spawn(retry(), f"store-retry-{state.event.id}")

    async def _verify(self, state: EventState) -> Verification:
        """Frigate's record of the event (`verification`); confirmed, its plate is Frigate's
        word (the one MQTT brought may be forged) and the state is marked confirmed."""
        event = state.event
        dedicated = event.source == "lpr"
        ended = event.type == "end" and not dedicated
        async with self._verifying:
            answer = await verify_event(
                self.frigate.event,
                event.camera,
                event.id,
                labels={event.label},
                ended=ended,
                # Frigate's record lags its MQTT `end`, and exists once there is a snapshot.
                wait=dedicated or (ended and event.has_snapshot),
                delays=verification.ASK_AGAIN,
            )
        record = answer.event
        if answer.verdict == "confirmed" and record is not None:
            state.confirmed = True
            state.lpr = None
            state.event = dataclasses.replace(
                state.event,
                recognized_plate=record.recognized_plate,
                end_time=record.end_time if ended else state.event.end_time,
            )
        elif answer.verdict == "unverified":
            self.metrics.inc("events_unverified")
            state.failures.append(answer.reason)
        return answer

    def _refuse(self, state: EventState, answer: Verification) -> None:
        """An `end` (or a plate) Frigate's record contradicts. Another camera's or label's id:
        nothing of the event is this station's, it is dropped. Still tracked: the `end` is
        refused and the event goes on until Frigate's real one."""
        event = state.event
        record = answer.event
        if (
            record is not None
            and record.end_time is None
            and (record.camera, record.label) == (event.camera, event.label)
        ):
            self.metrics.inc("events_end_refused")
            state.finalizing = False
            state.event = dataclasses.replace(event, type="update", end_time=None)
        else:
            self.metrics.inc("events_forged")
            self.tracker.forget(event.key)
            self._spawn(
                self.alerter.withdraw(state, "Frigate's record is another camera's"),
                f"withdraw-{event.id}",
            )
        _LOGGER.warning(
            "refused the end of event %s at %s: %s",
            event.id,
            state.station.id,
            answer.reason,
        )

    async def _write_back(self, transit: Transit) -> None:
        """Our plate (and the hotlist's name as sub_label) onto Frigate's event, so they show
        in Frigate's UI and search. Best effort: a failure is logged and counted."""
        frigate = self.settings.frigate
        try:
            if frigate.write_back_plate:
                await self.frigate.set_plate(transit.event_id, transit.plate, transit.confidence)
                self.metrics.inc("frigate_plates_written")
            hotlist = transit.hotlist
            if frigate.write_back_sub_label and hotlist and hotlist.get("action") != "allow":
                name = str(hotlist.get("list_name") or hotlist.get("list"))
                score = hotlist.get("score")
                await self.frigate.set_sub_label(
                    transit.event_id, name, float(score) if score is not None else None
                )
                self.metrics.inc("frigate_sub_labels_written")
        except FrigateError as err:
            self.metrics.inc("frigate_write_back_failed")
            _LOGGER.warning("write-back to Frigate event %s failed: %s", transit.event_id, err)

    def _transit(self, state: EventState) -> tuple[Transit | None, list[PlateRead], bool]:
        """The fused transit (None: nothing read), the reads, and whether the engine's own OCR
        read the fused plate (Frigate's alone proves nothing when it came over MQTT)."""
        event, station = state.event, state.station
        reads = state.fused_reads
        # Frigate's answer: its latest LPR update (its clustered best plate), else the plate on
        # the event (the same result, as the event carries it).
        guess = (
            PlateGuess(state.lpr.plate, state.lpr.score)
            if state.lpr is not None
            else event.recognized_plate
        )
        frigate_read = PlateRead.from_frigate(guess.plate, guess.score) if guess else None
        if frigate_read is not None:
            reads.append(frigate_read)
        fused = fuse(reads, low_confidence=self.settings.recognition.low_confidence)
        if fused is None:
            return None, reads, False
        transit = Transit.of_fused(
            fused,
            event_id=event.id,
            station_id=station.id,
            camera=event.camera,
            time=self.event_time(event),
            vehicle=event.label,
            direction=station.direction_of(event.entered_zones),
            frigate_plate=frigate_read.text if frigate_read else None,
        )
        return transit, reads, "engine" in fused.sources

    def _unconfirmed(self, transit: Transit) -> Transit:
        """A transit from Frigate's MQTT plate alone, which Frigate's record did not confirm
        and the engine's OCR did not read: kept (a real event whose images failed) but flagged
        and at most the low-confidence threshold, as anyone who may publish on ``frigate/#``
        can make one up."""
        self.metrics.inc("transits_unconfirmed")
        ceiling = self.settings.recognition.low_confidence
        return dataclasses.replace(
            transit, confidence=min(transit.confidence, ceiling), low_confidence=True
        )

    def event_time(self, event: FrigateEvent) -> datetime:
        return event_time(event, self.settings.timezone)

    async def add_passage(
        self,
        station: Station,
        event: FrigateEvent,
        status: str,
        reason: str | None = None,
        settle_unread: bool = False,
    ) -> bool:
        """Store a passage without a transit (unread or counted); False if already stored
        (``settle_unread``: an unread one takes the new reason)."""
        return await self.db.write(
            lambda: self.db.store.add_passage(
                event_id=event.id,
                station_id=station.id,
                camera=event.camera,
                time=self.event_time(event),
                vehicle=event.label,
                direction=station.direction_of(event.entered_zones),
                status=status,
                reason=reason,
                settle_unread=settle_unread,
            )
        )

    async def count_passage(self, station: Station, event: FrigateEvent, message: Message) -> None:
        """Count a context camera's vehicle; its `end` is acknowledged once that is stored."""
        retries = 0
        while True:
            try:
                stored = await self.add_passage(station, event, PASSAGE_COUNTED)
                break
            except StoreError:
                await asyncio.sleep(backoff(retries))
                retries += 1
        self.metrics.inc("passages_counted" if stored else "events_duplicate")
        self._ack(message)


def record_transit(
    store: Store,
    hotlists: Hotlists,
    transit: Transit,
    reads: list[PlateRead],
    *,
    metrics: Metrics,
    cooldown: float,
    journeys: JourneyCheck | None = None,
    gate_verdict: GateVerdict | None = None,
    match_hotlists: bool = True,
    settle_unread: bool = False,
) -> tuple[Transit | None, list[Settled]]:
    """On the database thread: match the hotlists (unless ``match_hotlists`` is False: an
    unconfirmed read raises no alert), then store the transit with its ``hotlist`` summary, its
    reads, its matches and what it does to its vehicle's alerts in one transaction
    (`Store.record_outcome`): the hotlist alert raised (or the provisional one confirmed or
    withdrawn), a gate's (``gate_verdict``: `Hotlists.gate_check`'s) and an impossible
    journey's. Returns the stored transit (None: the event has an
    outcome already) and its alerts' changes to publish."""
    try:
        matches = (
            hotlists.match(transit.plate, transit.alternatives, transit.station_id, transit.time)
            if match_hotlists
            else []
        )
    except Exception as err:  # a hotlist failure must not lose the transit
        # Only this (database) thread touches this counter.
        metrics.inc("hotlist_errors")
        _LOGGER.error("hotlist matching failed at %s: %s", transit.station_id, type(err).__name__)
        matches = []
    transit = dataclasses.replace(transit, hotlist=hotlist_summary(matches))
    best = next((match for match in matches if match.alerts), None)
    gate = gate_verdict if match_hotlists else None

    def record(connection: Connection) -> list[Settled]:
        now = datetime.now(UTC)
        try:
            candidate = (
                ledger.hotlist_alert(
                    transit, best, status="confirmed", worker=store.worker, now=now
                )
                if best is not None
                else None
            )
            changes = [
                ledger.settle(
                    connection, transit, candidate, kind="hotlist", cooldown=cooldown, now=now
                )
            ]
            hotlist_alert = changes[0]
            alerted = (
                hotlist_alert.alert.entry_id
                if hotlist_alert is not None and hotlist_alert.change != "withdrawn"
                else None
            )
            hotlists.record_matches(
                connection,
                transit.id,
                transit.station_id,
                transit.time,
                matches,
                alerted_entry=alerted,
            )
            if gate is not None:
                changes.append(
                    ledger.settle(
                        connection,
                        transit,
                        gate_alert(transit, gate, worker=store.worker, now=now),
                        kind="not_authorised",
                        cooldown=cooldown,
                        now=now,
                    )
                )
            if journeys is not None and match_hotlists:
                journey = journeys.check(connection, transit, worker=store.worker, now=now)
                changes.append(
                    ledger.settle(
                        connection,
                        transit,
                        journey,
                        kind="impossible_journey",
                        cooldown=cooldown,
                        now=now,
                    )
                )
            return [change for change in changes if change is not None]
        except SQLAlchemyError:  # the store's failure: the whole outcome is stored again later
            raise
        except Exception as err:  # a fault of ours recording them must not lose the transit
            metrics.inc("hotlist_errors")
            _LOGGER.error(
                "hotlist matches not recorded at %s: %s", transit.station_id, type(err).__name__
            )
            return []

    settled = store.record_outcome(transit, reads, settle_unread=settle_unread, then=record)
    return (None, []) if settled is None else (transit, settled)


def gate_alert(transit: Transit, gate: GateVerdict, *, worker: str, now: datetime) -> Alert | None:
    """A gate's alert for a plate not on its authorised list: raised (``alert``), or only queued
    for review (``review``) when the plate nearly matches an authorised one or the read is
    unsure of it — in the vehicle's favour; None for an authorised vehicle."""
    if gate.verdict == "authorised":
        return None
    near = gate.match
    review = gate.verdict == "review" or transit.low_confidence
    info = gate.gate_list
    return ledger.new_alert(
        transit,
        kind="not_authorised",
        status="confirmed",
        worker=worker,
        now=now,
        action="review" if review else "alert",
        priority=info.priority,
        read_plate=near.read_plate if near is not None else transit.plate,
        score=near.score if near is not None else transit.confidence,
        match=near.match if near is not None else "exact",
        reason=(
            f"near {near.entry_plate} on {info.name} (score {near.score:.2f}): to review"
            if near is not None
            else f"not on {info.name}"
            + (": an unsure read, to review" if transit.low_confidence else "")
        ),
        list_id=info.id,
        list_name=info.name,
        list_kind=info.kind,
        entry_id=near.entry_id if near is not None else None,
        entry_plate=near.entry_plate if near is not None else None,
    )


def backoff(retries: int) -> float:
    """Seconds to wait before storing again after ``retries`` failed attempts."""
    first, most = STORE_RETRY
    return float(min(most, first * 2 ** min(retries, 16)))
