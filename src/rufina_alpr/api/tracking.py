"""Tracking queries over stored transits: a vehicle's route, seen-then, loitering and travel
times between stations.
"""

from __future__ import annotations

from typing import Final

from aiohttp import web

from rufina_alpr import tracking
from rufina_alpr.api.audit import audited_results, justified
from rufina_alpr.api.auth import requires
from rufina_alpr.api.context import CONTEXT_KEY
from rufina_alpr.api.params import (
    Params,
    bad_request,
    csv_response,
    csv_text,
    iso,
    plate_param,
    seconds_param,
    time_window,
)


@requires("operator")
async def vehicle_route(request: web.Request) -> web.Response:
    """A plate's journeys (transits split on gaps longer than `journey_gap`) and legs."""
    context = request.app[CONTEXT_KEY]
    asked = justified(request)
    params = asked.params
    plate = plate_param(params, "plate", required=True)
    assert plate is not None
    if "*" in plate or "?" in plate:
        raise bad_request("'plate': a route is for one plate, without wildcards")
    since, until = params.time_range()
    gap = seconds_param(params, "journey_gap", context.settings.tracking.journey_gap, 7 * 86400)
    journeys = await context.run(
        lambda: tracking.route(context.store, plate, since, until, journey_gap=gap)
    )
    count = sum(len(j.transits) for j in journeys)
    await asked.record(
        "route",
        {"plate": plate, "since": since, "until": until, "journey_gap": gap.total_seconds()},
        results=count,
    )
    body = {
        "plate": plate,
        "journey_gap": gap.total_seconds(),
        "transits": count,
        "journeys": [
            {
                "start": iso(journey.start),
                "end": iso(journey.end),
                "duration": (journey.end - journey.start).total_seconds(),
                "stations": list(journey.stations),
                "legs": [
                    {
                        "from_station": a.station_id,
                        "to_station": b.station_id,
                        "seconds": (b.time - a.time).total_seconds(),
                    }
                    for a, b in zip(journey.transits, journey.transits[1:], strict=False)
                ],
                "transits": [context.transit_payload(t) for t in journey.transits],
            }
            for journey in journeys
        ],
    }
    return web.json_response(body)


@requires("operator")
async def seen_then(request: web.Request) -> web.Response:
    """Vehicles seen at station A and then at station B within `within` seconds."""
    context = request.app[CONTEXT_KEY]
    asked = justified(request)
    params = asked.params
    station_a = params.station("from_station", required=True)
    station_b = params.station("to_station", required=True)
    assert station_a is not None and station_b is not None
    within = seconds_param(params, "within", 3600, 7 * 86400)
    since, until = time_window(params)
    limit, offset = params.page()
    found = await context.run(
        lambda: tracking.seen_then(
            context.store, station_a, station_b, start=since, end=until, within=within
        )
    )
    return await audited_results(
        asked,
        "seen_then",
        {
            "from_station": station_a,
            "to_station": station_b,
            "within": within.total_seconds(),
            "since": since,
            "until": until,
        },
        found,
        lambda item: {
            "plate": item.plate,
            "elapsed": item.elapsed.total_seconds(),
            "first": context.transit_payload(item.first),
            "then": context.transit_payload(item.then),
        },
        page=(limit, offset),
        window=(since, until),
    )


@requires("operator")
async def loitering(request: web.Request) -> web.Response:
    """Plates seen at least `min_count` times within `window` seconds (at a station or anywhere)."""
    context = request.app[CONTEXT_KEY]
    asked = justified(request)
    params = asked.params
    station = params.station("station")
    min_count = params.integer("min_count", 3, 2, 10_000)
    assert min_count is not None
    window = seconds_param(params, "window", 3600, 31 * 86400)
    since, until = time_window(params)
    limit, offset = params.page()
    found = await context.run(
        lambda: tracking.loitering(
            context.store, station, min_count=min_count, window=window, start=since, end=until
        )
    )
    return await audited_results(
        asked,
        "loitering",
        {
            "station": station,
            "min_count": min_count,
            "window": window.total_seconds(),
            "since": since,
            "until": until,
        },
        found,
        lambda item: {
            "plate": item.plate,
            "count": item.count,
            "first": iso(item.first),
            "last": iso(item.last),
            "transit_ids": list(item.transit_ids),
        },
        page=(limit, offset),
        window=(since, until),
    )


TRAVEL_FIELDS: Final = ("from_station", "to_station", "count", "median", "p90")


@requires("viewer")
async def travel_times(request: web.Request) -> web.Response:
    """Travel times (median, p90, seconds) between consecutive stations of journeys: no plates."""
    context = request.app[CONTEXT_KEY]
    params = Params(request)
    since, until = time_window(params)
    stations = params.stations("station")
    gap = seconds_param(params, "journey_gap", context.settings.tracking.journey_gap, 7 * 86400)
    fmt = params.choice("format", ("json", "csv"), "json")
    pairs = await context.run(
        lambda: tracking.travel_times(context.store, since, until, gap, stations=stations or None)
    )
    rows = [
        {
            "from_station": p.from_station,
            "to_station": p.to_station,
            "count": p.count,
            "median": round(p.median, 1),
            "p90": round(p.p90, 1),
        }
        for p in pairs
    ]
    if fmt == "csv":
        return csv_response(csv_text(rows, TRAVEL_FIELDS), "travel-times.csv")
    return web.json_response(
        {
            "since": iso(since),
            "until": iso(until),
            "journey_gap": gap.total_seconds(),
            "pairs": rows,
        }
    )


def routes() -> list[web.RouteDef]:
    return [
        web.get("/api/v1/route", vehicle_route),
        web.get("/api/v1/queries/seen-then", seen_then),
        web.get("/api/v1/queries/loitering", loitering),
        web.get("/api/v1/travel-times", travel_times),
    ]
