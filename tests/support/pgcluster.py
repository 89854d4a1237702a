"""A private PostgreSQL cluster for tests that restart or stop PostgreSQL.

The shared cluster at 127.0.0.1:5432 is used by every other test at the same time, so a test
that restarts PostgreSQL makes its own: ``initdb`` into a temporary folder (as the ``postgres``
user when the tests run as root: PostgreSQL refuses to run as root) and ``pg_ctl`` on a free
port. Without PostgreSQL's server binaries the test skips, except under CI=true, where it fails.

    with private_cluster() as cluster:
        url = cluster.create_database("presensi")    # postgresql+asyncpg://...
        cluster.restart()                            # pg_ctl restart -m fast
        cluster.stop(); cluster.start()              # an outage of any length
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

IN_CI = os.environ.get("CI", "").lower() == "true"


def _bindir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=_version)
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("pg_ctl")
    return Path(on_path).parent if on_path else None


def _version(path: str) -> float:
    try:
        return float(Path(path).parts[-3])
    except ValueError:
        return 0.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PgCluster:
    bindir: Path
    datadir: Path
    port: int
    as_user: str | None  # run the server binaries as this user (root cannot run PostgreSQL)

    @property
    def admin_dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def url(self, database: str) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        command = [str(self.bindir / args[0]), *args[1:]]
        if self.as_user:
            command = ["runuser", "-u", self.as_user, "--", *command]
        return subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=True)

    def pg_ctl(self, action: str, *options: str) -> None:
        log = str(self.datadir.parent / "server.log")
        self._run("pg_ctl", action, "-D", str(self.datadir), "-l", log, "-w", *options)

    def start(self) -> None:
        self.pg_ctl("start")

    def stop(self, mode: str = "fast") -> None:
        """``fast`` ends every session (what a routine restart does); ``immediate`` is a crash."""
        self.pg_ctl("stop", "-m", mode)

    def restart(self, mode: str = "fast") -> None:
        self.pg_ctl("restart", "-m", mode)

    def psql(self, sql: str, database: str = "postgres") -> str:
        done = self._run(
            "psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-d", database,
            "-XAtc", sql,
        )  # fmt: skip
        return done.stdout.strip()

    def create_database(self, name: str) -> str:
        self.psql(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def log(self) -> str:
        path = self.datadir.parent / "server.log"
        return path.read_text(errors="replace") if path.exists() else ""


def _unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"{reason}; CI=true requires the PostgreSQL restart tests to run")
    pytest.skip(reason)


@contextlib.contextmanager
def private_cluster() -> Iterator[PgCluster]:
    """A fresh cluster, started, trust auth on 127.0.0.1; stopped and deleted afterwards."""
    bindir = _bindir()
    if bindir is None or not (bindir / "initdb").exists():
        _unavailable("PostgreSQL's server binaries (initdb, pg_ctl) are not installed")
        raise AssertionError("unreachable")
    as_user = None
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            _unavailable("running as root without a postgres user to run PostgreSQL as")
        as_user = "postgres"
    root = Path(tempfile.mkdtemp(prefix="presensi-pg-"))
    if as_user:
        shutil.chown(root, as_user)
    cluster = PgCluster(bindir, root / "data", _free_port(), as_user)
    try:
        cluster._run("initdb", "-D", str(cluster.datadir), "-U", "postgres", "-A", "trust", "-E",
                     "UTF8", "--no-sync")  # fmt: skip
        with (cluster.datadir / "postgresql.conf").open("a") as conf:
            conf.write(
                f"port = {cluster.port}\n"
                "listen_addresses = '127.0.0.1'\n"
                f"unix_socket_directories = '{root}'\n"
                "max_connections = 60\n"
                "shared_buffers = 16MB\n"
                "fsync = off\n"  # a test cluster: a fast or immediate stop loses nothing anyway
                "full_page_writes = off\n"
            )
        cluster.start()
        yield cluster
    finally:
        with contextlib.suppress(subprocess.SubprocessError):
            cluster.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)
