#!/usr/bin/env bash
# A Debian forky (minbase) root with Python >= 3.14.2, for current Home Assistant (2026.x needs it;
# Debian 12 has no such Python), and a way to run a command in it.
#
#   scripts/py314-root.sh build          build the root, or reuse it when its stamp is current
#   scripts/py314-root.sh run CMD ARG... run CMD inside it (building it first if needed), in the
#                                        current directory, with the checkout and ../shared
#                                        bind-mounted at the same paths, plus /proc /dev /sys /tmp
#                                        and the folders in $RUFINA_PY314_BINDS (colon-separated;
#                                        e.g. pyenv's root, so the engine's .venv runs inside)
#   scripts/py314-root.sh path           print the root's directory
#   scripts/py314-root.sh stamp          print the stamp a current root carries
#
# The root lives outside the checkout: $RUFINA_PY314_ROOT (default /var/cache/rufina-alpr/
# forky-py314). Needs root, debootstrap (installed with apt-get when missing) and the Debian mirror
# the host uses (first URIs: of /etc/apt/sources.list.d/debian.sources, or $RUFINA_DEBIAN_MIRROR).
#
# Mounts: every run gets its own private mount namespace (unshare --mount), so its bind mounts are
# never visible outside it and vanish with it, whatever way it ends (failure, signal, kill -9);
# overlapping runs do not see or undo each other's mounts. A build holds an exclusive lock, a run a
# shared one: a rebuild waits for the runs using the old root, and runs wait for a build; either
# says what it waits for. `build` of a current root takes no lock and never waits.
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd -P)"
ROOT="${RUFINA_PY314_ROOT:-/var/cache/rufina-alpr/forky-py314}"
SUITE=forky
PY_MIN=3.14.2
# What Home Assistant's wheels and the sdists it compiles need; tzdata for the time zones,
# libturbojpeg0 for HA's camera/image helpers, ca-certificates for PyPI over HTTPS.
PACKAGES=(python3.14 python3.14-venv python3.14-dev build-essential libturbojpeg0 ca-certificates
    tzdata libffi-dev libssl-dev zlib1g-dev libjpeg-dev)
# Bump when the build steps change in a way the package list does not show.
BUILD_VERSION=1
STAMP="$ROOT/.rufina-py314-root"
LOCK="$ROOT.lock"

