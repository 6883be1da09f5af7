"""A throwaway PostgreSQL cluster for tests and for running several instances locally.

Debian's ``postgresql`` package provides the server binaries (``tests/run_all.sh`` installs it).
PostgreSQL refuses to run as root, and CI runs as root: then the cluster runs as the
``postgres`` system user (``runuser``). It listens on a Unix socket in its own directory only
(``listen_addresses=''``), so clusters of parallel runs never collide and nothing listens on a
network interface. Authentication is ``trust`` for the local socket only.

    python -m tests.pgcluster start DIR     # prints the postgresql:// URL of database "bot"
    python -m tests.pgcluster stop DIR
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

SERVER_USER = "postgres"


class PostgresMissing(RuntimeError):
    """The server binaries aren't installed: run tests/run_all.sh (apt-get install postgresql)."""


def bindir() -> Path:
    """Where initdb and pg_ctl are: Debian keeps them per major version."""
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name)
    )
    for found in reversed(candidates):
        if (Path(found) / "initdb").exists():
            return Path(found)
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).resolve().parent
    raise PostgresMissing(
        "PostgreSQL's server binaries are missing: run tests/run_all.sh, or "
        "apt-get install postgresql"
    )


def _as_server_user() -> list[str]:
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam(SERVER_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", SERVER_USER], check=True, timeout=60
        )
    return ["runuser", "-u", SERVER_USER, "--"]


@dataclass
class Cluster:
    root: Path

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def socket_dir(self) -> Path:
        return self.root / "run"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{SERVER_USER}@/{database}?host={quote(str(self.socket_dir), safe='')}"

    def _run(self, *args: str, timeout: float = 120) -> None:
        result = subprocess.run(
            [*_as_server_user(), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"{args[0]} failed: {result.stdout}\n{result.stderr}")

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.socket_dir.mkdir(exist_ok=True)
        if os.geteuid() == 0:
            user = pwd.getpwnam(SERVER_USER)
            for path in (self.root, self.socket_dir):
                os.chown(path, user.pw_uid, user.pw_gid)
        bin_ = bindir()
        if not (self.data / "PG_VERSION").exists():
            self._run(
                str(bin_ / "initdb"),
                "-D",
                str(self.data),
                "-U",
                SERVER_USER,
                "--auth=trust",
                "--encoding=UTF8",
                "--no-locale",
                "--no-sync",
            )
        options = (
            f"-c listen_addresses='' -k {self.socket_dir} -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        self._run(
            str(bin_ / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.root / "server.log"),
            "-o",
            options,
            "-w",
            "start",
        )

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run(str(bindir() / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    def create_database(self, name: str | None = None) -> str:
        """A new empty database; returns its URL."""
        import psycopg

        name = name or f"t_{uuid.uuid4().hex[:16]}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_database(self, url: str) -> None:
        import psycopg

        name = url.split("/")[3].split("?")[0]
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def throwaway() -> Cluster:
    """A started cluster in a new temporary directory."""
    cluster = Cluster(Path(tempfile.mkdtemp(prefix="pgtest-")))
    cluster.start()
    return cluster


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("start", "stop"):
        print("usage: python -m tests.pgcluster start|stop DIR", file=sys.stderr)
        return 2
    cluster = Cluster(Path(argv[1]).resolve())
    if argv[0] == "stop":
        cluster.stop()
        return 0
    cluster.start()
    try:
        url = cluster.create_database("bot")
    except Exception:  # the database exists from an earlier start
        url = cluster.url("bot")
    print(url)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
