"""The store on SQLite and a real PostgreSQL: schema versions, transits, outbox, passages; the
database thread (`Database`)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import OperationalError

from rufina_alpr.metrics import Metrics
from rufina_alpr.privacy import Audit
from rufina_alpr.reads import PlateRead
from rufina_alpr.store import (
    PASSAGE_COUNTED,
    PASSAGE_UNREAD,
    SCHEMA_VERSION,
    SIGNING_KEY,
    Database,
    Store,
    StoreError,
    audit_log,
    crops,
    engine_meta,
    metadata,
    passages,
    reads,
    schema_version,
    transits,
)
from rufina_alpr.transits import Transit

from .factories import a_transit

ROME = ZoneInfo("Europe/Rome")
NOON = datetime(2025, 7, 24, 12, 0, tzinfo=ROME)
CROP = b"\xff\xd8\xff\xe0fake-jpeg-for-the-store\xff\xd9"


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database: a SQLite file, or a fresh database on the test PostgreSQL server."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'data' / 'rufina_alpr.db'}"
        return
    yield request.getfixturevalue("fresh_postgres_url")


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    opened = Store(store_url, worker="rufina/worker-1")
    yield opened
    opened.close()


def make_transit(
    event_id: str,
    *,
    station: str = "st_pomino",
    moment: datetime = NOON,
    plate: str = "AB123CD",
    crop: bytes | None = CROP,
    frigate_plate: str | None = None,
) -> Transit:
    return a_transit(
        f"cam_{station}", event_id, moment, plate, station=station, display="AB 123 CD",
        confidence=0.93, read_count=3, alternatives=(("AB128CD", 0.41), ("A8123CD", 0.2)),
        direction="inbound", frigate_plate=frigate_plate, crop_jpeg=crop,
    )  # fmt: skip


READS = [
    PlateRead(text="AB123CD", char_confidences=(0.9,) * 7, region="Italy", frame_time=1.0),
    PlateRead(text="AB128CD", char_confidences=(0.6,) * 7, source="frigate"),
]


def add_passage(store: Store, event_id: str, status: str, **kwargs: object) -> bool:
    values: dict[str, object] = {
        "event_id": event_id,
        "station_id": "st_piazza",
        "camera": "cam_piazza",
        "time": NOON,
        "vehicle": "car",
        "direction": None,
        "status": status,
    }
    values.update(kwargs)
    return store.add_passage(**values)  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- schema
def test_new_database_is_migrated_once(store: Store, store_url: str) -> None:
    assert store.migrate() == SCHEMA_VERSION
    again = Store(store_url, worker="rufina/worker-2")
    with again.engine.connect() as connection:
        versions = connection.execute(sa.select(schema_version.c.version)).scalars().all()
        tables = set(sa.inspect(connection).get_table_names())
    again.close()
    assert versions == list(range(1, SCHEMA_VERSION + 1))
    assert {"transits", "crops", "reads", "passages", "schema_version"} <= tables


def test_database_from_a_newer_engine_is_refused(store: Store, store_url: str) -> None:
    with store.engine.begin() as connection:
        connection.execute(
            schema_version.insert().values(version=SCHEMA_VERSION + 1, applied_at=datetime.now(UTC))
        )
    with pytest.raises(StoreError, match=rf"schema v{SCHEMA_VERSION + 1} is newer"):
        Store(store_url, worker="rufina/old-engine")


def test_sqlite_runs_in_wal_mode(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'nested' / 'db.sqlite'}", worker="w")
    with store.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    store.close()


def test_unreachable_database_is_a_store_error_without_the_password() -> None:
    with pytest.raises(StoreError) as caught:
        Store("postgresql+psycopg://rufina:s3cret@127.0.0.1:1/rufina", worker="w")
    assert "cannot open the store" in str(caught.value)
    assert "s3cret" not in str(caught.value)


# ----------------------------------------------------------------------------- transits
def test_transit_round_trip_with_crop_and_reads(store: Store) -> None:
    transit = make_transit("1753373411.482137-k3v9qa", frigate_plate="AB123CD")
    assert store.add_transit(transit, READS)
    stored = store.transit(transit.id)
    assert stored == transit  # times compare as instants: stored in UTC
    assert stored is not None and stored.time.tzinfo is not None
    assert stored.time == NOON and stored.time.utcoffset() == timedelta(0)
    assert stored.crop_jpeg == CROP
    assert stored.alternatives == (("AB128CD", 0.41), ("A8123CD", 0.2))
    listed = store.transits()
    assert [t.id for t in listed] == [transit.id]
    assert listed[0].crop_jpeg is None, "lists do not load crops"
    assert store.transit("no-such-id") is None
    with store.engine.connect() as connection:
        texts = connection.execute(sa.text("SELECT text, source FROM reads ORDER BY id")).all()
    assert [tuple(row) for row in texts] == [("AB123CD", "engine"), ("AB128CD", "frigate")]


def test_same_event_stored_once(store: Store) -> None:
    transit = make_transit("1753373411.482137-k3v9qa")
    assert store.add_transit(transit, READS)
    assert not store.add_transit(transit, READS), "redelivered end"
    other_id = Transit(**{**_fields(transit), "id": str(uuid.uuid4())})
    assert not store.add_transit(other_id, READS), "another worker, same Frigate event"
    assert store.count_transits() == 1
    assert store.passage_counts().read == 1
    with store.engine.connect() as connection:
        assert connection.scalar(sa.text("SELECT count(*) FROM reads")) == len(READS)
        assert connection.scalar(sa.text("SELECT count(*) FROM crops")) == 1


def test_an_event_id_on_another_camera_is_another_event(store: Store) -> None:
    """A message reusing a real event's id on a context camera, stored first, must not make the
    real event look handled, nor take its transit's key."""
    event = "1753373411.482137-k3v9qa"
    assert add_passage(store, event, PASSAGE_COUNTED, camera="cam_piazza")
    assert not store.event_handled("cam_st_pomino", event)
    real = make_transit(event)
    assert store.add_transit(real, READS)
    assert not store.add_transit(real, READS), "its redelivery"
    stored = store.transit(real.id)
    assert stored is not None and (stored.camera, stored.plate) == ("cam_st_pomino", "AB123CD")
    counts = store.passage_counts()
    assert (counts.read, counts.counted) == (1, 1)


