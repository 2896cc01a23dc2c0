"""Acting for a person: a delegate's token (Home Assistant's) names, in ``X-Rufina-Acting-User``,
the person it acts for, and the audit log records both the token's user and that person.

A token that is not a delegate (Home Assistant's ingress users neither) is refused (403
``not_a_delegate``) with nothing done; a malformed name is a 400 ``bad_acting_user``; hotlist
entries, lists and holds name "person via token user"; ``GET /api/v1/info`` says whether the
token is a delegate; the documented header pattern accepts exactly what the API accepts.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

import hypothesis
import pytest
import yaml
from aiohttp.test_utils import TestClient, make_mocked_request
from hypothesis import strategies as st
from multidict import CIMultiDict

from rufina_alpr import privacy
from rufina_alpr.api.auth import ACTING_USER_HEADER, Principal, acting_for
from rufina_alpr.api.context import OPENAPI_PATH
from rufina_alpr.api.params import MAX_AUTHOR, ApiError
from rufina_alpr.config import load_settings, settings_from_mapping
from rufina_alpr.engine.app import Engine
from rufina_alpr.recognizer import Recognizer
from rufina_alpr.settings_sources import SettingsError
from rufina_alpr.stations import default_registry_path

from .conftest import api_client
from .traffic_day import TrafficDay, generate_day, insert_day

ADMIN = "acting-admin-token-0123456789abcdef"
HOME_ASSISTANT = "acting-ha-token-0123456789abcdefgh"  # a delegate
OPERATOR = "acting-operator-token-0123456789abc"  # not a delegate
REASON = "incident 2026/17 on via Roma"
BIANCHI = "Comandante Bianchi (Home Assistant user 6b0f3c)"
NICCOLO = "Niccolò Bianchi"


def headers(token: str, person: str | None = None) -> dict[str, str]:
    sent = {"Authorization": f"Bearer {token}"}
    if person is not None:
        sent[ACTING_USER_HEADER] = quote(person, safe="")
    return sent


@pytest.fixture(scope="module")
def day() -> TrafficDay:
    return generate_day(scale=0.02)


@pytest.fixture
async def engine(tmp_path: Path, recognizer: Recognizer, day: TrafficDay) -> AsyncIterator[Engine]:
    settings = settings_from_mapping(
        {
            "data_dir": str(tmp_path),
            "api": {
                "token": ADMIN,
                "users": [
                    {
                        "name": "home-assistant",
                        "token": HOME_ASSISTANT,
                        "role": "operator",
                        "delegate": True,
                    },
                    {"name": "agente.rossi", "token": OPERATOR, "role": "operator"},
                ],
                # The test client's address is the "Supervisor's": ingress users come from it.
                "ingress": {"enabled": True, "trusted_proxies": ["127.0.0.1"]},
            },
            "stations_file": str(default_registry_path()),
        }
    )
    running = Engine(settings, recognizer)
    await running.db.run(insert_day, running.store, day)
    yield running
    await running.stop(drain_timeout=0)


@pytest.fixture
async def client(engine: Engine) -> AsyncIterator[TestClient[Any, Any]]:
    async with api_client(engine) as test_client:
        yield test_client


async def entries(engine: Engine, **filters: Any) -> list[privacy.AuditEntry]:
    log = privacy.Audit(engine.store)
    return await engine.db.run(lambda: log.entries(limit=1000, **filters))


async def search(client: TestClient[Any, Any], sent: Mapping[str, str]) -> int:
    response = await client.get("/api/v1/transits", headers=sent, params={"reason": REASON})
    return response.status


# ------------------------------------------------------------------ the audit log
@pytest.mark.parametrize(
    "person",
    [
        BIANCHI,
        NICCOLO,
        "automation:automation.allarme_notte",
        "script:script.report",
        "🚓 Pattuglia 2 - 100% {actor}",  # 4-byte UTF-8, '%' and braces are only text
        "x" * 120,
    ],
)
async def test_a_delegate_acts_for_a_person(
    client: TestClient[Any, Any], engine: Engine, person: str
) -> None:
    assert await search(client, headers(HOME_ASSISTANT, person)) == 200
    (entry,) = await entries(engine, action="search")
    assert (entry.actor, entry.acting_user, entry.role) == ("home-assistant", person, "operator")


async def test_without_the_header_there_is_no_acting_user(
    client: TestClient[Any, Any], engine: Engine
) -> None:
    assert await search(client, headers(HOME_ASSISTANT)) == 200
    assert await search(client, headers(HOME_ASSISTANT, NICCOLO)) == 200
    response = await client.get(
        "/api/v1/audit", headers=headers(ADMIN), params={"reason": REASON, "action": "search"}
    )
    assert response.status == 200
    body = await response.json()
    assert [(e["actor"], e["acting_user"]) for e in body["entries"]] == [
        ("home-assistant", NICCOLO),
        ("home-assistant", None),
    ]


async def test_the_actor_filter_finds_the_person_or_the_token(
    client: TestClient[Any, Any], engine: Engine
) -> None:
    for sent in (
        headers(HOME_ASSISTANT, BIANCHI),
        headers(HOME_ASSISTANT, NICCOLO),
        headers(HOME_ASSISTANT, "automation:automation.allarme_notte"),
        headers(HOME_ASSISTANT),
        headers(OPERATOR),
    ):
        assert await search(client, sent) == 200

    async def found(actor: str) -> list[tuple[str, str | None]]:
        response = await client.get(
            "/api/v1/audit",
            headers=headers(ADMIN),
            params={"reason": REASON, "action": "search", "actor": actor},
        )
        assert response.status == 200
        return [(e["actor"], e["acting_user"]) for e in (await response.json())["entries"]]

    assert await found("bianchi") == [("home-assistant", NICCOLO), ("home-assistant", BIANCHI)]
    assert await found("allarme_notte") == [
        ("home-assistant", "automation:automation.allarme_notte")
    ]
    assert len(await found("home-assistant")) == 4  # the token's user: every one of its entries
    assert await found("agente.rossi") == [("agente.rossi", None)]
    assert await found("agente") == [], "a token's user by its whole name only"
    assert await found("%") == [], "a LIKE wildcard is only a character"
    assert await found("_") == [("home-assistant", "automation:automation.allarme_notte")]


# ------------------------------------------------------------------ refusals
@pytest.mark.parametrize("token", [OPERATOR, ADMIN])
async def test_a_token_that_is_not_a_delegate_may_not_send_it(
    client: TestClient[Any, Any], engine: Engine, token: str
) -> None:
    await client.post(
        "/api/v1/hotlists",
        headers=headers(ADMIN),
        json={"id": "stolen", "name": "Veicoli rubati", "kind": "stolen"},
    )
    before = await entries(engine)
    refused = [
        await client.get(
            "/api/v1/transits", headers=headers(token, BIANCHI), params={"reason": REASON}
        ),
        await client.post(
            "/api/v1/hotlists/stolen/entries",
            headers=headers(token, BIANCHI),
            json={"plate": "AB123CD", "reason": "denuncia 1234"},
        ),
        await client.get("/api/v1/info", headers=headers(token, BIANCHI)),
    ]
    for response in refused:
        assert response.status == 403
        body = await response.json()
        assert body["error"] == "not_a_delegate"
        assert "may not act for another person" in body["message"]
    assert await entries(engine) == before, "nothing of a refused request is audited"
    listed = await client.get(
        "/api/v1/hotlists/stolen/entries", headers=headers(ADMIN), params={"reason": REASON}
    )
    assert (await listed.json())["entries"] == [], "nor done"


async def test_home_assistant_ingress_users_are_not_delegates(
    client: TestClient[Any, Any], engine: Engine
) -> None:
    ingress = {"X-Ingress-Path": "/api/hassio_ingress/abc", "X-Remote-User-Name": "mario"}
    response = await client.get("/api/v1/info", headers=ingress)
    assert response.status == 200
    assert (await response.json())["delegate"] is False
    response = await client.get(
        "/api/v1/transits",
        headers={**ingress, ACTING_USER_HEADER: quote(BIANCHI, safe="")},
        params={"reason": REASON},
    )
    assert response.status == 403
    assert (await response.json())["error"] == "not_a_delegate"
    assert await entries(engine) == []


MALFORMED = [
    "",
    "Comandante Bianchi",  # not percent-encoded: a space
    "Comandante+Bianchi",  # a form's encoding, not quote()'s
    "%",
    "%G0",
    "%FF",  # not UTF-8
    "%C3",  # a character cut short
    "%E0%80%80",  # overlong
    "%ED%A0%80",  # a surrogate
    "%00",
    "Mario%0ARossi",  # a line break: a forged log line
    "%7F",
    "%C2%85",  # C1 control (NEL)
    "x" * 121,
    quote("è" * 121, safe=""),
]


@pytest.mark.parametrize("value", MALFORMED)
async def test_a_malformed_name_is_a_400(
    client: TestClient[Any, Any], engine: Engine, value: str
) -> None:
    sent = {**headers(HOME_ASSISTANT), ACTING_USER_HEADER: value}
    response = await client.get("/api/v1/transits", headers=sent, params={"reason": REASON})
    assert response.status == 400
    body = await response.json()
    assert body["error"] == "bad_acting_user"
    assert ACTING_USER_HEADER in body["message"]
    assert await entries(engine) == []


async def test_two_names_are_a_400(client: TestClient[Any, Any], engine: Engine) -> None:
    sent = CIMultiDict(headers(HOME_ASSISTANT, BIANCHI))
    sent.add(ACTING_USER_HEADER, quote(NICCOLO, safe=""))
    assert await search(client, sent) == 400
    assert await entries(engine) == []


# ------------------------------------------------------------------ info and authors
@pytest.mark.parametrize(
    ("token", "delegate"), [(HOME_ASSISTANT, True), (OPERATOR, False), (ADMIN, False)]
)
async def test_info_says_whether_the_token_is_a_delegate(
    client: TestClient[Any, Any], token: str, delegate: bool
) -> None:
    response = await client.get("/api/v1/info", headers=headers(token))
    assert response.status == 200
    assert (await response.json())["delegate"] is delegate


async def test_hotlists_and_holds_name_the_person_via_the_token(
    client: TestClient[Any, Any], day: TrafficDay
) -> None:
    as_bianchi = headers(HOME_ASSISTANT, BIANCHI)
    created = await client.post(
        "/api/v1/hotlists",
        headers=as_bianchi,
        json={"id": "stolen", "name": "Veicoli rubati", "kind": "stolen"},
    )
    assert created.status == 201
    assert (await created.json())["created_by"] == f"{BIANCHI} via home-assistant"
    added = await client.post(
        "/api/v1/hotlists/stolen/entries",
        headers=as_bianchi,
        json={"plate": "AB123CD", "reason": "denuncia 1234"},
    )
    assert added.status == 201
    assert (await added.json())["added_by"] == f"{BIANCHI} via home-assistant"
    # A name as long as allowed still fits the store's author columns.
    long_name = "N" * 120
    added = await client.post(
        "/api/v1/hotlists/stolen/entries",
        headers=headers(HOME_ASSISTANT, long_name),
        json={"plate": "ZZ999ZZ", "reason": "denuncia 1235"},
    )
    assert added.status == 201
    author = (await added.json())["added_by"]
    assert len(author) == MAX_AUTHOR and author.endswith("… via home-assistant")
    held = await client.post(
        "/api/v1/holds",
        headers=headers(HOME_ASSISTANT, NICCOLO),
        json={
            "case_number": "PM-2026-17",
            "reason": REASON,
            "transit_ids": [day.transits[0].id],
        },
    )
    assert held.status == 201, await held.text()
    assert (await held.json())["created_by"] == f"{NICCOLO} via home-assistant"
    # Without the header, the token's user alone.
    added = await client.post(
        "/api/v1/hotlists/stolen/entries",
        headers=headers(HOME_ASSISTANT),
        json={"plate": "CD456EF", "reason": "denuncia 1236"},
    )
    assert (await added.json())["added_by"] == "home-assistant"


def test_who_did_it() -> None:
    assert Principal("agente.rossi", "operator").who == "agente.rossi"
    person = Principal("agente.rossi", "operator", True, BIANCHI)
    assert person.who == f"{BIANCHI} via agente.rossi"
    longest = Principal("u" * 120, "operator", True, "p" * 120).who
    assert len(longest) == MAX_AUTHOR


# ------------------------------------------------------------------ the documented pattern
def documented_pattern() -> re.Pattern[str]:
    document = yaml.safe_load(OPENAPI_PATH.read_text())
    parameter = document["components"]["parameters"]["actingUser"]
    assert parameter["name"] == ACTING_USER_HEADER and parameter["in"] == "header"
    return re.compile(parameter["schema"]["pattern"])


DOCUMENTED = documented_pattern()


def accepted(value: str) -> bool:
    request = make_mocked_request("GET", "/", headers=CIMultiDict({ACTING_USER_HEADER: value}))
    try:
        principal = acting_for(Principal("home-assistant", "operator", True), request)
    except ApiError as err:
        assert (err.status, err.code) == (400, "bad_acting_user")
        return False
    assert principal.acting_user is not None
    return True


@pytest.mark.parametrize(
    "value",
    [
        *MALFORMED,
        *(quote(name, safe="") for name in (BIANCHI, NICCOLO, "x" * 120, "è" * 120, "🚓" * 120)),
        "Niccol%c3%b2",  # lower-case hex is the same text
        "%C2%A0",  # no-break space: not a control character
        "%EF%BF%BF",  # a non-character, still text
        "%F4%8F%BF%BF",  # the last code point
        "%F4%90%80%80",  # past it
    ],
)
def test_the_documented_pattern_is_what_the_api_accepts(value: str) -> None:
    assert (DOCUMENTED.fullmatch(value) is not None) == accepted(value)


@hypothesis.settings(max_examples=300, derandomize=True, database=None, deadline=None)
@hypothesis.given(
    st.one_of(
        st.text(max_size=130).map(lambda text: quote(text, safe="")),
        st.from_regex(
            r"(?:[A-Za-z0-9._~-]|%[89A-Fa-f][0-9A-Fa-f]|%[0-7][0-9A-F]){1,8}", fullmatch=True
        ),
    )
)
def test_the_documented_pattern_agrees_on_any_text(value: str) -> None:
    assert (DOCUMENTED.fullmatch(value) is not None) == accepted(value)


# ------------------------------------------------------------------ settings
def test_delegate_settings(tmp_path: Path) -> None:
    config = tmp_path / "rufina.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "data_dir": str(tmp_path / "data"),
                "api": {
                    "token": ADMIN,
                    "users": [
                        {
                            "name": "ha",
                            "token": HOME_ASSISTANT,
                            "role": "operator",
                            "delegate": True,
                        },
                        {"name": "rossi", "token": OPERATOR, "role": "operator"},
                    ],
                },
            }
        )
    )
    settings = load_settings(config, environ={})
    assert settings.api.delegate is False, "the built-in token acts for nobody unless told"
    assert [(u.name, u.delegate) for u in settings.api.users] == [("ha", True), ("rossi", False)]
    from_environment = load_settings(config, environ={"RUFINA_ALPR__API__DELEGATE": "true"})
    assert from_environment.api.delegate is True
    with pytest.raises(SettingsError, match=re.escape("['api']['delegate']")):
        load_settings(config, environ={"RUFINA_ALPR__API__DELEGATE": "maybe"})
