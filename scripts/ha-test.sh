#!/usr/bin/env bash
# The Home Assistant integration's checks, in Home Assistant's own test harness (pinned version),
# on one entry of the test matrix:
#   scripts/ha-test.sh [oldest]   the oldest supported HA, 2025.4.4 (.venv-ha, Python 3.13.0)
#   scripts/ha-test.sh current    current HA: the newest harness, pytest-homeassistant-custom-
#                                 component 0.13.375, which pins HA 2026.10.4 and cannot run
#                                 2026.11.0 (a real 2026.11.0 runs in tests/addon/test_dashboard.py)
#                                 (.venv-ha-2026, Python 3.14 inside the Debian forky root of
#                                 scripts/py314-root.sh, built if needed)
#   1. the venv (scripts/ha-env.sh, from the entry's lock file; a no-op when up to date)
#   2. pytest tests/ha with coverage of custom_components/rufina_alpr, failing under 95 %
#   3. mypy --strict and ruff (lint + format) on the integration and its tests
# Runs every check, then exits non-zero if any failed. Called by .ci/run (CI=true: a missing
# engine environment for the real-OCR test fails instead of skipping).
set -uo pipefail
cd "$(dirname "$0")/.."

MATRIX="${1:-oldest}"
case "$MATRIX" in
    oldest)
        VENV=.venv-ha
        PROBATIO=--always-false=PROBATIO  # custom_components/rufina_alpr/compat.py
        ;;
    current)
        VENV=.venv-ha-2026
        PROBATIO=--always-true=PROBATIO
        if [ -z "${RUFINA_IN_PY314_ROOT:-}" ]; then
            # Everything runs in the forky root; pyenv's root goes along so the engine's .venv
            # (Python 3.13.0) runs there too, for the test that reads a photo with the real OCR.
            RUFINA_PY314_BINDS="$(pyenv root 2>/dev/null || true)" \
                exec bash scripts/py314-root.sh run env RUFINA_IN_PY314_ROOT=1 \
                bash scripts/ha-test.sh "$@"
        fi
        ;;
    *)
        echo "ha-test: unknown matrix entry '$MATRIX' (oldest or current)" >&2
        exit 2
        ;;
esac
RUFF_VERSION="${RUFF_VERSION:-0.17.6}"
COVERAGE_MIN="${COVERAGE_MIN:-95}"
export PIP_CONFIG_FILE=/dev/null PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1 \
    UV_LINK_MODE=copy

bash scripts/ha-env.sh "$MATRIX" || { echo "ha-test: cannot build $VENV" >&2; exit 1; }
if [ "$("$VENV/bin/ruff" --version 2>/dev/null)" != "ruff $RUFF_VERSION" ]; then
    "$VENV/bin/uv" pip install -q --python "$VENV/bin/python" "ruff==$RUFF_VERSION" \
        || { echo "ha-test: cannot install ruff $RUFF_VERSION" >&2; exit 1; }
fi

failed=()
check() {  # check NAME COMMAND...: run it, remember a failure, go on
    local name=$1
    shift
    printf '\n--- %s ---\n' "$name"
    if ! "$@"; then
        failed+=("$name")
        echo "FAILED: $name" >&2
    fi
}

coverage_dir="$(mktemp -d)"
trap 'rm -rf "$coverage_dir"' EXIT
export COVERAGE_FILE="$coverage_dir/.coverage"

check "HA tests + coverage >= ${COVERAGE_MIN}%" "$VENV/bin/python" -m pytest -c tests/ha/pytest.ini tests/ha \
    -p no:cacheprovider --cov=custom_components.rufina_alpr --cov-report=term-missing \
    --cov-fail-under="$COVERAGE_MIN"
check "mypy --strict (integration)" "$VENV/bin/mypy" --config-file tests/ha/mypy.ini "$PROBATIO" --cache-dir "$VENV/.mypy_cache" \
    -p custom_components.rufina_alpr
check "ruff check (integration)" "$VENV/bin/ruff" check --config tests/ha/ruff.toml \
    custom_components tests/ha
check "ruff format (integration)" "$VENV/bin/ruff" format --check --config tests/ha/ruff.toml \
    custom_components tests/ha

if [ ${#failed[@]} -gt 0 ]; then
    printf '\nha-test (%s): failed: %s\n' "$MATRIX" "${failed[*]}" >&2
    exit 1
fi
echo "ha-test ($MATRIX): all checks passed"
