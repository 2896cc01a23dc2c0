"""Who a request is: bearer tokens (constant-time), roles (``requires``), a delegate acting for a
person (``X-Rufina-Acting-User``), Home Assistant ingress, and the middleware that checks all
of it, bounds the body and turns errors into JSON.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Final
from urllib.parse import unquote

from aiohttp import web

from rufina_alpr.api.context import (
    CONTEXT_KEY,
    ROUTE_PATTERN_KEY,
    TIMEOUTS_KEY,
    ApiContext,
    H,
    Handler,
)
from rufina_alpr.api.params import (
    MAX_AUTHOR,
    MAX_JSON_BYTES,
    ApiError,
    bounded_body,
    error_response,
    refuse_unknown_query,
)
from rufina_alpr.config import ROLES, IngressSettings

_LOGGER = logging.getLogger("rufina_alpr.api")  # log lines keep api.py's logger name

# ----------------------------------------------------------------------- HA ingress
# Home Assistant ingress: who a request that came through the Supervisor's proxy is.
#
# The add-on's panel opens in Home Assistant's sidebar; the browser talks to Home Assistant, which
# forwards to the Supervisor, which proxies to the engine from its fixed address on the add-on
# network (``172.30.32.2``) and adds ``X-Ingress-Path`` (the panel's URL prefix) and, since 2023,
# ``X-Remote-User-Id`` / ``X-Remote-User-Name`` / ``X-Remote-User-Display-Name`` for the logged-in
# Home Assistant user. A TCP peer address cannot be forged from the LAN, so with
# ``api.ingress.enabled`` a request whose *peer* is one of ``api.ingress.trusted_proxies`` and
# that carries ``X-Ingress-Path`` is that user, with role ``api.ingress.role`` (``admin`` for the
# names in ``api.ingress.admins``). Anything else still needs a bearer token. Headers such as
# ``X-Forwarded-For`` are never consulted.
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


# ----------------------------------------------------------------------- tokens and roles
PUBLIC_PATHS: Final = frozenset({"/api/health", "/api/openapi.yaml"})

ROLE_RANK: Final = {role: rank for rank, role in enumerate(ROLES)}

ADMIN_NAME: Final = "admin"

ACTING_USER_HEADER: Final = "X-Rufina-Acting-User"

MAX_ACTING_USER: Final = 120  # characters, decoded: the audit log's `acting_user`

# As urllib.parse.quote(text, safe="") writes it: unreserved characters and %XX, nothing else.
_PERCENT_ENCODED: Final = re.compile(r"(?:[A-Za-z0-9._~-]|%[0-9A-Fa-f]{2})+")


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the token's user (or Home Assistant's, through ingress) and its role; a
    ``delegate`` token may act for a person (``acting_user``, from X-Rufina-Acting-User)."""

    name: str
    role: str
    delegate: bool = False
    acting_user: str | None = None

    @property
    def who(self) -> str:
        """Who did it, where the engine records an author (hotlists, holds, evidence): the person
        and the token, "Comandante Bianchi via agente.rossi", within `MAX_AUTHOR` characters (a
        long name is cut, the token's user kept)."""
        if self.acting_user is None:
            return self.name
        via = f" via {self.name}"
        person = self.acting_user
        if len(person) + len(via) > MAX_AUTHOR:
            person = person[: max(MAX_AUTHOR - len(via) - 1, 0)] + "…"
        return (person + via)[:MAX_AUTHOR]


PRINCIPAL_KEY: Final[web.RequestKey[Principal]] = web.RequestKey("principal", Principal)


def requires(role: str) -> Callable[[H], H]:
    """The least role a handler needs (checked by the middleware on the matched route)."""
    if role not in ROLE_RANK:
        raise ValueError(f"unknown role {role!r}")

    def mark(handler: H) -> H:
        handler.min_role = role  # type: ignore[attr-defined]
        return handler

    return mark


