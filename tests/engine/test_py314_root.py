"""scripts/py314-root.sh's lock: `build` of a current root must not wait for the runs that hold
the root (CI waited 11 minutes, silent, while a Home Assistant ran from it), and a build that
must wait says what for."""

from __future__ import annotations

import fcntl
import os
import select
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "py314-root.sh"

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the script runs as root only")


def _env(root: Path) -> dict[str, str]:
    return {
        **os.environ,
        "RUFINA_PY314_ROOT": str(root),
        "RUFINA_DEBIAN_MIRROR": "http://m.invalid/",
    }


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A root the script takes for current: its stamp and a python3.14."""
    root = tmp_path / "forky"
    (root / "usr" / "bin").mkdir(parents=True)
    python = root / "usr" / "bin" / "python3.14"
    python.write_text("#!/bin/sh\n")
    python.chmod(0o755)
    stamp = subprocess.run(
        ["bash", str(SCRIPT), "stamp"], env=_env(root), capture_output=True, text=True, check=True
    ).stdout
    (root / ".rufina-py314-root").write_text(stamp)
    return root


@pytest.fixture
def held(root: Path) -> Iterator[None]:
    """The lock held shared, as a run of the root holds it."""
    with open(f"{root}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_SH)
        yield


def test_build_of_a_current_root_does_not_wait_for_its_runs(root: Path, held: None) -> None:
    started = time.monotonic()
    done = subprocess.run(
        ["bash", str(SCRIPT), "build"],
        env=_env(root),
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "is up to date" in done.stdout
    assert time.monotonic() - started < 10


def test_a_build_that_must_wait_says_for_what(root: Path, held: None) -> None:
    (root / ".rufina-py314-root").write_text("an older build\n")
    waiting = subprocess.Popen(
        ["bash", str(SCRIPT), "build"],
        env=_env(root),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert waiting.stderr is not None
        ready, _, _ = select.select([waiting.stderr], [], [], 10)
        assert ready, "it waits without a word"
        line = waiting.stderr.readline()
        assert line.startswith("py314-root: waiting for the runs that use the old root"), line
        assert f"held by: {os.getpid()} " in line
        assert waiting.poll() is None  # still waiting: the lock is held
    finally:
        waiting.kill()
        waiting.wait()
