#!/usr/bin/env bash
# Create or refresh .venv-frigate: Python 3.11 with the packages Frigate 0.17.2's own code needs to run
# outside Docker (its FastAPI app, tracker, camera state, event and MQTT code), for the contract suite
# in tests/frigate_code. Frigate's source is never copied here: it is imported at run time from
# ../shared/frigate/src-0.17.2 (FRIGATE_SRC).
#
# The lock, requirements-frigate.lock.txt, is Frigate's docker/main/requirements-wheels.txt minus the
# ML/GPU/hardware stack (detector runtimes, embeddings, GenAI, audio transcription, vendor SDKs,
# git+/URL wheels, profilers), resolved once by `scripts/frigate-env.sh --relock` (needs PyPI) and
# installed with `uv pip sync` (exact, no resolver). Idempotent: a stamp holds the lock's hash.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=.venv-frigate
LOCK=requirements-frigate.lock.txt
STAMP="$VENV/.rufina-lock.sha256"
FRIGATE_SRC="${FRIGATE_SRC:-$(cd .. && pwd)/shared/frigate/src-0.17.2}"
export PIP_CONFIG_FILE=/dev/null PIP_DISABLE_PIP_VERSION_CHECK=1

if [ ! -f "$FRIGATE_SRC/frigate/api/fastapi_app.py" ] || [ ! -d "$FRIGATE_SRC/migrations" ]; then
    echo "frigate-env: Frigate 0.17.2's source is missing at $FRIGATE_SRC" >&2
    echo "frigate-env: (expected frigate/, migrations/ and docker/main/requirements-wheels.txt; set FRIGATE_SRC)" >&2
    exit 1
fi

python311="${FRIGATE_PYTHON:-$(pyenv root 2>/dev/null)/versions/3.11.7/bin/python3}"
[ -x "$python311" ] || python311="$(command -v python3.11 || true)"
if [ -z "$python311" ] || ! "$python311" -c 'import sys; assert sys.version_info[:2] == (3, 11)' 2>/dev/null; then
    echo "frigate-env: Python 3.11 not found (Frigate 0.17 runs on 3.11; set FRIGATE_PYTHON)" >&2
    exit 1
fi

# Left out: everything that runs models or talks to accelerators (the harness stubs the few of these
# Frigate imports at module level), GenAI clients, audio transcription, HailoRT's helper wheels, the
# type checker and profiler Frigate's image ships, and wheels from URLs.
EXCLUDE='^(tensorflow|tensorflow-cpu|openvino|onnxruntime|transformers|tflite_runtime|google-genai|ollama|openai|sherpa-onnx|faster-whisper|librosa|degirum|memray|mypy|types-requests|opencv-contrib-python|appdirs|argcomplete|contextlib2|distlib|filelock|future|importlib-metadata|importlib-resources|netaddr|netifaces|verboselogs|virtualenv)$'

if [ "${1:-}" = "--relock" ]; then
    wheels="$FRIGATE_SRC/docker/main/requirements-wheels.txt"
    input="$(mktemp)"
    trap 'rm -f "$input"' EXIT
    while IFS= read -r line; do
        spec="${line%%#*}"
        [ -n "${spec// /}" ] || continue
        case "$spec" in git+* | *" @ "*) continue ;; esac
        name="$(printf '%s' "$spec" | sed -E 's/^[[:space:]]*([A-Za-z0-9_.-]+).*/\1/')"
        if printf '%s\n' "$name" | grep -Eqi "$EXCLUDE"; then continue; fi
        printf '%s\n' "$spec" >> "$input"
    done < "$wheels"
    # Imported at module level by Frigate's embeddings package (a transformers dependency upstream).
    echo "regex" >> "$input"
    echo "uv" >> "$input"
    tmpvenv="$(mktemp -d)"
    "$python311" -m venv "$tmpvenv"
    "$tmpvenv/bin/python" -m pip install -q uv
    {
        echo "# Frigate 0.17.2's runtime for tests/frigate_code (Python 3.11), written by"
        echo "# 'scripts/frigate-env.sh --relock': docker/main/requirements-wheels.txt minus the ML/GPU stack."
        "$tmpvenv/bin/uv" pip compile --quiet --no-header --no-annotate --python "$tmpvenv/bin/python" \
            "$input"
    } > "$LOCK"
    rm -rf "$tmpvenv"
    echo "frigate-env: wrote $LOCK ($(grep -c '==' "$LOCK") packages)"
fi

want="$(sha256sum "$LOCK" | cut -d' ' -f1)"
if [ -x "$VENV/bin/python" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ]; then
    echo "frigate-env: $VENV is up to date"
    exit 0
fi

[ -x "$VENV/bin/python" ] || "$python311" -m venv "$VENV"
uv_version="$(grep -E '^uv==' "$LOCK" | cut -d= -f3)"
"$VENV/bin/python" -m pip install -q "uv==${uv_version}"
"$VENV/bin/uv" pip sync --python "$VENV/bin/python" "$LOCK"
echo "$want" > "$STAMP"
echo "frigate-env: $VENV ready"
