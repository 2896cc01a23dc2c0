"""A realistic, deterministic day of traffic across the 34 registry stations, with its ground truth.

``generate_day(seed)`` builds the vehicles of one day in Rufina and the records a running engine
would have stored for them: a transit (plus its passage, one read and a crop) per vehicle at each
plate-reading station of its route, and a counted passage at each context camera it passes.
``insert_day(store, day)`` bulk-inserts them. The :class:`TrafficDay` keeps the ground truth the
tests compute their expected answers from, independently of the queries under test:

- commuters (morning in, evening out, and some the other way round), visitors with a round trip,
  through traffic on the SS67, delivery vans with several rounds (repeated visitors);
- night traffic, with a scripted "seen at Pomino and then in Rufina between 02:00 and 04:00";
- a loiterer who passes via Roma again and again;
- local vehicles counted by context cameras only, and unread vehicles at plate-reading stations;
- some OCR-confusable misreads (the stored plate differs from the true plate: O/0, I/1, B/8 ...);
- plates meant for hotlists (``hotlisted``), one of them misread at one station.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Final
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from rufina_alpr.stations import Registry, default_registry_path, load_registry
from rufina_alpr.store import (
    PASSAGE_COUNTED,
    PASSAGE_READ,
    PASSAGE_UNREAD,
    Store,
    crops,
    passages,
    reads,
    transits,
)
from rufina_alpr.transits import transit_id

ROME: Final = ZoneInfo("Europe/Rome")
DEFAULT_DAY: Final = date(2026, 3, 10)
CROP: Final = b"\xff\xd8\xff\xe0generated-crop\xff\xd9"

# Routes along the roads between the localities, as (station, direction of travel at a two-way
# context camera, minutes since the previous station). LPR stations have their own direction.
Leg = tuple[str, str | None, float]
ROUTES: Final[dict[str, tuple[Leg, ...]]] = {
    "contea_in": (
        ("ss67_contea_in", None, 0),
        ("contea_ponte_moscia", "inbound", 1),
        ("casini", "inbound", 3),
        ("scopeti", "inbound", 2),
        ("centro_raccolta", None, 1),
        ("ponte_torrente_rufina", "inbound", 3),
        ("via_roma_in", None, 2),
        ("municipio", "inbound", 1),
    ),
    "contea_out": (
        ("municipio", "outbound", 0),
        ("via_roma_out", None, 1),
        ("ponte_torrente_rufina", "outbound", 2),
        ("scopeti", "outbound", 4),
        ("casini", "outbound", 2),
        ("contea_ponte_moscia", "outbound", 3),
        ("ss67_contea_out", None, 1),
    ),
    "selvapiana_in": (
        ("stentatoio", "inbound", 0),
        ("ss67_selvapiana_in", None, 2),
        ("selvapiana", "inbound", 1),
        ("via_piave_in", None, 4),
        ("municipio", "inbound", 1),
    ),
    "selvapiana_out": (
        ("municipio", "outbound", 0),
        ("selvapiana", "outbound", 5),
        ("ss67_selvapiana_out", None, 1),
        ("stentatoio", "outbound", 2),
    ),
    "pomino_in": (
        ("pomino_pieve", None, 0),
        ("pomino_in", None, 2),
        ("rimaggio", "inbound", 6),
        ("castiglioni", None, 3),
        ("via_roma_in", None, 4),
    ),
    "pomino_out": (
        ("via_roma_out", None, 0),
        ("castiglioni", None, 4),
        ("rimaggio", "outbound", 3),
        ("pomino_out", None, 6),
        ("pomino_pieve", None, 2),
    ),
    "falgano_in": (
        ("turicchi", None, 0),
        ("falgano_chiesa", None, 5),
        ("falgano_in", None, 1),
        ("cimitero", None, 6),
        ("via_roma_in", None, 2),
    ),
    "falgano_out": (
        ("via_roma_out", None, 0),
        ("cimitero", None, 2),
        ("falgano_out", None, 6),
        ("falgano_chiesa", None, 1),
        ("turicchi", None, 5),
    ),
    "masseto_in": (
        ("masseto_piazza", None, 0),
        ("masseto_in", None, 1),
        ("via_piave_in", None, 5),
        ("municipio", "inbound", 1),
    ),
    "masseto_out": (
        ("municipio", "outbound", 0),
        ("masseto_out", None, 5),
        ("masseto_piazza", None, 1),
    ),
    "montebonello_in": (
        ("ponte_sieve_in", None, 0),
        ("stazione", None, 1),
        ("municipio", "inbound", 2),
    ),
    "montebonello_out": (
        ("municipio", "outbound", 0),
        ("stazione", None, 2),
        ("ponte_sieve_out", None, 1),
    ),
    # Through traffic on the SS67, south to north and back.
    "ss67_north": (
        ("stentatoio", "inbound", 0),
        ("ss67_selvapiana_in", None, 2),
        ("selvapiana", "inbound", 1),
        ("ponte_torrente_rufina", "outbound", 5),
        ("scopeti", "outbound", 4),
        ("casini", "outbound", 2),
        ("contea_ponte_moscia", "outbound", 3),
        ("ss67_contea_out", None, 1),
    ),
    "ss67_south": (
        ("ss67_contea_in", None, 0),
        ("contea_ponte_moscia", "inbound", 1),
        ("casini", "inbound", 3),
        ("scopeti", "inbound", 2),
        ("ponte_torrente_rufina", "inbound", 4),
        ("selvapiana", "outbound", 5),
        ("ss67_selvapiana_out", None, 1),
        ("stentatoio", "outbound", 2),
    ),
}
ORIGINS: Final = ("contea", "selvapiana", "pomino", "falgano", "masseto", "montebonello")
# Local trips seen by context cameras only (school run, sports ground, cemetery, station car park).
LOCAL_CAMERAS: Final = (
    "scuole",
    "impianti_sportivi",
    "poggio_reale",
    "stazione",
    "cimitero",
    "municipio",
    "centro_raccolta",
)

_LETTERS: Final = "ABCDEFGHJKLMNPRSTVWXYZ"  # Italian plates: no I, O, Q, U
_CONFUSABLE: Final = {
    "0": "O",
    "1": "I",
    "8": "B",
    "5": "S",
    "2": "Z",
    "6": "G",
    "B": "8",
    "D": "0",
}
_CLASSES: Final = (("car", 0.84), ("truck", 0.06), ("motorcycle", 0.06), ("bus", 0.04))


@dataclass(frozen=True, slots=True)
class TransitRecord:
    """One stored transit: ``plate`` as stored (read), ``true_plate`` as on the vehicle."""

    id: str
    event_id: str
    station_id: str
    time: datetime
    vehicle: str
    direction: str | None
    plate: str
    true_plate: str


@dataclass(frozen=True, slots=True)
class PassageRecord:
    event_id: str
    station_id: str
    time: datetime
    vehicle: str
    direction: str | None
    status: str
    transit_id: str | None


@dataclass(slots=True)
class TrafficDay:
    """The generated day and its ground truth."""

    day: date
    tz: ZoneInfo
    registry: Registry
    transits: list[TransitRecord] = field(default_factory=list)
    passages: list[PassageRecord] = field(default_factory=list)
    kinds: dict[str, str] = field(default_factory=dict)  # true plate -> commuter, visitor, ...
    misreads: dict[str, str] = field(default_factory=dict)  # transit id -> true plate
    loiterer: str = ""
    night_pomino_rufina: tuple[str, ...] = ()
    hotlisted: dict[str, str] = field(default_factory=dict)  # true plate -> list kind

    @property
    def start(self) -> datetime:
        return datetime.combine(self.day, time(0), self.tz)

    @property
    def end(self) -> datetime:
        return datetime.combine(self.day + timedelta(days=1), time(0), self.tz)

    def at(self, hour: int, minute: int = 0) -> datetime:
        return datetime.combine(self.day, time(hour, minute), self.tz)


class _Builder:
    def __init__(self, seed: int, day: date, registry: Registry) -> None:
        self.rng = random.Random(seed)
        self.out = TrafficDay(day=day, tz=ROME, registry=registry)
        self.registry = registry
        self.used: set[str] = set()
        self.misread_rate = 0.02
        self._serial = 0

    # ------------------------------------------------------------------ plates
    def plate(self, vehicle: str = "car") -> str:
        while True:
            letters = lambda n: "".join(self.rng.choice(_LETTERS) for _ in range(n))  # noqa: E731
            if vehicle == "motorcycle":
                plate = letters(2) + f"{self.rng.randrange(100000):05d}"
            elif self.rng.random() < 0.03:  # a foreign car (German-like), kept as read
                plate = letters(3) + letters(2) + f"{self.rng.randrange(1, 9999)}"
            else:
                plate = letters(2) + f"{self.rng.randrange(1000):03d}" + letters(2)
            if plate not in self.used:
                self.used.add(plate)
                return plate

    def misread(self, plate: str) -> str | None:
        """An OCR-confusable misread of one character, or None when the plate has none."""
        spots = [i for i, ch in enumerate(plate) if ch in _CONFUSABLE]
        if not spots:
            return None
        index = self.rng.choice(spots)
        return plate[:index] + _CONFUSABLE[plate[index]] + plate[index + 1 :]

    def vehicle_class(self) -> str:
        roll, total = self.rng.random(), 0.0
        for name, share in _CLASSES:
            total += share
            if roll < total:
                return name
        return "car"

    # ------------------------------------------------------------------ events
    def event_id(self, moment: datetime) -> str:
        self._serial += 1
        return f"{moment.timestamp():.6f}-g{self._serial:06d}"

    def trip(
        self,
        plate: str,
        vehicle: str,
        route: str,
        depart: datetime,
        *,
        misread_ok: bool = True,
        unread_ok: bool = True,
    ) -> datetime:
        """Drive a route; returns the arrival time."""
        moment = depart
        for station_id, direction, minutes in ROUTES[route]:
            moment += timedelta(minutes=minutes, seconds=self.rng.randrange(0, 50))
            self.pass_station(
                station_id,
                plate,
                vehicle,
                direction,
                moment,
                misread_ok=misread_ok,
                unread_ok=unread_ok,
            )
        return moment

    def pass_station(
        self,
        station_id: str,
        plate: str,
        vehicle: str,
        direction: str | None,
        moment: datetime,
        *,
        misread_ok: bool = True,
        unread_ok: bool = True,
    ) -> None:
        station = self.registry.by_id(station_id)
        assert station is not None, station_id
        event_id = self.event_id(moment)
        utc = moment.astimezone(UTC)
        if not station.reads_plates:
            self.out.passages.append(
                PassageRecord(event_id, station_id, utc, vehicle, direction, PASSAGE_COUNTED, None)
            )
            return
        lpr_direction = station.direction
        if unread_ok and self.rng.random() < 0.03:
            self.out.passages.append(
                PassageRecord(
                    event_id, station_id, utc, vehicle, lpr_direction, PASSAGE_UNREAD, None
                )
            )
            return
        stored = plate
        if misread_ok and self.rng.random() < self.misread_rate:
            stored = self.misread(plate) or plate
        record = TransitRecord(
            transit_id(station_id, event_id),
            event_id,
            station_id,
            utc,
            vehicle,
            lpr_direction,
            stored,
            plate,
        )
        if stored != plate:
            self.out.misreads[record.id] = plate
        self.out.transits.append(record)
        self.out.passages.append(
            PassageRecord(
                event_id, station_id, utc, vehicle, lpr_direction, PASSAGE_READ, record.id
            )
        )

    def moment(self, hour: float, spread_minutes: float) -> datetime:
        """A local time around ``hour`` (gaussian), clamped inside the day."""
        minutes = self.rng.gauss(hour * 60, spread_minutes)
        minutes = min(max(minutes, 5), 24 * 60 - 90)
        return self.out.start + timedelta(minutes=minutes)

    def daytime(self) -> datetime:
        """A daytime departure: two peaks (morning, late afternoon) over a flat 07-20 base."""
        roll = self.rng.random()
        if roll < 0.3:
            return self.moment(8, 50)
        if roll < 0.6:
            return self.moment(17.5, 70)
        return self.out.at(7) + timedelta(minutes=self.rng.uniform(0, 13 * 60))

    # ------------------------------------------------------------------ populations
    def build(self, scale: float) -> TrafficDay:
        n = lambda count: max(1, round(count * scale))  # noqa: E731
        for _ in range(n(500)):  # commuters from the frazioni to the centre and back
            vehicle = self.vehicle_class() if self.rng.random() < 0.5 else "car"
            plate = self.plate(vehicle)
            self.out.kinds[plate] = "commuter"
            home = self.rng.choice(ORIGINS)
            arrive = self.trip(plate, vehicle, f"{home}_in", self.moment(7.5, 35))
            back = max(arrive + timedelta(hours=6), self.moment(17.5, 45))
            self.trip(plate, vehicle, f"{home}_out", back)
        for _ in range(n(150)):  # commuters living in the centre, working outside
            plate = self.plate()
            self.out.kinds[plate] = "commuter_out"
            work = self.rng.choice(ORIGINS)
            arrive = self.trip(plate, "car", f"{work}_out", self.moment(7.2, 30))
            back = max(arrive + timedelta(hours=7), self.moment(18, 40))
            self.trip(plate, "car", f"{work}_in", back)
        for _ in range(n(900)):  # visitors: one round trip
            vehicle = self.vehicle_class()
            plate = self.plate(vehicle)
            self.out.kinds[plate] = "visitor"
            origin = self.rng.choice(ORIGINS)
            arrive = self.trip(plate, vehicle, f"{origin}_in", self.daytime())
            dwell = timedelta(minutes=self.rng.uniform(20, 180))
            self.trip(plate, vehicle, f"{origin}_out", arrive + dwell)
        for _ in range(n(600)):  # through traffic on the SS67
            vehicle = self.vehicle_class()
            plate = self.plate(vehicle)
            self.out.kinds[plate] = "through"
            route = self.rng.choice(("ss67_north", "ss67_south"))
            self.trip(plate, vehicle, route, self.daytime())
        for _ in range(n(25)):  # delivery vans: several rounds (repeated visitors)
            plate = self.plate("truck")
            self.out.kinds[plate] = "delivery"
            moment = self.out.at(6, 30) + timedelta(minutes=self.rng.uniform(0, 60))
            for _round in range(self.rng.randrange(3, 6)):
                origin = self.rng.choice(ORIGINS)
                arrive = self.trip(plate, "truck", f"{origin}_in", moment)
                moment = self.trip(
                    plate, "truck", f"{origin}_out", arrive + timedelta(minutes=15)
                ) + timedelta(minutes=self.rng.uniform(20, 60))
        for _ in range(n(60)):  # night traffic, 00:00-05:00 (never the scripted Pomino case)
            plate = self.plate()
            self.out.kinds[plate] = "night"
            origin = self.rng.choice(("contea", "selvapiana", "falgano", "masseto"))
            depart = self.out.start + timedelta(minutes=self.rng.uniform(5, 300))
            self.trip(plate, "car", f"{origin}_in", depart)
        self.scripted()
        for _ in range(n(2500)):  # local trips seen by context cameras only
            camera = self.rng.choice(LOCAL_CAMERAS)
            station = self.registry.by_id(camera)
            assert station is not None
            direction: str | None = self.rng.choice(("inbound", "outbound"))
            if station.direction != "both":
                direction = None
            self.pass_station(camera, "", self.vehicle_class(), direction, self.daytime())
        self.out.transits.sort(key=lambda t: (t.time, t.id))
        self.out.passages.sort(key=lambda p: (p.time, p.event_id))
        return self.out

    def scripted(self) -> None:
        out = self.out
        # Two vehicles from Pomino reach Rufina between 02:00 and 04:00, a third one too late.
        night = []
        for depart in (out.at(2, 10), out.at(3, 5)):
            plate = self.plate()
            self.trip(plate, "car", "pomino_in", depart, misread_ok=False, unread_ok=False)
            night.append(plate)
        out.night_pomino_rufina = tuple(night)
        late = self.plate()
        self.trip(late, "car", "pomino_in", out.at(3, 50), misread_ok=False, unread_ok=False)
        for plate in (*night, late):
            out.kinds[plate] = "night_pomino"
        # The loiterer: via Roma, in and out, eight times between 01:00 and 03:30.
        out.loiterer = self.plate()
        out.kinds[out.loiterer] = "loiterer"
        moment = out.at(1)
        for lap in range(8):
            station = "via_roma_in" if lap % 2 == 0 else "via_roma_out"
            self.pass_station(
                station, out.loiterer, "car", None, moment, misread_ok=False, unread_ok=False
            )
            moment += timedelta(minutes=self.rng.uniform(12, 20))
        # Plates for the hotlists: a stolen car (misread once), an uninsured van, a watched car.
        stolen, uninsured, watched = self.plate(), self.plate("truck"), self.plate()
        while self.misread(stolen) is None:
            stolen = self.plate()
        out.hotlisted = {stolen: "stolen", uninsured: "uninsured", watched: "watch"}
        for plate in out.hotlisted:
            out.kinds[plate] = "hotlisted"
        self.trip(stolen, "car", "contea_in", out.at(10, 12), misread_ok=False, unread_ok=False)
        self.misread_rate, saved = 1.0, self.misread_rate
        self.trip(stolen, "car", "contea_out", out.at(11, 40), unread_ok=False)
        self.misread_rate = saved
        self.trip(uninsured, "truck", "falgano_in", out.at(9, 5), misread_ok=False, unread_ok=False)
        self.trip(watched, "car", "pomino_out", out.at(21, 30), misread_ok=False, unread_ok=False)


def generate_day(
    seed: int = 6, day: date = DEFAULT_DAY, *, scale: float = 1.0, registry: Registry | None = None
) -> TrafficDay:
    """One day of traffic; ``scale`` multiplies the population sizes (1.0: about 9,000 transits)."""
    registry = registry or load_registry(default_registry_path())
    return _Builder(seed, day, registry).build(scale)


def insert_day(store: Store, traffic: TrafficDay, *, with_crops: bool = True) -> None:
    """Bulk-insert the day's transits (with one read and a crop each) and passages."""
    now = datetime.now(UTC)
    transit_rows = [
        {
            "id": t.id,
            "event_id": t.event_id,
            "station_id": t.station_id,
            "camera": t.station_id,
            "time": t.time,
            "vehicle": t.vehicle,
            "plate": t.plate,
            "display": t.plate,
            "country": "IT",
            "format": "car",
            "confidence": 0.93,
            "low_confidence": False,
            "read_count": 1,
            "alternatives": [[t.plate, 0.93]],
            "direction": t.direction,
            "frigate_plate": None,
            "hotlist": None,
            "worker": store.worker,
            "created_at": now,
            "published_at": now,
        }
        for t in traffic.transits
    ]
    read_rows = [
        {
            "transit_id": t.id,
            "text": t.plate,
            "confidence": 0.93,
            "region": "Italy",
            "source": "ocr",
            "frame_time": t.time.timestamp(),
        }
        for t in traffic.transits
    ]
    passage_rows = [
        {
            "event_id": p.event_id,
            "station_id": p.station_id,
            "camera": p.station_id,
            "time": p.time,
            "vehicle": p.vehicle,
            "direction": p.direction,
            "status": p.status,
            "reason": "no plate read" if p.status == PASSAGE_UNREAD else None,
            "transit_id": p.transit_id,
        }
        for p in traffic.passages
    ]
    with store.engine.begin() as connection:
        for table, rows in ((transits, transit_rows), (reads, read_rows), (passages, passage_rows)):
            for chunk in range(0, len(rows), 5000):
                connection.execute(table.insert(), rows[chunk : chunk + 5000])
        if with_crops:
            crop_rows = [{"transit_id": t.id, "jpeg": CROP} for t in traffic.transits]
            for chunk in range(0, len(crop_rows), 5000):
                connection.execute(crops.insert(), crop_rows[chunk : chunk + 5000])


@contextmanager
def store_on(backend: str, folder: Path, server_url: str | None) -> Iterator[Store]:
    """An empty store: a SQLite file in ``folder``, or a database of its own on ``server_url``
    (the test PostgreSQL server), dropped afterwards."""
    if backend == "sqlite":
        store = Store(f"sqlite:///{folder / 'traffic.db'}", worker="traffic/test")
        yield store
        store.close()
        return
    assert server_url is not None
    name = f"traffic_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f"CREATE DATABASE {name}"))
    store = Store(server_url.rsplit("/", 1)[0] + f"/{name}", worker="traffic/test")
    try:
        yield store
    finally:
        store.close()
        with admin.connect() as connection:
            connection.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()
