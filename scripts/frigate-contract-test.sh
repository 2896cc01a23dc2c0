#!/usr/bin/env bash
# The Frigate-code contract suite: the engine (.venv) against Frigate 0.17.2's own code
# (tests/frigate_code/frigate_harness.py on .venv-frigate, source imported from
# ../shared/frigate/src-0.17.2). Builds .venv-frigate if needed, lints the suite's code, runs it.
# Extra arguments go to pytest. Exit status: non-zero on any failure. With CI=true a missing
# piece (Frigate's source, .venv-frigate, mosquitto, models, photos) fails instead of skipping.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x .venv/bin/python ]; then
    echo "frigate-contract-test: the engine venv .venv is missing (pip install -e '.[ocr,dev]')" >&2
    exit 1
fi
scripts/frigate-env.sh

.venv/bin/ruff check tests/frigate_code
.venv/bin/ruff format --check tests/frigate_code
# Errors of the suite's own files; what they import is checked where it lives.
.venv/bin/mypy --follow-imports=silent tests/frigate_code

exec .venv/bin/pytest -p no:cacheprovider -p no:homeassistant tests/frigate_code "$@"
