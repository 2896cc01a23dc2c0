"""The privacy pack (issue 25): the documents a comune keeps, written from the configuration.

The town's registry (34 stations) gives every station and purpose to the DPIA and the signs; the
retention figures are the settings'; a particular the comune has not supplied is a placeholder
and a to-do item, never invented; ``--check`` and the health's status name the documents a
changed registry, retention or list leaves out of date; the API is for admins only.
"""

from __future__ import annotations

import html
import io
import json
import zipfile
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp.test_utils import TestClient

from rufina_alpr.api.context import CONTEXT_KEY
from rufina_alpr.cli import main
from rufina_alpr.config import Settings, settings_from_mapping
from rufina_alpr.engine.app import Engine
from rufina_alpr.hotlists import HotlistInfo, Hotlists
from rufina_alpr.privacy.pack import (
    DOCUMENT_IDS,
    LANGS,
    MANIFEST,
    SECTIONS,
    GeneratedPack,
    build_pack,
    current_inputs,
    frigate_observed,
    pack_inputs,
    pack_status,
    record_pack,
)
from rufina_alpr.recognizer import Recognizer
from rufina_alpr.stations import default_registry_path, load_registry
from rufina_alpr.store import Store, audit_log

from .conftest import api_client
from .traffic_day import store_on

REGISTRY = default_registry_path()
ADMIN = "pack-admin-token-0123456789abcdef"
OPERATOR = "pack-operator-token-0123456789abc"
HOME_ASSISTANT = "pack-home-assistant-token-0123456"
AS_ADMIN = {"Authorization": f"Bearer {ADMIN}"}
AS_OPERATOR = {"Authorization": f"Bearer {OPERATOR}"}
DPO = "rpd@comune.rufina.fi.it"
MOMENT = datetime(2026, 12, 6, 10, 0, tzinfo=UTC)


def settings_of(tmp_path: Path, **extra: Any) -> Settings:
    return settings_from_mapping(
        {
            "data_dir": str(tmp_path / "data"),
            "api": {
                "token": ADMIN,
                "users": [
                    {"name": "agente.rossi", "token": OPERATOR, "role": "operator"},
                    {
                        "name": "home-assistant",
                        "token": HOME_ASSISTANT,
                        "role": "admin",
                        "delegate": True,
                    },
                ],
            },
            "stations_file": str(REGISTRY),
            **extra,
        }
    )


def pack_of(settings: Settings, lists: list[HotlistInfo] | None = None) -> GeneratedPack:
    return build_pack(pack_inputs(settings, lists or []), generated_by="test", now=MOMENT)


def text(pack: GeneratedPack, lang: str, doc: str, suffix: str = "md") -> str:
    return pack.files[f"{lang}/{doc}.{suffix}"].decode()


def stolen_list() -> HotlistInfo:
    return HotlistInfo(
        "rubati",
        "Veicoli rubati (SDI)",
        "stolen",
        "alert",
        1,
        None,
        "test",
        MOMENT,
    )


# ---------------------------------------------------------------------------- the documents
def test_the_town_pack_names_every_station_and_its_purpose(tmp_path: Path) -> None:
    registry = load_registry(REGISTRY)
    assert len(registry.stations) == 34
    assert len(registry.of_kind("lpr")) == 15
    pack = pack_of(settings_of(tmp_path))
    for lang in LANGS:
        for doc in ("dpia", "notices"):
            document = text(pack, lang, doc)
            for station in registry.stations:
                purpose = station.purpose_en if lang == "en" else station.purpose
                assert purpose
                assert station.name in document, (lang, doc, station.id)
                assert purpose in document, (lang, doc, station.id)
                assert f"`{station.id}`" in document, (lang, doc, station.id)
        # The printable page carries them too, escaped, and one sign per page: a break before
        # each of the 34 signs, none in the DPIA.
        page = text(pack, lang, "notices", "html")
        for station in registry.stations:
            assert html.escape(station.name, quote=False) in page
        assert page.count("<hr />") == 34
        assert "<hr" not in text(pack, lang, "dpia", "html")
        assert page.startswith("<!DOCTYPE html>") and "<script" not in page
        assert "@page { size: A4" in page
    assert "AREA VIDEOSORVEGLIATA CON LETTURA DELLE TARGHE" in text(pack, "it", "notices")
    assert text(pack, "it", "notices").count("# AREA VIDEOSORVEGLIATA\n") == 19
    assert text(pack, "en", "notices").count("# CCTV AREA WITH NUMBER PLATE READING\n") == 15


