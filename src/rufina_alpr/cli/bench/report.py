"""`rufina-alpr bench`: the printed table, the load-sweep chart, the output folder check."""

from __future__ import annotations

import itertools
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table


# ----------------------------------------------------------------------------------- output
def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} ms"


def _share(counts: dict[str, int] | None) -> str:
    if counts is None:
        return "-"
    labelled = counts["labelled"]
    return f"{counts['exact']}/{labelled} ({100 * counts['exact'] / max(1, labelled):.0f}%)"


def print_sets(sets: dict[str, Any], console: Console) -> None:
    """Plates read right per development set: the engine, fast-alpr on the frame and the crop
    (and on approaching vehicles the engine on Frigate's detect-stream snapshots)."""
    table = Table(title=f"accuracy per set (exact, O = 0) — {sets['seconds']:.0f} s")
    columns = (
        "set",
        "engine",
        "fast-alpr frame",
        "fast-alpr crop",
        "engine CPU/vehicle",
        "engine, detect snapshots",
    )
    for column in columns:
        table.add_column(column, justify="left" if column == "set" else "right")
    for row in sets["sets"]:
        cpu = row["engine_cpu_ms_per_vehicle"]
        table.add_row(
            row["name"],
            _share(row["engine"]),
            _share(row["fast_alpr_frame"]),
            _share(row["fast_alpr_crop"]),
            _ms(cpu),
            _share(row.get("engine_detect")),
        )
    console.print(table)


def add_alert_rows(table: Table, alerts: dict[str, Any]) -> None:
    """The alert latency rows: in view (provisional) and, for comparison, at `end` only."""
    for name, label in (("in_view", "in-view alerts"), ("at_end", "alerts at end only")):
        phase = alerts.get(name)
        if not phase:
            continue
        lat = phase["alert_latency_ms"]
        table.add_row(
            f"alert latency p50 / p95, {label} (first snapshot → MQTT)",
            f"{_ms(lat['p50'])} / {_ms(lat['p95'])}",
        )
        table.add_row(
            "  alerts / hotlisted vehicles read / provisional / withdrawn / before end",
            f"{phase['alerts']} / {phase['hotlisted_read']} / {phase['provisional']} / "
            f"{phase['withdrawn']} / {phase['before_end']}",
        )


def print_alerts(alerts: dict[str, Any], console: Console) -> None:
    table = Table(title=f"rufina-alpr bench alerts — {alerts['in_view']['vehicles']} vehicles")
    table.add_column("measure")
    table.add_column("value", justify="right")
    add_alert_rows(table, alerts)
    console.print(table)


def print_report(report: dict[str, Any], console: Console) -> None:
    raw, engine, ratio = report["raw"], report["engine"], report["ratio"]
    table = Table(
        title=f"rufina-alpr bench — {report['options']['photos']} photos", show_lines=False
    )
    table.add_column("measure")
    table.add_column("value", justify="right")
    for run in (raw, report.get("raw_same_models")):
        if run is None:
            continue
        single, pooled = run["single"], run["workers"]
        table.add_row(
            f"raw fast-alpr {run['detector']}, 1 caller ({single['onnx_threads']} onnx threads):"
            " images/s",
            f"{single['images_per_s']:.2f}",
        )
        table.add_row(
            "  per-image latency p50 / p95",
            f"{_ms(single['latency_ms']['p50'])} / {_ms(single['latency_ms']['p95'])}",
        )
        table.add_row(
            f"raw fast-alpr {run['detector']}, {pooled['callers']} callers (1 onnx thread each):"
            " images/s",
            f"{pooled['images_per_s']:.2f}",
        )
        table.add_row(
            "  per-image latency p50 / p95",
            f"{_ms(pooled['latency_ms']['p50'])} / {_ms(pooled['latency_ms']['p95'])}",
        )
    table.add_row("engine (1 process): vehicles/s sustained", f"{engine['vehicles_per_s']}")
    table.add_row(
        f"ratio engine ÷ best raw {raw['detector']}", f"{ratio['engine_vs_raw_throughput']}"
    )
    if report.get("raw_same_models"):
        table.add_row(
            f"ratio engine ÷ best raw {report['raw_same_models']['detector']} (same models)",
            f"{ratio['engine_vs_raw_same_models']}",
        )
    lat = engine["latency_ms"]
    table.add_row(
        f"end → transit latency p50 / p95 / p99 (at {engine['latency_load_per_s']} ev/s)",
        f"{_ms(lat['p50'])} / {_ms(lat['p95'])} / {_ms(lat['p99'])}",
    )
    table.add_row(
        f"p95 ÷ one inference (raw p50 {ratio['one_inference_ms']:.0f} ms)",
        f"{ratio['p95_latency_vs_one_inference']}",
    )
    if report.get("alerts"):
        add_alert_rows(table, report["alerts"])
    table.add_row("engine peak RSS", f"{engine['peak_rss_mb']:.0f} MB")
    table.add_row("engine CPU per vehicle (saturated)", f"{engine['cpu_seconds_per_vehicle']} s")
    table.add_row(
        "  benchmark rig CPU per vehicle (replay, subscriber, Mosquitto)",
        f"{engine['rig_cpu_seconds_per_vehicle']} s",
    )
    counters = engine.get("counters") or {}
    if counters:
        table.add_row(
            "engine reads done / optional reads skipped",
            f"{counters.get('reads_done', 0)} / {counters.get('reads_skipped_busy', 0)}",
        )
    for who in ("raw", "raw_same_models", "engine"):
        acc = report["accuracy"].get(who)
        if acc is None:
            continue
        table.add_row(
            f"accuracy {who}: exact / ≤1 char wrong / no read (of {acc['labelled']})",
            f"{acc['exact']} / {acc['within_one']} / {acc['no_read']}",
        )
    scale = report.get("scale_out")
    if scale:
        table.add_row(
            f"{scale['processes']} processes (shared subscription, PostgreSQL): vehicles/s",
            f"{scale['vehicles_per_s']} (1 process: {scale['vehicles_per_s_one']})",
        )
        table.add_row("  speed-up", f"{scale['speed_up']}")
        table.add_row(
            "  events offered / with outcome / duplicates / lost",
            f"{scale['events_offered']} / {scale['events_with_outcome']} / "
            f"{scale['duplicates']} / {scale['lost']}",
        )
        table.add_row(
            "  transits by process",
            ", ".join(f"{k.split('/')[-1]}: {v}" for k, v in scale["transits_by_process"].items()),
        )
        table.add_row(
            "  peak RSS per process", ", ".join(f"{v:.0f} MB" for v in scale["peak_rss_mb"])
        )
    console.print(table)
    sweep = Table(title=f"load sweep (late: latency > {report['options']['late_ms']:.0f} ms)")
    for column in (
        "offered/s",
        "events",
        "done/s",
        "p50",
        "p95",
        "p99",
        "max queue",
        "late",
        "unread",
        "lost",
    ):
        sweep.add_column(column, justify="right")
    for step in report["sweep"]:
        sweep.add_row(
            f"{step['offered_per_s']}",
            str(step["events"]),
            "-" if step["vehicles_per_s"] is None else f"{step['vehicles_per_s']}",
            _ms(step["latency_ms"]["p50"]),
            _ms(step["latency_ms"]["p95"]),
            _ms(step["latency_ms"]["p99"]),
            str(step["max_queue"]),
            str(step["late"]),
            str(step["unread"]),
            str(step["lost"]),
        )
    console.print(sweep)
    if report.get("sets"):
        print_sets(report["sets"], console)


