#!/usr/bin/env bash
# The README's first command, as a new user runs it, on a machine without mosquitto:
#   python3 -m venv .venv && .venv/bin/pip install -e '.[ocr,broker]' && .venv/bin/rufina-alpr demo
# in a fresh copy of this checkout (with ../shared beside it, as here), so the demo must fall back
# to the embedded amqtt broker. mosquitto is hidden in a private mount namespace (unshare, as root),
# which is how a machine without the package looks to the demo. Exits non-zero when the install or
# the demo fails, or when the demo did not run on amqtt.
set -euo pipefail
cd "$(dirname "$0")/.."

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir "$work/main"
# The working tree as git sees it (tracked and untracked, not ignored): what a clone would hold.
git ls-files -z --cached --others --exclude-standard | xargs -0 cp --parents -t "$work/main" 2>/dev/null || true
[ -e ../shared ] && ln -s "$(realpath ../shared)" "$work/shared"
cd "$work/main"

export PIP_DISABLE_PIP_VERSION_CHECK=1
python3 --version
python3 -m venv .venv
.venv/bin/pip install -q -e '.[ocr,broker]'

# /usr/sbin/mosquitto is where Debian installs it; a tmpfs over /usr/sbin hides it in this namespace.
unshare --mount sh -c 'mount -t tmpfs tmpfs /usr/sbin && ! command -v mosquitto && exec .venv/bin/rufina-alpr demo' \
    | tee "$work/demo.log"
grep -q "broker: amqtt" "$work/demo.log" || { echo "readme-demo: the demo did not run on amqtt" >&2; exit 1; }
echo "readme-demo: the README's first command passed without mosquitto"
