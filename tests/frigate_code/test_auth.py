"""The engine on Frigate's authenticated port (8971 behind nginx): Frigate's own login, roles,
JWT checks and refresh (frigate/api/auth.py), against its internal port 5000 without any."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from .conftest import ADMIN, VIEWER, labelled, plates_equal


def _login(user: dict[str, str]) -> dict[str, Any]:
    return {"frigate": {"username": user["name"], "password": user["password"]}}


async def test_frigate_refuses_the_authenticated_port_without_a_token(
    frigate_factory: Any,
) -> None:
    frigate = await frigate_factory()
    status, _ = await frigate.api("GET", "/api/events", url=frigate.auth_url)
    assert status == 401
    assert (await frigate.api("GET", "/api/events"))[0] == 200  # 5000: anonymous admin
    status, _ = await frigate.api(
        "POST", "/api/login", url=frigate.auth_url, body={"user": ADMIN["name"], "password": "no"}
    )
    assert status == 401


async def test_engine_logs_in_reads_and_writes_back_on_the_authenticated_port(
    frigate_factory: Any, engine_factory: Any, photos_dir: Path
) -> None:
    frigate = await frigate_factory()
    extra = {"frigate": {**_login(ADMIN)["frigate"], "write_back": {"plate": True}}}
    run = await engine_factory(frigate.auth_url, extra)
    (photo,) = labelled(photos_dir, "test_002.jpg")
    event_id = await frigate.pass_vehicle(photo)
    transit = await run.one_transit(event_id)
    assert plates_equal(transit["plate"], photo.plate), transit

    async def plate_in_db() -> str | None:
        for _ in range(100):
            plate = (await frigate.event(event_id))["data"].get("recognized_license_plate")
            if plate:
                return str(plate)
            await asyncio.sleep(0.1)
        return None

    assert await plate_in_db() == transit["plate"]
    assert run.engine.frigate is not None and run.engine.frigate.logins == 1
    log = (await frigate.call("access_log"))["log"]
    on_8971 = [e for e in log if e["port"] == 8971]
    assert ("POST", "/api/login", 200) in {(e["method"], e["path"], e["status"]) for e in on_8971}
    images = {f"/api/events/{event_id}/snapshot{s}" for s in ("-clean.webp", ".jpg")}
    assert [e for e in on_8971 if e["path"] in images and e["status"] == 200], on_8971
    assert not [e for e in on_8971 if e["status"] == 401], on_8971


async def test_a_viewer_account_reads_but_its_write_back_is_refused_and_counted(
    frigate_factory: Any, engine_factory: Any, photos_dir: Path
) -> None:
    frigate = await frigate_factory()
    extra = {"frigate": {**_login(VIEWER)["frigate"], "write_back": {"plate": True}}}
    run = await engine_factory(frigate.auth_url, extra)
    (photo,) = labelled(photos_dir, "test_002.jpg")
    event_id = await frigate.pass_vehicle(photo)
    transit = await run.one_transit(event_id)
    assert plates_equal(transit["plate"], photo.plate), transit
    await run.wait_for(
        lambda: run.engine.metrics.counters.get("frigate_write_back_failed") == 1, "the refusal"
    )
    log = (await frigate.call("access_log"))["log"]
    posts = [(e["path"], e["status"]) for e in log if e["method"] == "POST" and e["port"] == 8971]
    assert (f"/api/events/{event_id}/recognized_license_plate", 403) in posts, posts
    assert not (await frigate.event(event_id))["data"].get("recognized_license_plate")


async def test_wrong_password_records_the_passage_unread_instead_of_crashing(
    frigate_factory: Any, engine_factory: Any, photos_dir: Path
) -> None:
    frigate = await frigate_factory()
    extra = {"frigate": {"username": ADMIN["name"], "password": "wrong", "retries": 0}}
    run = await engine_factory(frigate.auth_url, extra)
    (photo,) = labelled(photos_dir, "test_002.jpg")
    event_id = await frigate.pass_vehicle(photo)
    await run.handled(event_id)
    assert run.transits(event_id) == []
    assert run.engine.metrics.counters.get("passages_unread") == 1
    assert run.engine.metrics.counters.get("images_failed", 0) >= 1


async def test_engine_session_survives_frigates_session_length_without_a_new_login(
    frigate_factory: Any, engine_factory: Any
) -> None:
    """Frigate refreshes a JWT only when it came as the ``frigate_token`` cookie
    (frigate/api/auth.py): a client that sends it as ``Authorization: Bearer`` is never
    refreshed and gets 401 once the session length has passed. Frigate's shortest session
    (60 s) with a refresh window of 59 s: the engine, asking every couple of seconds, must
    keep one session past its first expiry."""
    frigate = await frigate_factory(session_length=60, refresh_time=59)
    run = await engine_factory(frigate.auth_url, _login(ADMIN))
    client = run.engine.frigate
    assert client is not None
    first = await frigate.login(ADMIN)  # a token of the same age, never used again
    await client.config()
    logged_in = time.time()
    while time.time() < logged_in + 66:
        await client.config()
        await asyncio.sleep(2)
    log = (await frigate.call("access_log"))["log"]
    refused = [e for e in log if e["port"] == 8971 and e["status"] == 401]
    assert client.logins == 1, f"{client.logins} logins; refused: {refused}"
    assert refused == []
    # Frigate did enforce the expiry: the token of the engine's login is refused by now.
    status, _ = await frigate.api(
        "GET", "/api/events", url=frigate.auth_url, headers={"Authorization": f"Bearer {first}"}
    )
    assert status == 401
