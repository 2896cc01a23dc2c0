"""A pytest plugin loaded before every other (`-p tests.ha.httpx_first`, see pytest.ini).

Home Assistant 2026.11 imports `httpx` as an alias of `httpx2` and refuses to start once the real
`httpx` is imported; pytest-homeassistant-custom-component 0.13.375 (the newest, built for
2026.10.4) imports `respx`, hence `httpx`, before Home Assistant. Making the alias here first
is what Home Assistant itself does on import. Older Home Assistant has no httpx2: nothing to do.
"""

from __future__ import annotations

try:
    import httpx2
except ImportError:  # Home Assistant before 2026.11
    pass
else:
    httpx2.alias_httpx()