def _v2_database(url: str) -> None:
    """A database as engines before v3 made it: passages keyed by event id alone, transits
    unique by event id; one transit with its crop, reads and passage, and a counted passage."""
    old = sa.MetaData()

    def keyed_as_before(table: sa.Table, key: str, unique: str | None) -> None:
        columns = [
            sa.Column(
                column.name,
                column.type,
                primary_key=column.name == key,
                nullable=column.nullable,
                unique=column.name == unique or None,
            )
            for column in table.columns
        ]
        before = sa.Table(table.name, old, *columns)
        for index in table.indexes:
            sa.Index(index.name, *(before.c[column.name] for column in index.columns))

    keyed_as_before(transits, "id", "event_id")
    keyed_as_before(passages, "event_id", None)
    for table in metadata.sorted_tables:
        if table.name not in ("transits", "passages"):
            table.to_metadata(old)
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        old.create_all(connection)
        for version in (1, 2):
            connection.execute(
                schema_version.insert().values(version=version, applied_at=datetime.now(UTC))
            )
        transit = make_transit("e-before")
        row = {**_fields(transit), "id": "transit-of-v2", "published_at": None}
        row.pop("crop_jpeg")
        row.update(
            alternatives=[list(pair) for pair in transit.alternatives],
            worker="rufina/worker-1",
            created_at=NOON,
        )
        connection.execute(old.tables["transits"].insert().values(row))
        connection.execute(crops.insert().values(transit_id="transit-of-v2", jpeg=CROP))
        connection.execute(
            reads.insert().values(
                transit_id="transit-of-v2", text="AB123CD", confidence=0.9, source="engine"
            )
        )
        for event, camera, status, transit_ref in (
            ("e-before", "cam_st_pomino", "read", "transit-of-v2"),
            ("e-counted", "cam_piazza", "counted", None),
        ):
            connection.execute(
                old.tables["passages"]
                .insert()
                .values(
                    event_id=event,
                    station_id="st_x",
                    camera=camera,
                    time=NOON,
                    vehicle="car",
                    status=status,
                    transit_id=transit_ref,
                )
            )
    engine.dispose()


