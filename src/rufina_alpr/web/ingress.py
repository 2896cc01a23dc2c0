"""Home Assistant ingress: who a request that came through the Supervisor's proxy is.

The add-on's panel opens in Home Assistant's sidebar; the browser talks to Home Assistant, which
forwards to the Supervisor, which proxies to the engine from its fixed address on the add-on
network (``172.30.32.2``) and adds ``X-Ingress-Path`` (the panel's URL prefix) and, since 2023,
``X-Remote-User-Id`` / ``X-Remote-User-Name`` / ``X-Remote-User-Display-Name`` for the logged-in
Home Assistant user. A TCP peer address cannot be forged from the LAN, so with
``api.ingress.enabled`` a request whose *peer* is one of ``api.ingress.trusted_proxies`` and
that carries ``X-Ingress-Path`` is that user, with role ``api.ingress.role`` (``admin`` for the
names in ``api.ingress.admins``). Anything else still needs a bearer token. Headers such as
``X-Forwarded-For`` are never consulted.
"""

from __future__ import annotations

import re
from typing import Final

from aiohttp import web

from rufina_alpr.config import IngressSettings

INGRESS_HEADER: Final = "X-Ingress-Path"
USER_HEADER: Final = "X-Remote-User-Name"
DISPLAY_HEADER: Final = "X-Remote-User-Display-Name"
# What an ingress path may look like (the Supervisor's is /api/hassio_ingress/<token>).
_SAFE_PATH: Final = re.compile(r"^(/[A-Za-z0-9._~-]+)+$")
_SAFE_NAME: Final = re.compile(r"^[\w .@+-]{1,120}$")
DEFAULT_NAME: Final = "ha-ingress"


def ingress_path(request: web.BaseRequest) -> str:
    """The ingress prefix of this request (``""`` when none or when it looks wrong)."""
    value = request.headers.get(INGRESS_HEADER, "").rstrip("/")
    return value if _SAFE_PATH.match(value) else ""


def ingress_identity(settings: IngressSettings, request: web.BaseRequest) -> tuple[str, str] | None:
    """(name, role) of a request proxied by Home Assistant's ingress, or None."""
    if not settings.enabled or INGRESS_HEADER not in request.headers:
        return None
    peer = request.transport.get_extra_info("peername") if request.transport else None
    address = peer[0] if isinstance(peer, tuple) and peer else None
    if address is None or address not in settings.trusted_proxies:
        return None
    name = request.headers.get(USER_HEADER, "").strip()
    if not _SAFE_NAME.match(name):
        name = DEFAULT_NAME
    role = "admin" if name in settings.admins else settings.role
    return f"ha:{name}", role
