"""A real PostgreSQL 15 for the store and jobs suites, started for the test session.

The server refuses to run as root, so when the tests run as root it is started as the
``postgres`` user (``runuser``) with a data directory chowned to it. It listens on 127.0.0.1 on
a free port with trust authentication on loopback only, keeps its unix socket inside its data
directory, and is stopped by the PID in its ``postmaster.pid``. Each test module gets a fresh
database.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import psycopg

from pytest_connectors.servers.launch import free_port

BIN = Path(os.environ.get("PYTEST_CONNECTORS_PG_BIN", "/usr/lib/postgresql/15/bin"))
USER = "postgres"


def available() -> str | None:
    """None when a server can be started here, else why not."""
    if not (BIN / "initdb").exists():
        return f"PostgreSQL server binaries not found in {BIN}"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(USER)
        except KeyError:
            return f"running as root and there is no {USER!r} user to run PostgreSQL as"
    return None


class PostgresServer:
    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="pytest-connectors-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self.pid: int | None = None

    def _as_owner(self, *command: str) -> list[str]:
        return ["runuser", "-u", USER, "--", *command] if os.geteuid() == 0 else list(command)

    def start(self) -> PostgresServer:
        if os.geteuid() == 0:
            entry = pwd.getpwnam(USER)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
        self._run(
            BIN / "initdb",
            "-D",
            str(self.data),
            "-U",
            USER,
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
            "--no-instructions",
        )
        with (self.data / "pg_hba.conf").open("w") as hba:
            hba.write("local all all trust\nhost all all 127.0.0.1/32 trust\n")
        options = (
            f"-h 127.0.0.1 -p {self.port} -k {self.data} -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        self._run(
            BIN / "pg_ctl",
            "start",
            "-w",
            "-t",
            "60",
            "-D",
            str(self.data),
            "-l",
            str(self.root / "server.log"),
            "-o",
            options,
        )
        self.pid = int((self.data / "postmaster.pid").read_text().split()[0])
        return self

    def _run(self, *command: str | Path) -> None:
        result = subprocess.run(
            self._as_owner(*map(str, command)), capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            log = self.root / "server.log"
            tail = log.read_text()[-2000:] if log.exists() else ""
            raise RuntimeError(
                f"{command[0]} failed ({result.returncode}): {result.stderr.strip()}\n{tail}"
            )

    @property
    def admin_url(self) -> str:
        return f"postgresql://{USER}@127.0.0.1:{self.port}/postgres"

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://{USER}@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        name = f"test_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.admin_url, autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return name

    def drop_database(self, name: str) -> None:
        with psycopg.connect(self.admin_url, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def stop(self) -> None:
        if self.pid is not None:
            try:
                os.kill(self.pid, signal.SIGINT)  # fast shutdown
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline:
                    os.kill(self.pid, 0)
                    time.sleep(0.05)
                os.kill(self.pid, signal.SIGQUIT)
            except ProcessLookupError:
                pass
            self.pid = None
        shutil.rmtree(self.root, ignore_errors=True)


def empty_database(url: str) -> None:
    """Delete every row, so a module's tests start from nothing. The tables stay, and so does
    the record of the steps that made them (a step runs once: it may not find its own work)."""
    from pytest_connectors.storage.migrations import CURRENT_VERSION
    from pytest_connectors.storage.schema import metadata, schema_version

    plain = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain, autocommit=True) as connection:
        present = {
            row[0]
            for row in connection.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
            )
        }
        tables = [
            t.name for t in metadata.sorted_tables if t.name in present and t is not schema_version
        ]
        if tables:
            connection.execute(f"TRUNCATE {', '.join(tables)}")
        if schema_version.name in present:  # a test may have left a newer version behind
            connection.execute(
                f"DELETE FROM {schema_version.name} WHERE version > %s", (CURRENT_VERSION,)
            )