def test_v2_database_is_keyed_by_camera_keeping_its_rows(store_url: str) -> None:
    _v2_database(store_url)
    store = Store(store_url, worker="rufina/worker-1")
    try:
        old = store.transit("transit-of-v2")
        assert old is not None and old.crop_jpeg == CROP and old.plate == "AB123CD"
        assert store.event_handled("cam_st_pomino", "e-before"), "a redelivery still recognised"
        assert store.event_handled("cam_piazza", "e-counted")
        counts = store.passage_counts()
        assert (counts.read, counts.counted) == (1, 1)
        # The new key: the same id on another camera is another event.
        assert add_passage(store, "e-before", PASSAGE_COUNTED, camera="cam_roma")
        assert store.add_transit(make_transit("e-counted", station="st_pomino"), READS)
        assert not add_passage(store, "e-counted", PASSAGE_COUNTED, camera="cam_piazza")
        with store.engine.begin() as connection:
            versions = connection.execute(sa.select(schema_version.c.version)).scalars().all()
            assert versions == list(range(1, SCHEMA_VERSION + 1))
            indexes = {index["name"] for index in sa.inspect(connection).get_indexes("passages")}
            assert {
                "ix_passages_station_time",
                "ix_passages_time",
                "ix_passages_transit",
            } <= indexes
            # Foreign keys hold again: a transit's deletion takes its crop and reads with it.
            connection.execute(transits.delete().where(transits.c.id == "transit-of-v2"))
            assert connection.scalar(sa.text("SELECT count(*) FROM crops")) == 1
            assert (
                connection.scalar(
                    sa.text("SELECT count(*) FROM reads WHERE transit_id = 'transit-of-v2'")
                )
                == 0
            )
    finally:
        store.close()


def _v4_database(url: str) -> None:
    """A database as engines before v5 made it: an audit log without `acting_user`, one entry."""
    old = sa.MetaData()
    for table in metadata.sorted_tables:
        if table is not audit_log:
            table.to_metadata(old)
    before = sa.Table(
        audit_log.name,
        old,
        *(
            sa.Column(c.name, c.type, primary_key=c.primary_key, nullable=c.nullable)
            for c in audit_log.columns
            if c.name != "acting_user"
        ),
    )
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        old.create_all(connection)
        for version in range(1, 5):
            connection.execute(
                schema_version.insert().values(version=version, applied_at=datetime.now(UTC))
            )
        connection.execute(engine_meta.insert().values(key=SIGNING_KEY, value="ab" * 32))
        connection.execute(
            before.insert().values(
                time=NOON, actor="agente.rossi", role="operator", action="search", query={}
            )
        )
    engine.dispose()


def test_v4_audit_log_gets_the_acting_user_keeping_its_entries(store_url: str) -> None:
    _v4_database(store_url)
    store = Store(store_url, worker="rufina/worker-1")
    try:
        log = Audit(store)
        log.record(
            "home-assistant", "operator", "search", {}, acting_user="Comandante Bianchi", now=NOON
        )
        assert [(e.actor, e.acting_user) for e in log.entries()] == [
            ("home-assistant", "Comandante Bianchi"),
            ("agente.rossi", None),
        ]
        assert [e.actor for e in log.entries(actor="bianchi")] == ["home-assistant"]
        assert store.signing_key() == "ab" * 32, "the v4 key is kept"
        with store.engine.connect() as connection:
            versions = connection.execute(sa.select(schema_version.c.version)).scalars().all()
        assert versions == list(range(1, SCHEMA_VERSION + 1))
    finally:
        store.close()