def retention_rows(pack: GeneratedPack, lang: str) -> dict[str, str]:
    """The DPIA's retention table: first cell -> second cell."""
    document = text(pack, lang, "dpia")
    table = document.split("### 1.6")[1].split("###")[0]
    rows = [line.strip("|").split("|") for line in table.splitlines() if line.startswith("| ")]
    return {cells[0].strip(): cells[1].strip() for cells in rows[1:]}


@pytest.mark.parametrize(
    ("retention", "frigate_days"),
    [
        ({}, 7),
        ({"transits": 5, "reads": 3, "crops": 2, "frames": 4, "hits": 30, "audit": 200}, 5),
        ({"transits": 2.5, "hits": 10}, 3),
    ],
)
def test_the_retention_figures_are_the_settings(
    tmp_path: Path, retention: dict[str, float], frigate_days: int
) -> None:
    settings = settings_of(tmp_path, privacy={"retention": retention})
    kept = settings.privacy.retention
    pack = pack_of(settings)
    it, en = retention_rows(pack, "it"), retention_rows(pack, "en")
    for kind, label_it, label_en in (
        ("transits", "transiti (targa", "transits (plate"),
        ("reads", "letture della targa", "plate reads"),
        ("crops", "ritagli", "plate image crops"),
        ("frames", "fotogrammi interi", "full frames"),
        ("hits", "riscontri", "list hits"),
        ("audit", "registro degli accessi", "audit log"),
    ):
        days = f"{getattr(kept, kind):g}"
        assert next(v for k, v in it.items() if k.startswith(label_it)).startswith(f"{days} giorni")
        assert next(v for k, v in en.items() if k.startswith(label_en)).startswith(f"{days} days")
    assert it["registrazioni e istantanee di Frigate"].startswith(f"{frigate_days} giorni")
    notices = text(pack, "en", "notices")
    assert f"plates and transits {kept.transits:g} days; images {frigate_days} days" in notices
    assert f"targhe e transiti {kept.transits:g} giorni" in text(pack, "it", "notices")
    assert f"--retain-days {frigate_days}" in text(pack, "en", "todo")


def test_a_missing_particular_is_a_placeholder_and_a_todo_item_until_supplied(
    tmp_path: Path,
) -> None:
    bare = pack_of(settings_of(tmp_path), [stolen_list()])
    notices, todo = text(bare, "it", "notices"), text(bare, "it", "todo")
    assert notices.count("[DA COMPLETARE: contatto e-mail dell'RPD]") == 34
    assert "`privacy.controller.dpo_email`" in todo
    assert "[TO BE COMPLETED: the DPO's e-mail]" in text(bare, "en", "notices")
    assert "`privacy.controller.legal_bases.stolen (or .<list id>)`" in text(bare, "en", "todo")
    assert "[TO BE COMPLETED: the legal basis of the lists of kind stolen (rubati)]" in text(
        bare, "en", "dpia"
    )
    page = text(bare, "it", "notices", "html")
    assert page.count('<mark class="todo">[DA COMPLETARE: contatto e-mail dell\'RPD]</mark>') == 34

    basis = "Art. 6, par. 1, lett. e) GDPR; d.lgs. 51/2018 (banca dati SDI)"
    supplied = pack_of(
        settings_of(
            tmp_path,
            privacy={"controller": {"dpo_email": DPO, "legal_bases": {"stolen": basis}}},
        ),
        [stolen_list()],
    )
    notices, todo = text(supplied, "it", "notices"), text(supplied, "it", "todo")
    assert notices.count(f"**Responsabile della protezione dei dati:** {DPO}") == 34
    assert "contatto e-mail dell'RPD" not in notices + todo
    assert "dpo_email" not in todo and "legal_bases" not in todo
    assert basis in text(supplied, "it", "dpia") and basis in text(supplied, "en", "informativa")
    # Still missing: the rest of the controller's particulars.
    assert "`privacy.controller.name`" in todo