die() { echo "py314-root: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "must run as root (debootstrap, chroot and bind mounts need it)"

mirror() {
    if [ -n "${RUFINA_DEBIAN_MIRROR:-}" ]; then
        echo "$RUFINA_DEBIAN_MIRROR"
        return
    fi
    local uri=""
    if [ -f /etc/apt/sources.list.d/debian.sources ]; then
        uri="$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources)"
    fi
    if [ -z "$uri" ] && [ -f /etc/apt/sources.list ]; then
        uri="$(awk '/^deb / {print $2; exit}' /etc/apt/sources.list)"
    fi
    echo "${uri:-http://deb.debian.org/debian}"
}

wanted_stamp() {
    printf '%s\n' "$BUILD_VERSION" "$SUITE" "$(mirror)" "${PACKAGES[@]}" | sha256sum | cut -d' ' -f1
}

is_current() {
    [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$(wanted_stamp)" ] && [ -x "$ROOT/usr/bin/python3.14" ]
}

# in_root DIR CMD...: CMD chrooted into DIR, in a private mount namespace with /proc, /dev, /sys,
# /tmp, DNS, the host's CA certificates (read-only; IN_ROOT_CERTS=no while apt installs
# ca-certificates), the checkout and ../shared mounted. Runs from the current directory when it
# is inside a mounted path, else from /.
in_root() {
    local dir=$1
    shift
    local shared=""
    [ -d "$repo/../shared" ] && shared="$(realpath "$repo/../shared")"
    local cwd path binds=""
    cwd="$(pwd -P)"
    IFS=: read -r -a paths <<< "${RUFINA_PY314_BINDS:-}"
    for path in "${paths[@]}"; do
        [ -z "$path" ] || [ ! -d "$path" ] || binds+="$(realpath "$path"):"
    done
    local script='
        dir=$1 repo=$2 shared=$3 cwd=$4 certs=$5 binds=$6
        shift 6
        bind() {  # bind SRC: the same path inside the root
            mkdir -p "$dir$1"
            mount --rbind "$1" "$dir$1"
        }
        mount -t proc proc "$dir/proc"
        mount --rbind /dev "$dir/dev"
        mount --rbind /sys "$dir/sys"
        mount --rbind /tmp "$dir/tmp"
        touch "$dir/etc/resolv.conf"
        mount --bind /etc/resolv.conf "$dir/etc/resolv.conf"
        if [ "$certs" = yes ] && [ -d /etc/ssl/certs ]; then
            # The host'"'"'s trust store, read-only: the same CAs as the host for PyPI over HTTPS
            mkdir -p "$dir/etc/ssl/certs"
            mount --bind /etc/ssl/certs "$dir/etc/ssl/certs"
            mount -o remount,bind,ro "$dir/etc/ssl/certs"
        fi
        bind "$repo"
        [ -z "$shared" ] || bind "$shared"
        IFS=: read -r -a extra <<< "$binds"
        for path in "${extra[@]}"; do
            [ -z "$path" ] || bind "$path"
        done
        case "$cwd" in "$repo"|"$repo"/*|"$shared"|"$shared"/*|/tmp|/tmp/*) ;; *) cwd=/ ;; esac
        exec chroot "$dir" /usr/bin/env -u PIP_FIND_LINKS -u VIRTUAL_ENV -u PYTHONHOME \
            -u PYTHONPATH -u LD_LIBRARY_PATH \
            PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
            HOME=/root LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive \
            /bin/sh -c "cd \"\$0\" && exec \"\$@\"" "$cwd" "$@"
    '
    local args=(unshare --mount --propagation private -- /bin/bash -euo pipefail -c "$script" in_root
        "$dir" "$repo" "$shared" "$cwd" "${IN_ROOT_CERTS:-yes}" "$binds" "$@")
    if [ "${IN_ROOT_EXEC:-}" = 1 ]; then
        exec "${args[@]}"  # one process from here to CMD: signals reach CMD itself
    fi
    "${args[@]}"
}

build_locked() {  # under the exclusive lock
    if is_current; then
        echo "py314-root: $ROOT is up to date"
        return 0
    fi
    if ! command -v debootstrap >/dev/null; then
        echo "py314-root: installing debootstrap"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
            --no-install-recommends debootstrap >/dev/null || die "cannot install debootstrap"
    fi
    local script=/usr/share/debootstrap/scripts/$SUITE
    [ -e "$script" ] || script=/usr/share/debootstrap/scripts/sid  # forky is built like sid
    local new="$ROOT.new.$$"
    # Leftovers of a build that was killed (no other build runs: we hold the exclusive lock).
    # Safe to delete: the runs' mounts live in their own namespaces, never in this one.
    rm -rf "$ROOT".new.* "$ROOT".old.*
    trap 'rm -rf "$new"' EXIT
    local start=$SECONDS
    echo "py314-root: debootstrap $SUITE from $(mirror) into $new"
    # In a private mount namespace: the /proc debootstrap mounts in the target cannot outlive it.
    unshare --mount --propagation private -- \
        debootstrap --variant=minbase "$SUITE" "$new" "$(mirror)" "$script" > "$new.log" 2>&1 \
        || { tail -n 30 "$new.log" >&2; rm -f "$new.log"; die "debootstrap failed"; }
    rm -f "$new.log"
    # The mirror may be a dated snapshot whose Release files have expired.
    printf 'Acquire::Check-Valid-Until "false";\nAcquire::Check-Date "false";\n' \
        > "$new/etc/apt/apt.conf.d/99rufina-no-valid-until"
    cp /etc/hosts "$new/etc/hosts"
    echo "py314-root: apt-get install ${PACKAGES[*]}"
    IN_ROOT_CERTS=no in_root "$new" /bin/sh -c 'apt-get update -qq && apt-get install -y -qq \
        --no-install-recommends "$@" >/dev/null && apt-get clean' sh "${PACKAGES[@]}" \
        || die "apt-get install failed in the $SUITE root"
    local version
    version="$(in_root "$new" python3.14 -c 'import platform; print(platform.python_version())')"
    in_root "$new" python3.14 -c "import sys; sys.exit(sys.version_info < (${PY_MIN//./, }))" \
        || die "$SUITE has Python $version, Home Assistant needs >= $PY_MIN"
    wanted_stamp > "$new/.rufina-py314-root"
    if [ -d "$ROOT" ]; then
        mv "$ROOT" "$ROOT.old.$$"
        mv "$new" "$ROOT"
        rm -rf "$ROOT.old.$$"
    else
        mv "$new" "$ROOT"
    fi
    trap - EXIT
    echo "py314-root: $ROOT ready (Python $version, $((SECONDS - start)) s)"
}

lock_holders() {  # the processes holding the lock file open (a run's command inherits it)
    local fd pid seen=" " out=""
    for fd in /proc/[0-9]*/fd/*; do
        [ "$(readlink "$fd" 2>/dev/null)" = "$LOCK" ] || continue
        pid=${fd#/proc/}
        pid=${pid%%/*}
        [ "$pid" != "$$" ] && [ "$pid" != "$BASHPID" ] || continue
        case "$seen" in *" $pid "*) continue ;; esac
        seen+="$pid "
        out+="; $pid $(tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | cut -c1-100)"
    done
    echo "${out#; }"
}

wait_for_lock() {  # wait_for_lock -x|-s WHAT: take the lock on fd 9, saying what it waits for
    flock "$1" -n 9 && return 0
    local holders
    holders="$(lock_holders)"
    echo "py314-root: waiting for $2 (lock $LOCK held by: ${holders:-unknown})" >&2
    local start=$SECONDS
    flock "$1" 9
    echo "py314-root: waited $((SECONDS - start)) s" >&2
}

build() {
    # A current root needs no lock (CI waited 11 minutes, silent, for a Home Assistant run from
    # it): a rebuild only replaces a root that is not current, and it swaps the folder whole.
    if is_current; then
        echo "py314-root: $ROOT is up to date"
        return 0
    fi
    mkdir -p "$(dirname "$ROOT")"
    exec 9>"$LOCK"
    wait_for_lock -x "the runs that use the old root to end, to rebuild it"
    build_locked
    exec 9>&-
}

run() {
    [ $# -gt 0 ] || die "run: no command"
    mkdir -p "$(dirname "$ROOT")"
    exec 9>"$LOCK"
    wait_for_lock -s "the build of $ROOT to end"
    if ! is_current; then
        flock -u 9
        ( build )
        flock -s 9
        is_current || die "$ROOT is not usable"
    fi
    IN_ROOT_EXEC=1 in_root "$ROOT" "$@"
}

case "${1:-}" in
    build) build ;;
    run) shift; run "$@" ;;
    path) echo "$ROOT" ;;
    stamp) wanted_stamp ;;
    *) die "usage: $0 build | run CMD [ARG...] | path | stamp" ;;
esac
