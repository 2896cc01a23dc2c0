#!/usr/bin/env bash
# Create or refresh .venv-ha: the Home Assistant test environment for custom_components/rufina_alpr.
# Idempotent: a stamp holding the lock's hash skips the install when nothing changed.
# Python 3.13.0 from pyenv (HA 2025.4.4 is the newest release that installs on it).
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=.venv-ha
LOCK=requirements-ha.lock.txt
STAMP="$VENV/.rufina-lock.sha256"
export PIP_CONFIG_FILE=/dev/null PIP_DISABLE_PIP_VERSION_CHECK=1

python313="${HA_PYTHON:-$(pyenv root 2>/dev/null)/versions/3.13.0/bin/python3.13}"
if [ ! -x "$python313" ]; then
    echo "ha-env: Python 3.13.0 not found at $python313 (set HA_PYTHON)" >&2
    exit 1
fi

want="$(sha256sum "$LOCK" pyproject.toml | sha256sum | cut -d' ' -f1)"
if [ -x "$VENV/bin/python" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ]; then
    echo "ha-env: $VENV is up to date"
    exit 0
fi

[ -x "$VENV/bin/python" ] || "$python313" -m venv "$VENV"
uv_version="$(grep -E '^uv==' "$LOCK" | cut -d= -f3)"
"$VENV/bin/python" -m pip install -q "uv==${uv_version}"
"$VENV/bin/uv" pip sync --python "$VENV/bin/python" "$LOCK"
# The engine package, so tests can build payloads with rufina_alpr.contract: no heavy extras, no deps
# (its light dependencies are in the lock). The integration itself never imports it.
"$VENV/bin/uv" pip install --python "$VENV/bin/python" --no-deps -e .
echo "$want" > "$STAMP"
echo "ha-env: $VENV ready"