def test_frigate_retention_is_verified_only_when_frigate_states_it(tmp_path: Path) -> None:
    settings = settings_of(tmp_path)
    camera = {
        "record": {
            "enabled": True,
            "continuous": {"days": 0},
            "motion": {"days": 7},
            "alerts": {"retain": {"days": 7}},
            "detections": {"retain": {"days": 7}},
        },
        "snapshots": {"enabled": True, "retain": {"default": 7}},
    }
    assert frigate_observed({"cameras": {"a": {"snapshots": {"enabled": True}}}}) is None
    observed = frigate_observed({"cameras": {"a": camera, "b": camera}})
    assert observed is not None and observed.max_days == 7 and observed.cameras == 2
    checked = pack_inputs(settings, [], frigate_observed=observed)
    assert checked.frigate.verified
    assert not any(item.key == "frigate.retention" for item in checked.missing)
    too_long = {**camera, "snapshots": {"enabled": True, "retain": {"default": 30}}}
    lax = pack_inputs(settings, [], frigate_observed=frigate_observed({"cameras": {"a": too_long}}))
    item = next(item for item in lax.missing if item.key == "frigate.retention")
    assert "(Frigate states 30)" in item.en
    # The observation is a check made at generation time, not configuration: same hashes.
    assert checked.hashes == lax.hashes == pack_inputs(settings, []).hashes
    dpia = build_pack(lax, generated_by="test").files["en/dpia.md"].decode()
    assert "at most 30 days kept" in dpia and "**not as stated**" in dpia


# ---------------------------------------------------------------------------- CLI
def write_config(folder: Path, registry: Path, **extra: Any) -> Path:
    config = folder / "config.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "data_dir": str(folder / "data"),
                "api": {"token": ADMIN},
                "stations_file": str(registry),
                **extra,
            }
        )
    )
    return config


def registry_copy(folder: Path, change: Any) -> Path:
    data = yaml.safe_load(REGISTRY.read_text())
    change(data)
    copy = folder / "stations.yaml"
    copy.write_text(yaml.safe_dump(data, allow_unicode=True))
    return copy


def new_purpose(data: dict[str, Any]) -> None:
    data["stations"][3]["purpose"] = {"it": "Controllo dei varchi della ZTL.", "en": "ZTL gate."}


def new_station(data: dict[str, Any]) -> None:
    last = data["stations"][-1]
    zones = [{**zone, "name": f"nuova_{index}"} for index, zone in enumerate(last.get("zones", []))]
    added = {**last, "id": "nuova", "camera": "nuova", "name": "Nuova postazione", "zones": zones}
    data["stations"].append(added)


def check(config: Path, out: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["privacy", "pack", "-c", str(config), "--out", str(out), "--check"])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


@pytest.mark.parametrize("change", [new_purpose, new_station])
def test_check_passes_on_a_fresh_pack_and_flags_a_changed_registry(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], change: Any
) -> None:
    registry = registry_copy(tmp_path, lambda data: None)
    config = write_config(tmp_path, registry)
    out = tmp_path / "pack"
    assert main(["privacy", "pack", "-c", str(config), "--out", str(out)]) == 0
    files = {str(path.relative_to(out)) for path in out.rglob("*") if path.is_file()}
    names = {
        f"{lang}/{doc}.{suffix}"
        for lang in LANGS
        for doc in DOCUMENT_IDS
        for suffix in ("md", "html")
    }
    assert files == names | {MANIFEST}
    manifest = json.loads((out / MANIFEST).read_text())
    assert set(manifest["sections"]) == set(SECTIONS)
    assert manifest["documents"]["notices"]["sections"] == ["stations", "retention", "controller"]
    assert len(manifest["documents"]["dpia"]["files"]) == 4
    hash_line = f"`{manifest['documents']['dpia']['hash']}`"
    assert hash_line in (out / "it" / "dpia.md").read_text()
    code, said = check(config, out, capsys)
    assert code == 0 and "matches the configuration" in said

    registry_copy(tmp_path, change)  # the settings' registry file, changed
    code, said = check(config, out, capsys)
    assert code == 1
    assert "changed: stations" in said
    for doc in DOCUMENT_IDS:  # every document states the stations
        assert f"  {doc}: out of date (stations)" in said

    assert main(["privacy", "pack", "-c", str(config), "--out", str(out)]) == 0
    assert check(config, out, capsys)[0] == 0