def authenticate(context: ApiContext, header: str) -> Principal | None:
    """The principal a bearer header names, or None. Every token is compared (constant time)."""
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        return None
    # aiohttp hands non-ASCII header bytes over as surrogates: back to the bytes that were sent.
    given = token.encode("utf-8", "surrogateescape")
    found: Principal | None = None
    if hmac.compare_digest(given, context.settings.api.token.encode()):
        found = Principal(ADMIN_NAME, "admin", context.settings.api.delegate)
    for user in context.settings.api.users:
        if hmac.compare_digest(given, user.token.encode()) and found is None:
            found = Principal(user.name, user.role, user.delegate)
    return found


def acting_for(principal: Principal, request: web.Request) -> Principal:
    """The principal with the person X-Rufina-Acting-User names, when it does.

    Only a delegate's token may send it (403 ``not_a_delegate``: nothing of the request happens);
    its value is one UTF-8 text percent-encoded as ``urllib.parse.quote(text, safe="")`` writes
    it, 1 to `MAX_ACTING_USER` characters decoded, none a control character (400
    ``bad_acting_user``): the audit log and the engine's log name it.
    """
    given = request.headers.getall(ACTING_USER_HEADER, [])
    if not given:
        return principal
    if not principal.delegate:
        raise ApiError(
            403,
            "not_a_delegate",
            f"this token may not act for another person ({ACTING_USER_HEADER})",
        )
    refused = ApiError(
        400,
        "bad_acting_user",
        f"{ACTING_USER_HEADER} must be one name of 1 to {MAX_ACTING_USER} characters, UTF-8 "
        "percent-encoded, without control characters",
    )
    if len(given) != 1 or not _PERCENT_ENCODED.fullmatch(given[0]):
        raise refused
    try:
        person = unquote(given[0], errors="strict")
    except UnicodeDecodeError:
        raise refused from None
    if len(person) > MAX_ACTING_USER or any(unicodedata.category(c) == "Cc" for c in person):
        raise refused
    return replace(principal, acting_user=person)


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    route = request.match_info.route.resource
    request[ROUTE_PATTERN_KEY] = route.canonical if route is not None else "(no route)"
    try:
        public = getattr(request.match_info.route.handler, "public", False)
        if request.path not in PUBLIC_PATHS and not public:
            context = request.app[CONTEXT_KEY]
            principal = authenticate(context, request.headers.get("Authorization", ""))
            if principal is None and "Authorization" not in request.headers:
                ingress = ingress_identity(context.settings.api.ingress, request)
                principal = Principal(*ingress) if ingress else None
            if principal is None:
                return error_response(401, "unauthorized", "a valid bearer token is required")
            needed: str | None = getattr(request.match_info.route.handler, "min_role", None)
            if needed is not None and ROLE_RANK[principal.role] < ROLE_RANK[needed]:
                return error_response(
                    403,
                    "forbidden",
                    f"this request needs the {needed} role (you are {principal.role})",
                )
            request[PRINCIPAL_KEY] = acting_for(principal, request)
            if request.can_read_body:
                limit = getattr(request.match_info.route.handler, "max_body", MAX_JSON_BYTES)
                try:  # read here, under a deadline: a half-sent body must not hold the socket
                    async with asyncio.timeout(request.app[TIMEOUTS_KEY].body):
                        request = await bounded_body(request, limit)
                except TimeoutError:
                    response = error_response(408, "request_timeout", "the body came too slowly")
                    response.force_close()
                    return response
        refuse_unknown_query(request)
        return await handler(request)
    except ApiError as err:
        return error_response(err.status, err.code, err.message)
    except web.HTTPException as err:
        if err.status < 400:
            raise
        codes = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}
        return error_response(err.status, codes.get(err.status, "bad_request"), err.reason)
    except Exception as err:
        # Only the kind at ERROR: a message or traceback may hold a token, a plate or a reason.
        where = request[ROUTE_PATTERN_KEY]
        _LOGGER.error("%s %s failed: %s", request.method, where, type(err).__name__)
        _LOGGER.debug("%s %s failed", request.method, where, exc_info=True)
        return error_response(500, "internal_error", "the request failed")
