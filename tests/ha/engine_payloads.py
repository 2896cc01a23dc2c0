"""Run by the engine's own Python (not Home Assistant's): real payloads from a real photo.

The Home Assistant test `test_contract.py::test_real_engine_payloads` starts this script with the
engine's interpreter (the engine needs onnxruntime, which the integration never imports), reads
the JSON it prints and feeds the payloads to the integration over the harness's MQTT.

What it does is what the engine does for one Frigate event: the recognizer reads a labelled photo
with the offline models, the reads are fused, a `Transit` is built for an LPR station of the town's
registry and the contract's builders turn it, the status and the station list into payloads,
signed with KEY as the engine signs what it publishes.

Usage: python engine_payloads.py PHOTO INSTANCE KEY
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
import json
from pathlib import Path
import sys

from rufina_alpr import contract
from rufina_alpr.fusion import fuse
from rufina_alpr.paths import default_models_dir, default_registry
from rufina_alpr.recognizer import Recognizer, decode_image, model_settings_for
from rufina_alpr.stations import load_registry
from rufina_alpr.transits import Transit


def main(photo: str, instance: str, key: str) -> int:
    """Print {"status", "stations", "transit", "crop_b64"} as one JSON object."""
    registry_path = default_registry()
    if registry_path is None:
        print("no station registry in this checkout", file=sys.stderr)
        return 2
    registry = load_registry(registry_path)
    station = next(station for station in registry.stations if station.reads_plates)

    recognizer = Recognizer(model_settings_for(default_models_dir(), threads=2))
    image = decode_image(Path(photo).read_bytes(), max_pixels=60_000_000)
    reads = recognizer.read(image)
    fused = fuse(reads)
    if fused is None:
        print(f"no plate read on {photo}", file=sys.stderr)
        return 1

    event_id = "1764054902.120000-realph"
    transit = Transit.of_fused(
        fused,
        event_id=event_id,
        station_id=station.id,
        camera=station.camera,
        time=datetime.now(UTC).astimezone(),
        vehicle="car",
        direction=station.direction,
    )
    out = {
        "status": contract.status_payload(
            state="online",
            instance=instance,
            api_url="http://127.0.0.1:8787",
            since=datetime.now(UTC),
        ),
        "stations": contract.stations_payload(registry.stations),
        "transit": contract.transit_payload(transit, station.name),
        "crop_b64": base64.b64encode(transit.crop_jpeg or b"").decode(),
    }
    signer = contract.Signer(key)
    for kind in ("status", "stations", "transit"):
        contract.validate(kind, out[kind])  # type: ignore[arg-type]
        out[kind] = signer.sign(out[kind])  # type: ignore[arg-type]
    sys.stdout.write(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
