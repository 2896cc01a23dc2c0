"""The engine's HTTP API (aiohttp), described by ``docs/openapi.yaml`` (served by the engine).

Every route but ``/api/health`` and ``/api/openapi.yaml`` needs ``Authorization: Bearer <token>``:
the built-in admin token (``api.token``) or a named user's (``api.users``), compared in constant
time and never logged. Roles, least to most: viewer (statistics), operator (searches, routes,
hotlists, holds, evidence), admin (audit log, purge, settings). Every request that returns plates
needs a ``reason`` (and takes a ``case_number``) and is written to the audit log before the
response goes out. A delegate's token (``delegate: true``: Home Assistant's) may name the person it
acts for in ``X-Rufina-Acting-User``; the audit log records both. Errors are JSON:
``{"error": code, "message": text}``.

The package has one module per resource, as Frigate's ``api/``: ``system``, ``transits``,
``tracking``, ``traffic``, ``holds``, ``hotlists``, ``admin`` and the operator panel's ``live``
and ``panel`` (its files in ``static/``). They build on the leaves ``context`` (the app keys, and
`ApiContext`: what handlers use of the engine), ``params`` (errors, query parameters, bodies),
``auth`` (tokens, roles, Home Assistant ingress, the middleware) and ``audit`` (the audit log,
pages of results); ``app`` collects every module's ``routes()`` and serves them. Leaves import
no resource module, resource modules only leaves.
"""

from __future__ import annotations

from rufina_alpr.api.app import (
    ACCEPT_ERRORS,
    AcceptErrorLimiter,
    AccessLogger,
    ApiSite,
    create_app,
    default_max_connections,
    server_options,
    start_api,
)
from rufina_alpr.api.auth import (
    ACTING_USER_HEADER,
    Principal,
    acting_for,
    authenticate,
    requires,
)
from rufina_alpr.api.context import CONTEXT_KEY, OPENAPI_PATH, ApiContext, Timeouts
from rufina_alpr.api.params import MAX_AUTHOR, MAX_IMPORT_BYTES, MAX_JSON_BYTES, ApiError

__all__ = [
    "ACCEPT_ERRORS",
    "ACTING_USER_HEADER",
    "CONTEXT_KEY",
    "MAX_AUTHOR",
    "MAX_IMPORT_BYTES",
    "MAX_JSON_BYTES",
    "OPENAPI_PATH",
    "AcceptErrorLimiter",
    "AccessLogger",
    "ApiContext",
    "ApiError",
    "ApiSite",
    "Principal",
    "Timeouts",
    "acting_for",
    "authenticate",
    "create_app",
    "default_max_connections",
    "requires",
    "server_options",
    "start_api",
]
