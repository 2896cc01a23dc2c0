#!/usr/bin/env bash
# Create or refresh a Home Assistant test environment for custom_components/rufina_alpr.
#   scripts/ha-env.sh [oldest]        .venv-ha: the oldest supported HA (2025.4.4, hacs.json's
#                                     minimum), Python 3.13.0 from pyenv, requirements-ha.lock.txt
#   scripts/ha-env.sh current         .venv-ha-2026: current HA's test harness (0.13.375, which pins
#                                     HA 2026.10.4), Python 3.14 inside the Debian forky root of
#                                     scripts/py314-root.sh (built if needed),
#                                     requirements-ha-2026.lock.txt
#   scripts/ha-env.sh current-hass    .venv-hass-2026: a real Home Assistant 2026.11.0 for the
#                                     dashboard test (no harness), same root,
#                                     requirements-hass-2026.lock.txt
#   scripts/ha-env.sh ENTRY --lock    (current, current-hass) recompile the entry's lock from its
#                                     .in file with uv pip compile, then sync
# Idempotent: a stamp holding the lock's hash skips the install when nothing changed. Installs
# with 'uv pip sync' from the lock: exact, no resolver backtracking.
set -euo pipefail
cd "$(dirname "$0")/.."

MATRIX="${1:-oldest}"
export PIP_CONFIG_FILE=/dev/null PIP_DISABLE_PIP_VERSION_CHECK=1
# uv's cache and the venv may sit on different mounts (always so inside the forky root).
export UV_LINK_MODE=copy

case "$MATRIX" in
    oldest)
        VENV=.venv-ha
        LOCK=requirements-ha.lock.txt
        python="${HA_PYTHON:-$(pyenv root 2>/dev/null)/versions/3.13.0/bin/python3.13}"
        ;;
    current | current-hass)
        if [ "$MATRIX" = current ]; then
            VENV=.venv-ha-2026
            LOCK=requirements-ha-2026.lock.txt
        else
            VENV=.venv-hass-2026
            LOCK=requirements-hass-2026.lock.txt
        fi
        if [ -z "${RUFINA_IN_PY314_ROOT:-}" ]; then
            # Python 3.14 lives in the forky root: run this script again in there.
            exec bash scripts/py314-root.sh run env RUFINA_IN_PY314_ROOT=1 bash scripts/ha-env.sh "$@"
        fi
        python=/usr/bin/python3.14
        ;;
    *)
        echo "ha-env: unknown matrix entry '$MATRIX' (oldest, current or current-hass)" >&2
        exit 2
        ;;
esac
STAMP="$VENV/.rufina-lock.sha256"

if [ ! -x "$python" ]; then
    echo "ha-env: Python not found at $python (set HA_PYTHON)" >&2
    exit 1
fi

[ -x "$VENV/bin/python" ] || "$python" -m venv "$VENV"
if [ "${2:-}" = "--lock" ]; then
    [ "$MATRIX" != oldest ] || { echo "ha-env: the oldest entry's lock is kept by hand" >&2; exit 2; }
    [ -x "$VENV/bin/uv" ] || "$VENV/bin/python" -m pip install -q uv
    "$VENV/bin/uv" pip compile -q --python "$VENV/bin/python" "${LOCK%.lock.txt}.in" \
        --no-annotate --no-header -o "$LOCK.new"
    {
        echo "# $VENV (Python $("$VENV/bin/python" -c 'import platform; print(platform.python_version())'), Debian forky root), installed by"
        echo "# 'scripts/ha-env.sh $MATRIX' with 'uv pip sync' (exact, no resolver backtracking)."
        echo "# Generated from ${LOCK%.lock.txt}.in by 'scripts/ha-env.sh $MATRIX --lock'"
        echo "# (uv pip compile); do not edit by hand."
        cat "$LOCK.new"
    } > "$LOCK"
    rm -f "$LOCK.new"
    echo "ha-env: $LOCK compiled"
fi

want="$(sha256sum "$LOCK" pyproject.toml | sha256sum | cut -d' ' -f1)"
if [ -x "$VENV/bin/python" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ]; then
    echo "ha-env: $VENV is up to date"
    exit 0
fi

uv_version="$(grep -E '^uv==' "$LOCK" | cut -d= -f3)"
"$VENV/bin/python" -m pip install -q "uv==${uv_version}"
"$VENV/bin/uv" pip sync --python "$VENV/bin/python" "$LOCK"
if [ "$MATRIX" != current-hass ]; then
    # The engine package, so tests can build payloads with rufina_alpr.contract: no heavy extras,
    # no deps (its light dependencies are in the lock). The integration itself never imports it.
    "$VENV/bin/uv" pip install --python "$VENV/bin/python" --no-deps -e .
fi
echo "$want" > "$STAMP"
echo "ha-env: $VENV ready ($("$VENV/bin/python" -c 'import homeassistant.const as c; print("Home Assistant", c.__version__)'))"
