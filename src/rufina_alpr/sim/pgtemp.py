"""A throw-away PostgreSQL server in a temporary folder (benchmarks; tests have their fixture).

Debian keeps ``initdb`` and ``pg_ctl`` in PostgreSQL's versioned bin folder, and PostgreSQL refuses
to run as root: as root the server runs as the ``postgres`` user.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from rufina_alpr.sim.broker import free_port, wait_for_port


def pg_bin(name: str) -> str | None:
    found = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))
    return str(found[-1]) if found else shutil.which(name)


class TemporaryPostgres:
    """``start()``, then ``create_database(name)`` for URLs; ``stop()`` removes everything."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="rufina-pg-"))
        self.port = free_port()
        self._as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        self._pg_ctl = pg_bin("pg_ctl")

    @staticmethod
    def available() -> bool:
        return bool(pg_bin("initdb") and pg_bin("pg_ctl"))

    def start(self) -> None:
        initdb = pg_bin("initdb")
        if not initdb or not self._pg_ctl:
            raise RuntimeError("PostgreSQL is not installed (apt-get install postgresql)")
        data, sockets = self.root / "data", self.root / "sock"
        sockets.mkdir()
        if self._as_postgres:
            shutil.chown(self.root, "postgres")
            shutil.chown(sockets, "postgres")
        subprocess.run(
            [*self._as_postgres, initdb, "-D", str(data), "-U", "rufina", "--auth=trust"],
            check=True,
            capture_output=True,
        )
        options = f"-p {self.port} -k {sockets} -c listen_addresses=127.0.0.1 -c fsync=off"
        log = str(self.root / "log")
        start = ["-D", str(data), "-o", options, "-l", log, "-w", "start"]
        subprocess.run(
            [*self._as_postgres, self._pg_ctl, *start],
            check=True,
            capture_output=True,
        )
        wait_for_port("127.0.0.1", self.port)

    def create_database(self, name: str) -> str:
        import sqlalchemy as sa  # noqa: PLC0415

        admin = sa.create_engine(self.url("postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        return self.url(name)

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://rufina@127.0.0.1:{self.port}/{database}"

    def stop(self) -> None:
        if self._pg_ctl:
            stop = ["-D", str(self.root / "data"), "-m", "immediate", "stop"]
            subprocess.run(
                [*self._as_postgres, self._pg_ctl, *stop],
                check=False,
                capture_output=True,
            )
        shutil.rmtree(self.root, ignore_errors=True)