def test_transit_without_crop_or_reads(store: Store) -> None:
    transit = make_transit("e-nocrop", crop=None)
    assert store.add_transit(transit, [])
    stored = store.transit(transit.id)
    assert stored is not None and stored.crop_jpeg is None


def test_long_frigate_plate_does_not_fail_the_insert(store: Store) -> None:
    """Frigate accepts plates of up to 100 characters through its API; keep what fits."""
    transit = make_transit("e-long", frigate_plate="X" * 40)
    assert store.add_transit(transit, [PlateRead(text="Y" * 30, char_confidences=(0.5,) * 30)])
    stored = store.transit(transit.id)
    assert stored is not None and stored.frigate_plate == "X" * 16


# ----------------------------------------------------------------------------- outbox
def test_outbox_is_per_worker_oldest_first(store: Store, store_url: str) -> None:
    first, second = make_transit("e-1"), make_transit("e-2", moment=NOON - timedelta(hours=1))
    assert store.add_transit(first, [])
    assert store.add_transit(second, [])
    other = Store(store_url, worker="rufina/worker-2")
    assert other.add_transit(make_transit("e-3"), [])
    # Creation order, not event time; each worker publishes only its own.
    assert [t.id for t in store.unpublished()] == [first.id, second.id]
    assert store.unpublished()[0].crop_jpeg == CROP, "republished with its crop"
    assert [t.event_id for t in other.unpublished()] == ["e-3"]
    assert [t.id for t in store.unpublished(limit=1)] == [first.id]
    store.mark_published(first.id)
    assert [t.id for t in store.unpublished()] == [second.id]
    store.mark_published(second.id)
    store.mark_published(second.id)  # a repeated acknowledgement is harmless
    assert store.unpublished() == []
    assert len(other.unpublished()) == 1
    other.close()


def test_outbox_survives_reopening(store_url: str) -> None:
    before = Store(store_url, worker="rufina/worker-1")
    assert before.add_transit(make_transit("e-crash"), READS)
    before.close()
    after = Store(store_url, worker="rufina/worker-1")
    assert [t.event_id for t in after.unpublished()] == ["e-crash"]
    after.close()


# ----------------------------------------------------------------------------- passages, counts
def test_passages_and_counts(store: Store) -> None:
    assert add_passage(store, "e-unread", PASSAGE_UNREAD, reason="image: " + "x" * 300)
    assert not add_passage(store, "e-unread", PASSAGE_UNREAD), "handled once"
    assert add_passage(store, "e-count-1", PASSAGE_COUNTED)
    assert add_passage(store, "e-count-2", PASSAGE_COUNTED, vehicle="bus")
    assert add_passage(store, "e-old", PASSAGE_COUNTED, time=NOON - timedelta(days=2))
    assert store.add_transit(make_transit("e-read"), [])
    assert store.add_transit(make_transit("e-roma", station="st_roma"), [])
    assert store.event_handled("cam_piazza", "e-unread")
    assert store.event_handled("cam_st_pomino", "e-read")
    assert not store.event_handled("cam_piazza", "e-never")
    assert not store.event_handled("cam_piazza", "e-read"), "another camera's event"
    counts = store.passage_counts()
    assert (counts.read, counts.unread, counts.counted) == (2, 1, 3)
    since = NOON - timedelta(hours=1)
    assert store.station_counts(since) == {
        "st_piazza": {"car": 2, "bus": 1},
        "st_pomino": {"car": 1},
        "st_roma": {"car": 1},
    }
    assert store.transits_per_station(since) == {"st_pomino": 1, "st_roma": 1}
    assert store.count_transits(since=since) == 2
    assert store.count_transits(since=NOON + timedelta(minutes=1)) == 0
    with store.engine.connect() as connection:
        reason = connection.scalar(
            sa.select(passages.c.reason).where(passages.c.event_id == "e-unread")
        )
    assert reason is not None and len(reason) == 200


