#!/usr/bin/env bash
# The Home Assistant integration's checks, in Home Assistant's own test harness (pinned version):
#   1. .venv-ha (scripts/ha-env.sh, from the lock file; a no-op when up to date)
#   2. pytest tests/ha with coverage of custom_components/rufina_alpr, failing under 95 %
#   3. mypy --strict and ruff (lint + format) on the integration and its tests
# Runs every check, then exits non-zero if any failed. Called by .ci/run (CI=true: a missing
# engine environment for the real-OCR test fails instead of skipping).
set -uo pipefail
cd "$(dirname "$0")/.."

VENV=.venv-ha
RUFF_VERSION="${RUFF_VERSION:-0.17.6}"
COVERAGE_MIN="${COVERAGE_MIN:-95}"
export PIP_CONFIG_FILE=/dev/null PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1

bash scripts/ha-env.sh || { echo "ha-test: cannot build $VENV" >&2; exit 1; }
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

check "HA tests + coverage >= ${COVERAGE_MIN}%" "$VENV/bin/pytest" -c tests/ha/pytest.ini tests/ha \
    -p no:cacheprovider --cov=custom_components.rufina_alpr --cov-report=term-missing \
    --cov-fail-under="$COVERAGE_MIN"
check "mypy --strict (integration)" "$VENV/bin/mypy" --config-file tests/ha/mypy.ini \
    -p custom_components.rufina_alpr
check "ruff check (integration)" "$VENV/bin/ruff" check --config tests/ha/ruff.toml \
    custom_components tests/ha
check "ruff format (integration)" "$VENV/bin/ruff" format --check --config tests/ha/ruff.toml \
    custom_components tests/ha

if [ ${#failed[@]} -gt 0 ]; then
    printf '\nha-test: failed: %s\n' "${failed[*]}" >&2
    exit 1
fi
echo "ha-test: all checks passed"
