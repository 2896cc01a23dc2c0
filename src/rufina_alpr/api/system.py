"""The system's resources: health (public), the OpenAPI description, engine info, the MQTT
contract key, statistics and Prometheus metrics.
"""

from __future__ import annotations

import logging
from typing import Final

from aiohttp import web

from rufina_alpr import __version__, contract
from rufina_alpr.api.auth import PRINCIPAL_KEY, requires
from rufina_alpr.api.context import CONTEXT_KEY, OPENAPI_KEY, ApiContext
from rufina_alpr.api.params import not_found
from rufina_alpr.metrics import COUNTER_NAMES

_LOGGER = logging.getLogger("rufina_alpr.api")  # log lines keep api.py's logger name


async def health(request: web.Request) -> web.Response:
    """Liveness, and whether vehicles become transits: ``degraded`` while the store fails, the
    broker is away or Frigate's API does not answer.

    Still 200 then: the add-on's watchdog restarts on anything else, which mends none of them.
    """
    context = request.app[CONTEXT_KEY]
    store = context.store_health()
    mqtt = context.mqtt.connected.is_set()
    client = context.frigate()
    frigate = client is None or client.reachable is not False
    return web.json_response(
        {
            "status": "ok" if store["state"] == "ok" and mqtt and frigate else "degraded",
            "mqtt": mqtt,
            "frigate": frigate,
            "queue": context.queue_length(),
            "store": store,
            # The comune's privacy obligations: the pack's state, the requests due (no plate).
            "privacy": context.privacy_health(),
        }
    )


async def openapi(request: web.Request) -> web.Response:
    path = request.app[OPENAPI_KEY]
    if not path.is_file():
        raise not_found("the OpenAPI description is not installed with this engine")
    return web.Response(body=path.read_bytes(), content_type="application/yaml")


@requires("viewer")
async def info(request: web.Request) -> web.Response:
    context = request.app[CONTEXT_KEY]
    return web.json_response(
        {
            "instance": context.settings.instance,
            "engine_version": __version__,
            "contract_version": contract.CONTRACT_VERSION,
            "stations": len(context.settings.stations),
            "detector": context.recognizer.info.detector,
            "ocr": context.recognizer.info.ocr,
            "role": request[PRINCIPAL_KEY].role,
            # Whether this token may act for others (X-Rufina-Acting-User): HA's must.
            "delegate": request[PRINCIPAL_KEY].delegate,
        }
    )


@requires("viewer")
async def contract_key(request: web.Request) -> web.Response:
    """The MQTT contract's version and signing key: consumers verify the engine's messages with
    it (docs/mqtt.md, Signatures). Viewer: Home Assistant may hold a viewer token; whoever holds
    it could sign messages, so API tokens are given to trusted consumers only."""
    context = request.app[CONTEXT_KEY]
    _LOGGER.info("MQTT signing key read by %s", request[PRINCIPAL_KEY].who)
    return web.json_response(
        {
            "contract_version": contract.CONTRACT_VERSION,
            "signature": "hmac-sha256",
            "key_id": context.signer.kid,
            "signing_key": context.signer.key,
        },
        headers={"Cache-Control": "no-store"},
    )


@requires("viewer")
async def stats(request: web.Request) -> web.Response:
    return web.json_response(await request.app[CONTEXT_KEY].stats_payload())


_COUNTER_HELP: Final = {
    "events_received": "Frigate event messages received",
    "transits_stored": "Transits stored",
    "transits_published": "Transits published on MQTT",
}


def prometheus_text(context: ApiContext) -> str:
    """The engine's counters and latency in Prometheus' text exposition format (no plates)."""
    lines: list[str] = []
    counters = context.metrics.snapshot()
    for name in sorted(set(COUNTER_NAMES) | set(counters)):
        metric = f"rufina_alpr_{name}_total"
        helptext = _COUNTER_HELP.get(name, name.replace("_", " ").capitalize())
        lines += [
            f"# HELP {metric} {helptext}.",
            f"# TYPE {metric} counter",
            f"{metric} {counters.get(name, 0)}",
        ]
    latency = context.metrics.latency_ms()
    lines += [
        "# HELP rufina_alpr_read_latency_seconds Plate read latency (recent window).",
        "# TYPE rufina_alpr_read_latency_seconds summary",
    ]
    for quantile, key in (("0.5", "p50"), ("0.95", "p95")):
        value = latency[key]
        shown = "NaN" if value is None else repr(round(value / 1000, 6))
        lines.append(f'rufina_alpr_read_latency_seconds{{quantile="{quantile}"}} {shown}')
    lines += [
        "# HELP rufina_alpr_queue_length Images waiting for or in recognition.",
        "# TYPE rufina_alpr_queue_length gauge",
        f"rufina_alpr_queue_length {context.queue_length()}",
        "# HELP rufina_alpr_mqtt_connected 1 when the engine is connected to the broker.",
        "# TYPE rufina_alpr_mqtt_connected gauge",
        f"rufina_alpr_mqtt_connected {int(context.mqtt.connected.is_set())}",
        "# HELP rufina_alpr_stations Configured stations.",
        "# TYPE rufina_alpr_stations gauge",
        f"rufina_alpr_stations {len(context.settings.stations)}",
        "# HELP rufina_alpr_info Engine version.",
        "# TYPE rufina_alpr_info gauge",
        f'rufina_alpr_info{{version="{_label(__version__)}",'
        f'instance="{_label(context.settings.instance)}"}} 1',
    ]
    return "\n".join(lines) + "\n"


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


@requires("viewer")
async def metrics(request: web.Request) -> web.Response:
    response = web.Response(text=prometheus_text(request.app[CONTEXT_KEY]))
    response.content_type = "text/plain"
    response.charset = "utf-8"
    response.headers["Content-Type"] = "text/plain; version=0.0.4; charset=utf-8"
    return response


def routes() -> list[web.RouteDef]:
    return [
        web.get("/api/health", health),
        web.get("/api/openapi.yaml", openapi),
        web.get("/metrics", metrics),
        web.get("/api/v1/info", info),
        web.get("/api/v1/contract", contract_key),
        web.get("/api/v1/stats", stats),
    ]