def test_time_filters_compare_instants_across_zones(store: Store) -> None:
    """12:00 in Rome is 10:00 UTC in summer: a UTC bound of 10:30 excludes it."""
    assert store.add_transit(make_transit("e-noon"), [])
    assert store.count_transits(since=datetime(2025, 7, 24, 9, 30, tzinfo=UTC)) == 1
    assert store.count_transits(since=datetime(2025, 7, 24, 10, 30, tzinfo=UTC)) == 0


def test_newest_transits_first_with_limit(store: Store) -> None:
    for hour in range(5):
        moment = NOON + timedelta(hours=hour)
        assert store.add_transit(make_transit(f"e-{hour}", moment=moment), [])
    assert [t.event_id for t in store.transits(limit=3)] == ["e-4", "e-3", "e-2"]


def _fields(transit: Transit) -> dict[str, object]:
    return {name: getattr(transit, name) for name in Transit.__dataclass_fields__}


# --------------------------------------------------------------------------- the database thread
@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    opened = Store(f"sqlite:///{tmp_path / 'rufina_alpr.db'}", worker="rufina/worker-1")
    yield opened
    opened.close()


async def test_database_runs_every_call_on_one_store_thread(sqlite_store: Store) -> None:
    database = Database(sqlite_store, metrics=Metrics())
    assert database.store is sqlite_store
    names = {await database.run(lambda: threading.current_thread().name) for _ in range(5)}
    names.add(await database.write(lambda: threading.current_thread().name))
    assert len(names) == 1
    assert next(iter(names)).startswith("store")
    assert next(iter(names)) != threading.current_thread().name
    assert await database.run(sqlite_store.count_transits) == 0
    await database.close()


async def test_a_failed_write_is_a_store_error_counted_and_reported(sqlite_store: Store) -> None:
    metrics = Metrics()
    failures: list[str] = []
    successes: list[None] = []
    database = Database(
        sqlite_store,
        metrics=metrics,
        on_failure=failures.append,
        on_success=lambda: successes.append(None),
    )

    def full_disk() -> None:
        raise OperationalError("INSERT INTO transits", {}, Exception("database or disk is full"))

    with pytest.raises(StoreError, match="OperationalError") as raised:
        await database.write(full_disk)
    assert isinstance(raised.value.__cause__, OperationalError)
    assert failures == ["OperationalError"]
    assert metrics.snapshot()["store_failures"] == 1
    assert not successes
    with pytest.raises(ZeroDivisionError):  # a bug of ours is no store failure
        await database.write(lambda: 1 / 0)
    assert failures == ["OperationalError"]
    await database.close()


async def test_a_write_that_succeeds_is_reported_and_a_read_is_not(sqlite_store: Store) -> None:
    metrics = Metrics()
    successes: list[None] = []
    database = Database(sqlite_store, metrics=metrics, on_success=lambda: successes.append(None))
    stored = await database.write(sqlite_store.add_transit, make_transit("ev-db"), [])
    assert stored is True
    assert len(successes) == 1
    assert await database.write(sqlite_store.count_transits, writes=False) == 1
    assert len(successes) == 1
    assert metrics.snapshot()["store_failures"] == 0
    await database.close()


async def test_closing_closes_the_store_and_ends_the_thread(sqlite_store: Store) -> None:
    closed: list[str] = []
    real_close = sqlite_store.close

    def close() -> None:
        closed.append(threading.current_thread().name)
        real_close()

    sqlite_store.close = close  # type: ignore[method-assign]
    database = Database(sqlite_store, metrics=Metrics())
    await database.close()
    assert len(closed) == 1
    assert closed[0].startswith("store")
    with pytest.raises(RuntimeError):  # the thread is gone
        await database.run(sqlite_store.count_transits)
