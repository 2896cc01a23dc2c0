"""Frigate replay: Frigate's MQTT event sequence and HTTP image paths, served from photos.

Frigate itself cannot run everywhere the engine is tested or demonstrated, so this module plays
its part faithfully: for each photo it publishes `frigate/events` messages shaped exactly like
Frigate's ``TrackedObject.to_dict`` with 0.17.2's timing (``new`` with the constructor state as
``before`` and no saved snapshot yet, ``update``s whose snapshot changes only for a better
thumbnail, ``end`` 5 s after the last sighting), and serves the photo on
``/api/events/<id>/snapshot.jpg`` like Frigate's API. Timestamps keep Frigate's real spacing
while the messages go out faster (`EventClock`), so tests and benchmarks stay quick. Faults can
be injected (HTTP errors, delays).

Also as Frigate 0.17 does: the clean snapshot copy (``snapshot-clean.webp``; ``.png`` when
``version`` is older), the record stream's frames (``/api/<camera>/recordings/<t>/snapshot.jpg``,
full resolution, while snapshots come from the lower-resolution detect stream when a
`CameraGeometry` is set; only once the frame's 10 s segment is moved, after the event),
``/api/config``, ``/api/events`` (for reconciliation), write-back of
``recognized_license_plate`` / ``sub_label`` (admin), its own LPR results (``tracked_object_update``
type ``lpr`` and ``recognized_license_plate`` on events), dedicated LPR cameras (no
``frigate/events``: only ``tracked_object_update`` and ``reviews``), QoS 0 loss (messages dropped
on purpose), ``frigate/available`` with its last will, camera status and ``frigate/stats``, and the
8971 port's login (JWT cookie, 401 without it) with optional TLS. With an `Approach`
(``approach=``), each photo is a vehicle approaching the camera over several frames
(`sim/approach.py`), its snapshots chosen by Frigate's rules.

The two halves live apart: `frigate_mqtt.FrigateMqtt` publishes and records the events,
`frigate_http.FrigateHttp` serves them; both share one `frigate_state.FrigateState`, and
`FrigateReplay` puts them together.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterable
from typing import Any

from rufina_alpr.sim.approach import Approach
from rufina_alpr.sim.frigate_http import FrigateAuth, FrigateHttp, HttpFaults
from rufina_alpr.sim.frigate_mqtt import FrigateMqtt, LprFunction
from rufina_alpr.sim.frigate_state import FRIGATE_VERSION
from rufina_alpr.sim.photos import CameraGeometry, Photo


class FrigateReplay(FrigateMqtt):
    """Serves Frigate's HTTP paths and publishes its MQTT events for a list of photos.

    The MQTT half is this class's base (so a subclass can wrap `publish`); the HTTP half is
    `http`, serving the same events; its settings and logs are read here too."""

    def __init__(
        self,
        photos: list[Photo],
        *,
        cameras: Iterable[str],
        mqtt_host: str,
        mqtt_port: int,
        http_host: str = "127.0.0.1",
        http_port: int = 0,
        topic_prefix: str = "frigate",
        qos: int = 0,
        seed: int = 1,
        geometry: CameraGeometry | None = None,
        lpr: LprFunction | None = None,
        tls: ssl.SSLContext | None = None,
        version: str = FRIGATE_VERSION,
        approach: Approach | None = None,
    ) -> None:
        super().__init__(
            photos,
            cameras=cameras,
            mqtt_host=mqtt_host,
            mqtt_port=mqtt_port,
            topic_prefix=topic_prefix,
            qos=qos,
            seed=seed,
            geometry=geometry,
            lpr=lpr,
            version=version,
            approach=approach,
        )
        self.http = FrigateHttp(self, host=http_host, port=http_port, tls=tls)

    @property
    def url(self) -> str:
        return self.http.url

    @property
    def auth(self) -> FrigateAuth | None:
        """Port 8971's login (None: port 5000, no authentication)."""
        return self.http.auth

    @auth.setter
    def auth(self, auth: FrigateAuth | None) -> None:
        self.http.auth = auth

    @property
    def faults(self) -> HttpFaults:
        return self.http.faults

    @property
    def requests(self) -> list[str]:
        """The image and event paths asked for (``401 <path>`` when refused)."""
        return self.http.requests

    @property
    def write_backs(self) -> list[tuple[str, dict[str, Any]]]:
        """(path, JSON body) of each accepted write-back POST."""
        return self.http.write_backs

    def preload_clean_copies(self) -> None:
        self.http.preload_clean_copies()

    async def start(self) -> None:
        await self.http.start()
        await super().start()

    async def stop(self) -> None:
        """A clean stop as in 0.17: Frigate just disconnects (``available`` stays ``online``)."""
        await super().stop()
        await self.http.stop()