def draw_chart(report: dict[str, Any], path: Path) -> None:
    """The load sweep as a PNG (OpenCV, already needed by the recognizer): p95 latency and
    achieved rate against the offered rate."""
    import cv2  # noqa: PLC0415

    width, height, left, bottom, top, right = 900, 520, 80, 60, 50, 80
    image = np.full((height, width, 3), 255, dtype=np.uint8)
    steps = report["sweep"]
    xs = [s["offered_per_s"] for s in steps]
    p95 = [s["latency_ms"]["p95"] or 0.0 for s in steps]
    done = [s["vehicles_per_s"] or 0.0 for s in steps]
    x_max = max([*xs, 1.0]) * 1.05
    y_max = max([*p95, 1.0]) * 1.1
    r_max = max([*done, *xs, 1.0]) * 1.1

    def point(x: float, y: float, top_value: float) -> tuple[int, int]:
        px = left + int((width - left - right) * x / x_max)
        py = height - bottom - int((height - bottom - top) * y / top_value)
        return px, py

    black, blue, red = (0, 0, 0), (200, 80, 0), (0, 0, 200)
    cv2.line(image, (left, height - bottom), (width - right, height - bottom), black, 1)
    cv2.line(image, (left, top), (left, height - bottom), black, 1)
    cv2.line(image, (width - right, top), (width - right, height - bottom), black, 1)
    font = cv2.FONT_HERSHEY_SIMPLEX
    for fraction in (0, 0.25, 0.5, 0.75, 1.0):
        _, y = point(0, y_max * fraction, y_max)
        cv2.putText(image, f"{y_max * fraction:.0f}", (5, y + 4), font, 0.4, red, 1)
        cv2.putText(
            image, f"{r_max * fraction:.1f}", (width - right + 5, y + 4), font, 0.4, blue, 1
        )
    for x in xs:
        px, _ = point(x, 0, 1)
        cv2.putText(image, f"{x:g}", (px - 8, height - bottom + 18), font, 0.4, black, 1)
    for series, top_value, colour in ((p95, y_max, red), (done, r_max, blue)):
        points = [point(x, y, top_value) for x, y in zip(xs, series, strict=True)]
        for a, b in itertools.pairwise(points):
            cv2.line(image, a, b, colour, 2, cv2.LINE_AA)
        for p in points:
            cv2.circle(image, p, 4, colour, -1)
    cv2.putText(image, "offered events/s", (width // 2 - 60, height - 15), font, 0.5, black, 1)
    cv2.putText(image, "p95 end->transit latency (ms)", (left, 25), font, 0.5, red, 1)
    cv2.putText(image, "vehicles/s done", (width - right - 130, 25), font, 0.5, blue, 1)
    cv2.putText(image, "rufina-alpr bench: load sweep", (left, 42), font, 0.45, black, 1)
    cv2.imwrite(str(path), image)


def unwritable_folder(folder: Path) -> str | None:
    """Why the report could not be written to ``folder`` (made if missing), None if it can."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as err:
        return err.strerror or type(err).__name__
    return None