def test_check_flags_a_changed_retention_and_refuses_a_missing_or_garbled_manifest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, REGISTRY)
    out = tmp_path / "pack"
    assert main(["privacy", "pack", "-c", str(config), "--out", str(out)]) == 0
    write_config(tmp_path, REGISTRY, privacy={"retention": {"audit": 180}})
    code, said = check(config, out, capsys)
    assert code == 1
    assert "changed: retention, measures" in said
    assert "  notices: out of date (retention)" in said
    assert "  dpia: out of date (retention, measures)" in said
    assert "  todo:" not in said  # the to-do list does not state the retention

    code, said = check(config, tmp_path / "elsewhere", capsys)
    assert code == 2 and "no manifest" in said
    (out / MANIFEST).write_text("{not json")
    code, said = check(config, out, capsys)
    assert code == 2 and "not a pack manifest" in said
    (out / MANIFEST).write_text(json.dumps({"format": 1, "sections": []}))
    code, said = check(config, out, capsys)
    assert code == 2 and "not a pack manifest" in said
    bad = tmp_path / "bad.yaml"
    bad.write_text("privacy: {retention: {transits: -1}}")
    assert main(["privacy", "pack", "-c", str(bad), "--out", str(out)]) == 2


def test_the_cli_records_the_pack_in_the_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, REGISTRY)
    out = tmp_path / "pack"
    assert main(["privacy", "pack", "-c", str(config), "--out", str(out), "--by", "ufficio"]) == 0
    settings = settings_of(tmp_path, api={"token": ADMIN})
    store = Store(settings.store_url, worker="test")
    try:
        status = pack_status(store, current_inputs(store, settings))
        assert status.state == "current" and status.generated_by == "ufficio"
        with store.engine.begin() as connection:
            actions = [row.action for row in connection.execute(audit_log.select())]
        assert actions == ["privacy_pack"]
    finally:
        store.close()


# ---------------------------------------------------------------------------- status
@pytest.fixture(params=["sqlite", "postgresql"])
def store(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Store]:
    server = request.getfixturevalue("postgres_url") if request.param == "postgresql" else None
    with store_on(request.param, tmp_path_factory.mktemp("pack"), server) as opened:
        yield opened


def test_pack_status_goes_missing_current_outdated(store: Store, tmp_path: Path) -> None:
    settings = settings_of(tmp_path)
    assert pack_status(store, current_inputs(store, settings)).state == "missing"
    record_pack(store, build_pack(current_inputs(store, settings), generated_by="test"))
    status = pack_status(store, current_inputs(store, settings))
    assert (status.state, status.outdated, status.changed) == ("current", (), ())
    assert status.generated_at is not None

    hotlists = Hotlists(store)
    hotlists.create_list("rubati", "Veicoli rubati", "stolen", created_by="test")
    hotlists.put_entry("rubati", "AB123CD", "furto", added_by="test")
    status = pack_status(store, current_inputs(store, settings))
    assert status.state == "outdated"
    assert status.changed == ("lists",)
    assert status.outdated == ("dpia", "informativa", "record", "todo")

    record_pack(store, build_pack(current_inputs(store, settings), generated_by="test"))
    # A plate on a list is no change of the lists' definitions.
    hotlists.put_entry("rubati", "EF456GH", "furto", added_by="test")
    assert pack_status(store, current_inputs(store, settings)).state == "current"
    changed = settings_of(tmp_path, privacy={"controller": {"name": "Comune di Rufina"}})
    status = pack_status(store, current_inputs(store, changed))
    assert status.changed == ("controller",)
    assert status.outdated == DOCUMENT_IDS


# ---------------------------------------------------------------------------- API
@pytest.fixture
async def client(tmp_path: Path, recognizer: Recognizer) -> AsyncIterator[TestClient[Any, Any]]:
    engine = Engine(settings_of(tmp_path), recognizer)
    async with api_client(engine) as test_client:
        yield test_client
    await engine.stop(drain_timeout=0)


