"""Traffic counts (by bucket, vehicle, direction) and unique vehicles."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Final

from aiohttp import web

from rufina_alpr import traffic
from rufina_alpr.api.auth import requires
from rufina_alpr.api.context import CONTEXT_KEY
from rufina_alpr.api.params import Params, bad_request, csv_response, iso, time_window

# The longest window per bucket size (bounded answers: 34 stations x buckets x classes).
TRAFFIC_MAX_DAYS: Final = {"15m": 31, "1h": 92, "1d": 732}

UNIQUE_MAX_DAYS: Final = 732

# The groupings as sent (docs/openapi.yaml has the same pattern).
TRAFFIC_BY: Final = re.compile(r" *(?:none|(?:vehicle|direction)(?: *, *(?:vehicle|direction))*) *")


@requires("viewer")
async def traffic_counts(request: web.Request) -> web.Response:
    """Vehicles per station and 15 min / hour / day bucket, by class and direction (no plates)."""
    context = request.app[CONTEXT_KEY]
    tz = context.settings.timezone
    params = Params(request)
    period = params.choice("period", traffic.PERIODS, "1h")
    assert period is not None
    stations = params.stations("station")
    raw_by = params.text("by", max_length=32)
    by: tuple[str, ...] = ("vehicle", "direction")
    if raw_by is not None:
        if not TRAFFIC_BY.fullmatch(request.query.get("by", "")):
            raise bad_request("'by' is a comma-separated list of vehicle and direction, or none")
        by = tuple(part.strip() for part in raw_by.split(","))
        if by == ("none",):
            by = ()
    fmt = params.choice("format", ("json", "csv"), "json")
    since, until = time_window(
        params,
        longest_days=TRAFFIC_MAX_DAYS[period],
        default_since=lambda end: traffic.bucket_start(end, "1d", tz),
    )
    rows = await context.run(
        lambda: traffic.counts(
            context.store,
            period=period,  # type: ignore[arg-type]
            start=since,
            end=until,
            stations=stations or None,
            by=by,  # type: ignore[arg-type]
            tz=tz,
        )
    )
    if fmt == "csv":
        return csv_response(traffic.to_csv(rows), f"traffic-{period}.csv")
    return web.json_response(
        {
            "period": period,
            "since": iso(since),
            "until": iso(until),
            "by": list(by),
            "counts": [
                {
                    "station": row.station_id,
                    "start": iso(row.start),
                    "vehicle": row.vehicle,
                    "direction": row.direction,
                    "count": row.count,
                }
                for row in rows
            ],
        }
    )


@requires("viewer")
async def traffic_unique(request: web.Request) -> web.Response:
    """Distinct vehicles per station (``*``: the network) per local day; counts only."""
    context = request.app[CONTEXT_KEY]
    tz = context.settings.timezone
    params = Params(request)
    stations = params.stations("station")
    since, until = time_window(
        params, longest_days=UNIQUE_MAX_DAYS, default_since=lambda end: end - timedelta(days=7)
    )
    first = since.astimezone(tz).date()
    last = until.astimezone(tz).date() + timedelta(days=1) if until > since else first
    wanted = [*stations, traffic.NETWORK] if stations else None
    store = context.store
    rows = await context.run(
        lambda: traffic.unique_vehicles(store, start=first, end=last, stations=wanted, tz=tz)
    )
    return web.json_response(
        {
            "since": iso(since),
            "until": iso(until),
            "days": [
                {"station": row.station_id, "day": row.day.isoformat(), "vehicles": row.vehicles}
                for row in rows
            ],
        }
    )


def routes() -> list[web.RouteDef]:
    return [
        web.get("/api/v1/traffic", traffic_counts),
        web.get("/api/v1/traffic/unique", traffic_unique),
    ]
