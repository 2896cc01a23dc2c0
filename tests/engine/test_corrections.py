"""Correcting a read (issue 24): an operator corrects a transit's plate with a reason.

The plate as read stays (``original_plate``, the corrections' history), the correction is audited
with the person a delegate acted for, the corrected plate is matched against the hotlists again
(a new alert when it now matches, none otherwise), and searches and routes find the transit by
the corrected plate, no longer by the misread one. The API over a real store.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import sqlalchemy as sa
from aiohttp.test_utils import TestClient

from rufina_alpr import contract, privacy
from rufina_alpr.api.auth import ACTING_USER_HEADER
from rufina_alpr.config import settings_from_mapping
from rufina_alpr.engine.app import Engine
from rufina_alpr.recognizer import Recognizer
from rufina_alpr.stations import default_registry_path
from rufina_alpr.store import alerts, hotlist_matches, transit_corrections, transits
from rufina_alpr.store.corrections import (
    CorrectionError,
    PlateUnchanged,
    TransitNotFound,
    correct_plate,
    corrections_of,
)
from rufina_alpr.transits import Transit

from .conftest import api_client
from .factories import a_transit

ADMIN = "corrections-admin-token-0123456789ab"
OPERATOR = "corrections-operator-token-01234567"
VIEWER = "corrections-viewer-token-0123456789a"
HOME_ASSISTANT = "corrections-ha-token-0123456789abcd"  # a delegate
REASON = "incident 2026/17 on via Roma"
CROP = b"\xff\xd8\xff\xe0correction-crop\xff\xd9"
MISREAD = "FB123CD"  # what the engine read
TRUE_PLATE = "EB123CD"  # what the operator saw on the crop
STOLEN = "EB123CD"
START = datetime(2026, 3, 10, 8, 0, tzinfo=UTC)


def bearer(token: str, person: str | None = None) -> dict[str, str]:
    sent = {"Authorization": f"Bearer {token}"}
    if person is not None:
        sent[ACTING_USER_HEADER] = quote(person, safe="")
    return sent


AS_OPERATOR, AS_VIEWER = bearer(OPERATOR), bearer(VIEWER)


def make_transit(station: str, minutes: float, plate: str, *, event: str | None = None) -> Transit:
    event_id = event or f"{station}-{minutes}"
    moment = START + timedelta(minutes=minutes)
    return a_transit(
        station, event_id, moment, plate, confidence=0.81, read_count=3,
        alternatives=((plate, 0.81),), crop_jpeg=CROP,
    )  # fmt: skip


# The misread vehicle passes two stations; another vehicle really is FB123CD, elsewhere.
FIRST = make_transit("pomino_in", 0, MISREAD)
SECOND = make_transit("via_roma_in", 12, MISREAD)
OTHER = make_transit("contea_in", 300, "AA111AA")


@pytest.fixture
async def engine(tmp_path: Path, recognizer: Recognizer) -> AsyncIterator[Engine]:
    settings = settings_from_mapping(
        {
            "data_dir": str(tmp_path),
            "timezone": "Europe/Rome",
            "api": {
                "token": ADMIN,
                "users": [
                    {"name": "agente.rossi", "token": OPERATOR, "role": "operator"},
                    {"name": "ufficio.tecnico", "token": VIEWER, "role": "viewer"},
                    {
                        "name": "home-assistant",
                        "token": HOME_ASSISTANT,
                        "role": "operator",
                        "delegate": True,
                    },
                ],
            },
            "stations_file": str(default_registry_path()),
        }
    )
    running = Engine(settings, recognizer)
    for transit in (FIRST, SECOND, OTHER):
        assert await running.db.run(running.store.add_transit, transit, [])
    yield running
    await running.stop(drain_timeout=0)


@pytest.fixture
async def client(engine: Engine) -> AsyncIterator[TestClient[Any, Any]]:
    async with api_client(engine) as test_client:
        yield test_client


async def make_stolen_list(client: TestClient[Any, Any], plate: str = STOLEN) -> None:
    created = await client.post(
        "/api/v1/hotlists",
        headers=AS_OPERATOR,
        json={"id": "stolen", "name": "Veicoli rubati", "kind": "stolen"},
    )
    assert created.status == 201
    added = await client.post(
        "/api/v1/hotlists/stolen/entries",
        headers=AS_OPERATOR,
        json={"plate": plate, "reason": "furto denunciato 2026/88"},
    )
    assert added.status == 201


async def correct(
    client: TestClient[Any, Any],
    transit: Transit,
    plate: str,
    reason: str = "the crop shows an E, not an F",
    headers: dict[str, str] = AS_OPERATOR,
) -> Any:
    response = await client.patch(
        f"/api/v1/transits/{transit.id}", headers=headers, json={"plate": plate, "reason": reason}
    )
    assert response.status == 200, await response.text()
    return await response.json()


async def rows(engine: Engine, table: sa.Table) -> list[Any]:
    def read() -> list[Any]:
        with engine.store.engine.connect() as connection:
            return list(connection.execute(sa.select(table)))

    return await engine.db.run(read)


async def get_json(client: TestClient[Any, Any], path: str, **params: Any) -> Any:
    response = await client.get(path, headers=AS_OPERATOR, params={"reason": REASON, **params})
    assert response.status == 200, await response.text()
    return await response.json()


# ------------------------------------------------------------------ the correction itself
async def test_the_correction_keeps_the_read_and_is_audited_with_the_acting_user(
    client: TestClient[Any, Any], engine: Engine
) -> None:
    person = "Comandante Bianchi"
    body = await correct(
        client, FIRST, "eb-123 cd", headers=bearer(HOME_ASSISTANT, person), reason="  crop: E  "
    )
    assert (body["plate"], body["display"], body["original_plate"]) == (
        TRUE_PLATE,
        "EB 123 CD",
        MISREAD,
    )
    assert (body["country"], body["format"]) == ("IT", "it_car")
    assert body["alert"] is None and body["hotlist"] is None
    assert body["has_crop"] is True
    contract.validate(
        "transit", {k: v for k, v in body.items() if k not in ("corrections", "alert")}
    )
    (history,) = body["corrections"]
    assert history["previous_plate"] == MISREAD and history["plate"] == TRUE_PLATE
    assert history["reason"] == "crop: E"
    assert (history["actor"], history["acting_user"], history["by"]) == (
        "home-assistant",
        person,
        person,
    )
    # The audit log names the person, the transit, both plates and the reason.
    log = privacy.Audit(engine.store)
    (entry,) = await engine.db.run(lambda: log.entries(action="transit_correct"))
    assert (entry.actor, entry.acting_user, entry.role) == ("home-assistant", person, "operator")
    assert entry.query == {
        "transit_id": FIRST.id,
        "plate": TRUE_PLATE,
        "previous_plate": MISREAD,
    }
    assert entry.reason == "crop: E" and entry.results == 1
    # One transit read back: the corrected plate, the read and the history.
    one = await get_json(client, f"/api/v1/transits/{FIRST.id}")
    assert (one["plate"], one["original_plate"]) == (TRUE_PLATE, MISREAD)
    assert one["corrections"] == body["corrections"]
    untouched = await get_json(client, f"/api/v1/transits/{SECOND.id}")
    assert untouched["corrections"] == [] and untouched["original_plate"] is None


async def test_a_second_correction_keeps_the_first_read(
    client: TestClient[Any, Any], engine: Engine
) -> None:
    await correct(client, FIRST, "EB123CB")
    body = await correct(client, FIRST, TRUE_PLATE, reason="second look: CD")
    assert (body["plate"], body["original_plate"]) == (TRUE_PLATE, MISREAD)
    assert [(c["previous_plate"], c["plate"]) for c in body["corrections"]] == [
        (MISREAD, "EB123CB"),
        ("EB123CB", TRUE_PLATE),
    ]
    (stored,) = [r for r in await rows(engine, transits) if r.id == FIRST.id]
    assert (stored.plate, stored.original_plate) == (TRUE_PLATE, MISREAD)
    assert len(await rows(engine, transit_corrections)) == 2


async def test_a_foreign_or_special_plate_gets_its_own_form(
    client: TestClient[Any, Any],
) -> None:
    special = await correct(client, FIRST, "CC AB 123")
    assert (special["plate"], special["format"], special["country"]) == (
        "CCAB123",
        "it_special",
        "IT",
    )
    foreign = await correct(client, SECOND, "B-MW 1234")
    assert (foreign["plate"], foreign["display"]) == ("BMW1234", "BMW1234")
    assert (foreign["format"], foreign["country"]) == (None, None)


# ------------------------------------------------------------------ the hotlists again
async def test_a_corrected_plate_on_a_hotlist_raises_an_alert(
    client: TestClient[Any, Any], engine: Engine
) -> None:
    await make_stolen_list(client)
    body = await correct(client, FIRST, TRUE_PLATE)
    assert body["alert"] is not None
    assert body["hotlist"]["list"] == "stolen" and body["hotlist"]["count"] == 1
    (alert,) = await rows(engine, alerts)
    assert alert.id == body["alert"]
    assert (alert.kind, alert.status, alert.state) == ("hotlist", "confirmed", "new")
    assert (alert.transit_id, alert.plate, alert.entry_plate) == (FIRST.id, STOLEN, STOLEN)
    assert alert.station_id == FIRST.station_id
    queue = await get_json(client, "/api/v1/alerts")
    assert [a["id"] for a in queue["alerts"]] == [body["alert"]]
    (match,) = await rows(engine, hotlist_matches)
    assert (match.transit_id, match.entry_plate, match.alerted) == (FIRST.id, STOLEN, True)
    stored = await get_json(client, f"/api/v1/transits/{FIRST.id}")
    assert stored["hotlist"]["list"] == "stolen"
    # Its vehicle's second transit, corrected minutes later at another station: its own alert.
    second = await correct(client, SECOND, TRUE_PLATE)
    assert second["alert"] is not None and second["alert"] != body["alert"]
    assert len(await rows(engine, alerts)) == 2


async def test_no_alert_when_the_corrected_plate_matches_nothing(
    client: TestClient[Any, Any], engine: Engine
) -> None:
    await make_stolen_list(client)
    body = await correct(client, FIRST, "GH456JK")
    assert body["alert"] is None and body["hotlist"] is None
    assert await rows(engine, alerts) == []
    assert await rows(engine, hotlist_matches) == []


async def test_a_correction_off_the_list_replaces_the_recorded_matches(
    client: TestClient[Any, Any], engine: Engine
) -> None:
    """The misread was on a list: its matches go with it; the alert it raised stays (to be
    rejected as a misread by the operators)."""
    await make_stolen_list(client, plate=MISREAD)
    first = await correct(client, FIRST, "GH456JK")
    assert first["alert"] is None
    again = await correct(client, FIRST, MISREAD, reason="the first reading was right after all")
    assert again["alert"] is not None
    assert len(await rows(engine, hotlist_matches)) == 1
    back = await correct(client, FIRST, "LM789NP")
    assert back["hotlist"] is None
    assert await rows(engine, hotlist_matches) == []
    (kept,) = await rows(engine, alerts)  # raised while it was MISREAD, kept
    assert kept.id == again["alert"]


# ------------------------------------------------------------------ searches and routes
async def test_searches_and_routes_use_the_corrected_plate(
    client: TestClient[Any, Any],
) -> None:
    for transit in (FIRST, SECOND):
        await correct(client, transit, TRUE_PLATE)
    found = await get_json(client, "/api/v1/transits", plate=TRUE_PLATE)
    assert sorted(t["id"] for t in found["transits"]) == sorted([FIRST.id, SECOND.id])
    assert {t["original_plate"] for t in found["transits"]} == {MISREAD}
    pattern = await get_json(client, "/api/v1/transits", plate="EB*")
    assert len(pattern["transits"]) == 2
    misread = await get_json(client, "/api/v1/transits", plate=MISREAD)
    assert misread["transits"] == []
    route = await get_json(client, "/api/v1/route", plate=TRUE_PLATE)
    assert route["transits"] == 2
    (journey,) = route["journeys"]
    assert journey["stations"] == ["pomino_in", "via_roma_in"]
    assert [t["original_plate"] for t in journey["transits"]] == [MISREAD, MISREAD]
    assert (await get_json(client, "/api/v1/route", plate=MISREAD))["transits"] == 0


# ------------------------------------------------------------------ refusals
async def test_refusals(client: TestClient[Any, Any], engine: Engine) -> None:
    path = f"/api/v1/transits/{FIRST.id}"
    good = {"plate": TRUE_PLATE, "reason": "the crop shows an E"}
    missing = await client.patch("/api/v1/transits/no-such-transit", headers=AS_OPERATOR, json=good)
    assert missing.status == 404 and (await missing.json())["error"] == "not_found"
    viewer = await client.patch(path, headers=AS_VIEWER, json=good)
    assert viewer.status == 403 and (await viewer.json())["error"] == "forbidden"
    for bad in (
        {"plate": TRUE_PLATE},
        {"plate": TRUE_PLATE, "reason": ""},
        {"plate": TRUE_PLATE, "reason": "ab"},
        {"plate": TRUE_PLATE, "reason": "    "},
        {"plate": TRUE_PLATE, "reason": "x" * 501},
        {"plate": TRUE_PLATE, "reason": "a\nb\nc"},
        {"reason": "the crop shows an E"},
        {"plate": "E", "reason": "the crop shows an E"},
        {"plate": "EB*23CD", "reason": "the crop shows an E"},
        {"plate": "EB123CDEB123CD", "reason": "the crop shows an E"},
        {"plate": 123, "reason": "the crop shows an E"},
        {**good, "extra": True},
        {"plate": MISREAD, "reason": "the same plate again"},
    ):
        refused = await client.patch(path, headers=AS_OPERATOR, json=bad)
        assert refused.status == 400, bad
        assert (await refused.json())["error"] == "bad_request"
    text = await client.patch(path, headers=AS_OPERATOR, data="plate=EB123CD")
    assert text.status == 415
    # Nothing changed, nothing audited.
    assert await rows(engine, transit_corrections) == []
    (stored,) = [r for r in await rows(engine, transits) if r.id == FIRST.id]
    assert (stored.plate, stored.original_plate) == (MISREAD, None)
    log = privacy.Audit(engine.store)
    assert await engine.db.run(lambda: log.entries(action="transit_correct")) == []


async def test_the_store_refuses_what_is_no_correction(engine: Engine) -> None:
    def attempt(transit: str, plate: str, reason: str = "why") -> Any:
        with engine.store.engine.begin() as connection:
            return correct_plate(
                connection,
                transit,
                plate,
                reason,
                actor="agente.rossi",
                acting_user=None,
                now=START,
            )

    for transit, plate, reason, error in (
        ("no-such-transit", TRUE_PLATE, "why", TransitNotFound),
        (FIRST.id, "fb 123 cd", "why", PlateUnchanged),
        (FIRST.id, "E", "why", CorrectionError),
        (FIRST.id, TRUE_PLATE, "  ", CorrectionError),
    ):
        with pytest.raises(error):
            await engine.db.run(attempt, transit, plate, reason)
    corrected = await engine.db.run(attempt, FIRST.id, "eb.123.cd")
    assert (corrected.plate, corrected.original_plate, corrected.crop_jpeg) == (
        TRUE_PLATE,
        MISREAD,
        CROP,
    )

    def history() -> Any:
        with engine.store.engine.connect() as connection:
            return corrections_of(connection, FIRST.id)

    (only,) = await engine.db.run(history)
    assert (only.previous_plate, only.plate, only.by, only.time) == (
        MISREAD,
        TRUE_PLATE,
        "agente.rossi",
        START,
    )