async def test_the_api_is_for_admins_and_follows_the_pack(
    client: TestClient[Any, Any],
) -> None:
    for method, path in (
        ("GET", "/api/v1/privacy/pack"),
        ("POST", "/api/v1/privacy/pack"),
        ("GET", "/api/v1/privacy/pack/documents/dpia"),
    ):
        response = await client.request(method, path, headers=AS_OPERATOR)
        assert response.status == 403, path
        assert (await client.request(method, path)).status == 401

    state = await (await client.get("/api/v1/privacy/pack", headers=AS_ADMIN)).json()
    assert (state["state"], state["generated_at"]) == ("missing", None)
    assert [doc["id"] for doc in state["documents"]] == list(DOCUMENT_IDS)
    assert state["documents"][0]["title"]["it"].startswith("Valutazione d'impatto")

    response = await client.post("/api/v1/privacy/pack", headers=AS_ADMIN)
    assert response.status == 200
    assert response.content_type == "application/zip"
    assert "attachment" in response.headers["Content-Disposition"]
    archive = zipfile.ZipFile(io.BytesIO(await response.read()))
    manifest = json.loads(archive.read(MANIFEST))
    assert manifest["generated_by"] == "admin"
    assert len(archive.namelist()) == 21
    dpia = archive.read("it/dpia.md").decode()
    assert all(station.name in dpia for station in load_registry(REGISTRY).stations)

    state = await (await client.get("/api/v1/privacy/pack", headers=AS_ADMIN)).json()
    assert (state["state"], state["generated_by"]) == ("current", "admin")

    # Through Home Assistant: the pack's author is the person, and the audit log names them.
    response = await client.post(
        "/api/v1/privacy/pack",
        headers={
            "Authorization": f"Bearer {HOME_ASSISTANT}",
            "X-Rufina-Acting-User": "Comandante%20Bianchi",
        },
    )
    archive = zipfile.ZipFile(io.BytesIO(await response.read()))
    assert (
        json.loads(archive.read(MANIFEST))["generated_by"]
        == "Comandante Bianchi via home-assistant"
    )
    state = await (await client.get("/api/v1/privacy/pack", headers=AS_ADMIN)).json()
    assert state["generated_by"] == "Comandante Bianchi via home-assistant"
    store = client.app[CONTEXT_KEY].store
    with store.engine.begin() as connection:
        entries = connection.execute(
            audit_log.select().where(audit_log.c.action == "privacy_pack")
        ).all()
    assert [(e.actor, e.acting_user) for e in entries] == [
        ("admin", None),
        ("home-assistant", "Comandante Bianchi"),
    ]
    assert [doc["hash"] for doc in state["documents"]] == [
        manifest["documents"][doc]["hash"] for doc in DOCUMENT_IDS
    ]

    response = await client.get(
        "/api/v1/privacy/pack/documents/notices", params={"lang": "en"}, headers=AS_ADMIN
    )
    assert response.status == 200 and response.content_type == "text/html"
    page = await response.text()
    assert '<html lang="en">' in page and "CCTV AREA WITH NUMBER PLATE READING" in page
    missing = await client.get("/api/v1/privacy/pack/documents/nothing", headers=AS_ADMIN)
    assert missing.status == 404
    wrong = await client.get(
        "/api/v1/privacy/pack/documents/dpia", params={"lang": "fr"}, headers=AS_ADMIN
    )
    assert wrong.status == 400

    # A list added: the lists' documents are out of date.
    created = await client.post(
        "/api/v1/hotlists",
        json={"id": "rubati", "name": "Veicoli rubati", "kind": "stolen"},
        headers=AS_ADMIN,
    )
    assert created.status == 201, await created.text()
    state = await (await client.get("/api/v1/privacy/pack", headers=AS_ADMIN)).json()
    assert (state["state"], state["changed"]) == ("outdated", ["lists"])
    assert state["outdated"] == ["dpia", "informativa", "record", "todo"]
    assert [doc["outdated"] for doc in state["documents"]] == [True, False, True, True, True]
