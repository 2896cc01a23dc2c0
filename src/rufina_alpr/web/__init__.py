"""The operator web panel: static pages under ``/panel/`` and the API calls they add.

:func:`rufina_alpr.api.create_app` calls ``rufina_alpr.web.setup``; ``panel`` serves the files,
``live`` the live transits and the panel's helper calls, ``ingress`` trusts Home Assistant's
ingress proxy when ``api.ingress.enabled``. (This package imports nothing at import time: the
API module imports ``ingress`` and ``live`` imports the API module.)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aiohttp import web

    from rufina_alpr.service import Engine


def setup(app: web.Application, engine: Engine) -> None:
    from rufina_alpr.web import live, panel  # noqa: PLC0415 - live imports rufina_alpr.api

    app.add_routes(panel.routes())
    live.setup(app, engine)
