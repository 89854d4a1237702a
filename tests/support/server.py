"""A real Presensi server for browser tests: uvicorn in a subprocess on a free 127.0.0.1 port.

Browsers treat http://127.0.0.1 as a secure context, so camera, service worker and WebCrypto
all work without TLS. The listening socket is opened here and handed to uvicorn (``--fd``), so
there is no race for the port, and readiness is uvicorn's own "startup complete" line, not a
poll loop.

    with live_server(tmp_path, database_url) as server:
        page.goto(server.url + "/s")
        code = server.cli("enrolment-code", nip)
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from backend import migrate

ROOT = Path(__file__).resolve().parents[2]
QR_KEYS = "k0:retired-key-0123456789abcdef,k1:test-key-0123456789abcdef"
STARTUP_TIMEOUT = 30.0


@dataclass
class LiveServer:
    url: str
    env: dict[str, str]
    process: subprocess.Popen[str]
    log: list[str] = field(default_factory=list)

    def cli(self, *args: str) -> str:
        """Run `presensi <args>` against this server's database and settings; its stdout."""
        done = subprocess.run(
            [sys.executable, "-m", "backend.cli", *args],
            env=self.env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if done.returncode:
            raise AssertionError(f"presensi {' '.join(args)} failed: {done.stderr.strip()}")
        return done.stdout


def server_env(
    data_dir: Path, database_url: str, public_url: str, **overrides: str
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PRESENSI_")}
    env.update(
        {
            "PRESENSI_DATA_DIR": str(data_dir),
            "PRESENSI_DATABASE_URL": database_url,
            "PRESENSI_PUBLIC_URL": public_url,
            "PRESENSI_QR_KEYS": QR_KEYS,
            "PRESENSI_SECRET_KEY": "test-secret-key-0123456789",
            "PRESENSI_LOG_LEVEL": "info",
            **{f"PRESENSI_{k.upper()}": v for k, v in overrides.items()},
        }
    )
    return env


# Log lines that mean a request was answered 5xx because of a bug (an escaped exception): the
# whole suite's servers are checked at its end (tests/conftest.py), so no test can hide one.
SERVER_ERROR_MARKS = ("internal error on ", "check-in failed", "Exception in ASGI application")
SERVER_ERRORS: list[str] = []


def _is_server_error(line: str) -> bool:
    return any(mark in line for mark in SERVER_ERROR_MARKS)


@contextlib.contextmanager
def live_server(
    tmp_path: Path, database_url: str, *, port: int = 0, host: str = "127.0.0.1", **overrides: str
) -> Iterator[LiveServer]:
    """Serve the app from a migrated database; settings overrides as lower-case names.

    ``port`` 0 picks a free one; pass a stopped server's port to start it again at the same
    origin (what a display page or an installed PWA would reconnect to).
    """
    migrate.upgrade(database_url)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(128)
    port = sock.getsockname()[1]
    # ``host="localhost"``: WebAuthn needs a host name for its RP ID, never an IP address.
    url = f"http://{host}:{port}"
    env = server_env(tmp_path / "server-data", database_url, url, **overrides)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "backend.app:create_app",
            "--fd",
            str(sock.fileno()),
            "--log-level",
            "info",
            "--no-access-log",
        ],
        env=env,
        cwd=ROOT,
        pass_fds=(sock.fileno(),),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    sock.close()  # the child has its own copy
    server = LiveServer(url, env, process)
    ready = threading.Event()

    def read_log() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            server.log.append(line.rstrip())
            if "Application startup complete" in line:
                ready.set()
        ready.set()  # exited: let the waiter see it

    reader = threading.Thread(target=read_log, daemon=True)
    reader.start()
    try:
        if not ready.wait(STARTUP_TIMEOUT) or process.poll() is not None:
            raise RuntimeError("the server did not start:\n" + "\n".join(server.log[-30:]))
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        reader.join(timeout=5)
        if process.stderr is not None:
            process.stderr.close()
        SERVER_ERRORS.extend(f"{url}: {line}" for line in server.log if _is_server_error(line))
