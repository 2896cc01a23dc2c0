"""The MQTT contract: payload builders produce what the JSON Schemas accept, and only that."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast
from zoneinfo import ZoneInfo

import jsonschema
import pytest
from aiohttp.test_utils import TestClient, TestServer

from rufina_alpr import __version__, contract
from rufina_alpr.api.app import create_app
from rufina_alpr.config import settings_from_mapping
from rufina_alpr.engine.app import Engine
from rufina_alpr.stations import load_registry
from rufina_alpr.store import Store
from rufina_alpr.transits import Transit, transit_id

from .conftest import TEST_STATIONS

REGISTRY = Path(__file__).resolve().parents[2] / "frigate_config" / "stations.yaml"
NOON = datetime(2025, 7, 24, 12, 0, 5, 123456, tzinfo=ZoneInfo("Europe/Rome"))


def transit(**changes: Any) -> Transit:
    values: dict[str, Any] = {
        "id": transit_id("cam_pomino", "1753373411.482137-k3v9qa"),
        "event_id": "1753373411.482137-k3v9qa",
        "station_id": "st_pomino",
        "camera": "cam_pomino",
        "time": NOON,
        "vehicle": "car",
        "plate": "AB123CD",
        "display": "AB 123 CD",
        "country": "IT",
        "format": "it_car",
        "confidence": 0.912345,
        "low_confidence": False,
        "read_count": 4,
        "alternatives": (("AB128CD", 0.3333333),),
        "direction": "inbound",
        "frigate_plate": "AB123CD",
        "crop_jpeg": b"\xff\xd8\xff\xd9",
    }
    values.update(changes)
    return Transit(**values)


def rejected(kind: contract.PayloadKind, payload: dict[str, Any]) -> str:
    with pytest.raises(jsonschema.ValidationError) as caught:
        contract.validate(kind, payload)
    return caught.value.message + " at " + caught.value.json_path


# ----------------------------------------------------------------------------- builders
def test_transit_payload_is_valid_and_complete() -> None:
    payload = contract.transit_payload(transit(), "Pomino")
    contract.validate("transit", payload)
    assert payload["v"] == contract.CONTRACT_VERSION
    assert payload["time"] == "2025-07-24T12:00:05.123+02:00"
    assert payload["station"] == "st_pomino" and payload["station_name"] == "Pomino"
    assert payload["confidence"] == 0.9123
    assert payload["alternatives"] == [{"plate": "AB128CD", "score": 0.3333}]
    assert payload["has_crop"] is True
    assert payload["reads"] == 4
    # Every required key of the schema is produced by the builder.
    assert set(contract.schema("transit")["required"]) <= set(payload)


def test_transit_payload_minimal_and_foreign() -> None:
    payload = contract.transit_payload(
        transit(
            plate="BA302OZ",
            display="BA302OZ",
            country=None,
            format=None,
            low_confidence=True,
            alternatives=(),
            direction=None,
            frigate_plate=None,
            crop_jpeg=None,
            time=NOON.astimezone(UTC),
        )
    )
    contract.validate("transit", payload)
    assert payload["station_name"] == "st_pomino", "falls back to the station id"
    assert payload["has_crop"] is False
    assert payload["time"].endswith("+00:00")


def test_naive_time_is_refused_by_the_builder() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        contract.transit_payload(transit(time=NOON.replace(tzinfo=None)))


@pytest.mark.parametrize("state", ["online", "offline"])
def test_status_payload(state: str) -> None:
    payload = contract.status_payload(
        state=state,  # type: ignore[arg-type]
        instance="rufina",
        api_url="http://engine.lan:8787",
        since=NOON,
    )
    contract.validate("status", payload)
    assert payload["engine_version"] == __version__
    assert payload["contract_version"] == contract.CONTRACT_VERSION
    no_since = contract.status_payload(state="online", instance="rufina", api_url=None, since=None)
    contract.validate("status", no_since)


def test_stations_payload_for_the_test_stations_and_the_town_registry() -> None:
    contract.validate("stations", contract.stations_payload(TEST_STATIONS))
    registry = load_registry(REGISTRY)
    payload = contract.stations_payload(registry.stations)
    contract.validate("stations", payload)
    assert len(payload["stations"]) == 34
    assert all(entry["latitude"] is not None for entry in payload["stations"])


async def test_stats_payload_of_an_engine(tmp_path: Path) -> None:
    settings = settings_from_mapping(
        {
            "data_dir": str(tmp_path),
            "api": {"token": "contract-test-token-0123"},
            "stations": [
                {"id": s.id, "name": s.name, "camera": s.camera, "kind": s.kind}
                for s in TEST_STATIONS
            ],
        }
    )
    # The stats come from the store and the counters; the recognizer is not consulted.
    engine = Engine(settings, cast(Any, None))
    try:
        await engine.db.run(engine.store.add_transit, transit(time=datetime.now(UTC)), [])
        engine.metrics.inc("events_malformed")
        payload = await engine.housekeeping.stats_payload()
    finally:
        await engine.stop(drain_timeout=0)
    contract.validate("stats", payload)
    assert payload["transits_today"] == 1
    assert payload["counters"]["events_malformed"] == 1
    assert set(payload["stations"]) == {s.id for s in TEST_STATIONS}
    assert payload["stations"]["st_pomino"]["vehicles_last_hour"] == 1


def test_hotlist_match_embeds_a_valid_transit() -> None:
    match = {
        "v": 1,
        "transit": contract.transit_payload(transit(), "Pomino"),
        "list": "stolen",
        "entry_plate": "AB123CD",
        "read_plate": "AB123CD",
        "score": 1.0,
        "match": "exact",
        "action": "alert",
        "alert_id": "8e0c1f1e-54a3-5d0b-9a52-0b5d2c7d6a11",
        "status": "confirmed",
        "alert_kind": "hotlist",
    }
    contract.validate("hotlist_match", match)
    withdrawn = {**match, "status": "withdrawn"}
    assert "'withdrawn' is not one of" in rejected("hotlist_match", withdrawn)
    match["transit"]["plate"] = "ab-123"
    assert "'ab-123' does not match" in rejected("hotlist_match", match)


def test_encode_is_compact_utf8() -> None:
    payload = contract.transit_payload(transit(), "Località Pomino")
    wire = contract.encode(payload)
    assert b", " not in wire and b": " not in wire
    assert "Località Pomino".encode() in wire
    assert json.loads(wire) == payload


def test_topics_under_a_prefix() -> None:
    topics = contract.Topics("town")
    assert topics.transit == "town/transit"
    assert topics.status == "town/status"
    assert topics.stations == "town/stations"
    assert topics.stats == "town/stats"
    assert topics.hotlist_match == "town/hotlist_match"
    assert topics.station_last("st_pomino") == "town/st_pomino/last"
    assert topics.station_crop("st_pomino") == "town/st_pomino/crop"
    assert contract.Topics().transit == "rufina_alpr/transit"


# ----------------------------------------------------------------------------- rejections
def _valid_transit() -> dict[str, Any]:
    return contract.transit_payload(transit(), "Pomino")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda p: p.pop("plate"), "'plate' is a required property"),
        (lambda p: p.update(v=2), "1 was expected at $.v"),
        (lambda p: p.update(plate="AB 123 CD"), "does not match '^[A-Z0-9]{1,12}$' at $.plate"),
        (lambda p: p.update(plate=""), "at $.plate"),
        (
            lambda p: p.update(confidence=1.5),
            "1.5 is greater than the maximum of 1 at $.confidence",
        ),
        (lambda p: p.update(reads=0), "0 is less than the minimum of 1 at $.reads"),
        (lambda p: p.update(low_confidence="no"), "'no' is not of type 'boolean'"),
        (lambda p: p.update(station="St Pomino"), "at $.station"),
        (lambda p: p.update(country="ITA"), "at $.country"),
        (lambda p: p.update(time="2025-07-24T12:00:05"), "is not a 'date-time' at $.time"),
        (lambda p: p.update(time="yesterday"), "is not a 'date-time' at $.time"),
        (lambda p: p.update(alternatives=[{"plate": "X"}]), "'score' is a required property"),
        (lambda p: p.update(alternatives=[{"plate": "X", "score": 0.1}] * 11), "$.alternatives"),
        (lambda p: p.update(hotlist="stolen"), "'stolen' is not of type 'object', 'null'"),
    ],
)
def test_invalid_transit_rejected_with_the_field(change: Any, message: str) -> None:
    payload = _valid_transit()
    change(payload)
    assert message in rejected("transit", payload)


@pytest.mark.parametrize(
    ("kind", "payload", "message"),
    [
        (
            "status",
            {
                **contract.status_payload(state="online", instance="r", api_url=None, since=None),
                "state": "maybe",
            },
            "is not one of ['online', 'offline']",
        ),
        ("status", {"v": 1, "state": "online"}, "'engine_version' is a required property"),
        ("stations", {"v": 1, "stations": [{"id": "x"}]}, "'name' is a required property"),
        (
            "stations",
            {"v": 1, "stations": [{"id": "x", "name": "X", "camera": "c", "kind": "ocr"}]},
            "'ocr' is not one of ['lpr', 'context']",
        ),
        (
            "stats",
            {
                "v": 1,
                "time": "2025-07-24T12:00:00+02:00",
                "transits_today": 1,
                "queue": -1,
                "counters": {},
                "stations": {},
            },
            "-1 is less than the minimum of 0 at $.queue",
        ),
    ],
)
def test_other_invalid_payloads(
    kind: contract.PayloadKind, payload: dict[str, Any], message: str
) -> None:
    assert message in rejected(kind, payload)


def test_every_schema_is_a_valid_json_schema() -> None:
    for kind in contract.PAYLOAD_KINDS:
        document = contract.schema(kind)
        jsonschema.validators.validator_for(document).check_schema(document)
        assert document["properties"]["v"]["const"] == contract.CONTRACT_VERSION


# ----------------------------------------------------------------------------- signatures
KEY = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"


def _settings(tmp_path: Path, **extra: Any) -> Any:
    return settings_from_mapping(
        {
            "data_dir": str(tmp_path),
            "api": {
                "token": "contract-test-token-0123",
                "users": [{"name": "ha", "token": "contract-viewer-token-0123", "role": "viewer"}],
            },
            "stations": [
                {"id": s.id, "name": s.name, "camera": s.camera, "kind": s.kind}
                for s in TEST_STATIONS
            ],
            **extra,
        }
    )


def test_signed_payload_verifies_after_the_wire_and_keeps_its_schema() -> None:
    signer = contract.Signer(KEY)
    payload = contract.transit_payload(transit(), "Località Pomino")
    wire = signer.encode(payload)
    received = json.loads(wire)
    assert contract.verify(received, KEY)
    contract.validate("transit", received)
    assert received["kid"] == contract.key_id(KEY) == signer.kid
    assert datetime.fromisoformat(received["sent"]).tzinfo is not None
    assert "sig" not in payload and "sent" not in payload, "the builder's payload is unchanged"
    # A hotlist alert embeds the unsigned transit: one signature covers all of it.
    match = contract.hotlist_match_payload(
        payload,
        alert_id="8e0c1f1e-54a3-5d0b-9a52-0b5d2c7d6a11",
        status="confirmed",
        alert_kind="hotlist",
        list_name=None,
        list_id="stolen",
        entry_plate="AB123CD",
        read_plate="AB123CD",
        score=1.0,
        match="exact",
        action="alert",
        priority=1,
        reason=None,
    )
    alert = json.loads(signer.encode(match))
    contract.validate("hotlist_match", alert)
    assert contract.verify(alert, KEY)
    alert["transit"]["plate"] = "ZZ999ZZ"
    assert not contract.verify(alert, KEY)


@pytest.mark.parametrize(
    "forge",
    [
        lambda p: p.pop("sig"),
        lambda p: p.pop("kid"),
        lambda p: p.update(plate="ZZ999ZZ"),
        lambda p: p.update(time="2099-01-01T00:00:00.000+00:00"),
        lambda p: p.update(sent="2099-01-01T00:00:00.000+00:00"),
        lambda p: p.update(extra_field=1),
        lambda p: p.update(sig="0" * 64),
        lambda p: p.update(sig=None),
        lambda p: p.update(kid=contract.key_id("ff" * 32)),
    ],
)
def test_a_changed_or_unsigned_payload_does_not_verify(forge: Any) -> None:
    received = json.loads(contract.Signer(KEY).encode(_valid_transit()))
    forge(received)
    assert not contract.verify(received, KEY)


def test_another_key_does_not_verify_and_resigning_replaces_the_signature() -> None:
    other = "ff" * 32
    signed = contract.Signer(other).sign(_valid_transit())
    assert not contract.verify(signed, KEY)
    resigned = contract.Signer(KEY).sign(signed, now=NOON)
    assert contract.verify(resigned, KEY)
    assert resigned["sent"] == "2025-07-24T12:00:05.123+02:00"
    assert contract.canonical(resigned) == contract.canonical({**resigned, "sig": "x"})
    assert b" " not in contract.canonical({"b": 1, "a": "Località"})
    assert contract.canonical({"b": 1, "a": "à"}) == b'{"a":"\\u00e0","b":1}'


def test_a_short_key_is_refused() -> None:
    with pytest.raises(ValueError, match="16 bytes"):
        contract.Signer("00" * 8)
    assert len(contract.new_signing_key()) == 64


def test_the_store_keeps_one_key_for_every_worker(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'a.db'}"
    first = Store(url, worker="rufina/1")
    second = Store(url, worker="rufina/2")
    try:
        key = first.signing_key()
        assert len(bytes.fromhex(key)) == 32
        assert second.signing_key() == key
    finally:
        first.close()
        second.close()
    again = Store(url, worker="rufina/1")
    other = Store(f"sqlite:///{tmp_path / 'b.db'}", worker="rufina/1")
    try:
        assert again.signing_key() == key, "kept across restarts"
        assert other.signing_key() != key, "each database its own key"
    finally:
        again.close()
        other.close()


def test_workers_on_one_postgresql_sign_with_one_key(fresh_postgres_url: str) -> None:
    with ThreadPoolExecutor(4) as pool:  # several workers starting together on an empty database
        stores = list(pool.map(lambda n: Store(fresh_postgres_url, worker=f"w{n}"), range(4)))
    try:
        assert len({store.signing_key() for store in stores}) == 1
    finally:
        for store in stores:
            store.close()


async def test_the_engine_signs_with_its_store_key_and_the_api_gives_it(tmp_path: Path) -> None:
    engine = Engine(_settings(tmp_path), cast(Any, None))
    try:
        key = engine.store.signing_key()
        assert engine.signer.key == key
        will = engine.mqtt._client._will_payload  # what the broker publishes when it dies
        assert contract.verify(json.loads(will), key)
        server = TestServer(create_app(engine), host="127.0.0.1")
        async with TestClient(server) as client:
            missing = await client.get("/api/v1/contract")
            assert missing.status == 401
            answer = await client.get(
                "/api/v1/contract",
                headers={"Authorization": "Bearer contract-viewer-token-0123"},
            )
            assert answer.status == 200
            assert answer.headers["Cache-Control"] == "no-store"
            body = await answer.json()
    finally:
        await engine.stop(drain_timeout=0)
    assert body == {
        "contract_version": contract.CONTRACT_VERSION,
        "signature": "hmac-sha256",
        "key_id": contract.key_id(key),
        "signing_key": key,
    }
    restarted = Engine(_settings(tmp_path), cast(Any, None))
    try:
        assert restarted.signer.key == key
    finally:
        await restarted.stop(drain_timeout=0)
