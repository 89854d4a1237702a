"""Read timeouts: a slow or silent client cannot hold a connection open."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from websockets.sync.client import connect as ws_connect

from backend import httpserver
from tests.support.server import ROOT, STARTUP_TIMEOUT, server_env

REQUEST = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while (message := await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
    elif scope["type"] == "websocket":
        await receive()
        await send({"type": "websocket.accept"})
        while (message := await receive())["type"] == "websocket.receive":
            await send({"type": "websocket.send", "text": message["text"]})
    else:
        while (await receive()).get("more_body"):
            pass
        body = b"ok"
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    """The protocol in a uvicorn in this process, with timeouts short enough to wait for."""
    monkeypatch.setattr(httpserver, "HEADER_TIMEOUT", 0.5)
    monkeypatch.setattr(httpserver, "BODY_TIMEOUT", 1.0)
    monkeypatch.setattr(httpserver, "MAX_HEADER_BYTES", 4096)
    sock = socket.create_server(("127.0.0.1", 0))
    config = uvicorn.Config(
        app, http=httpserver.TimedHttpToolsProtocol, timeout_keep_alive=30, log_level="warning"
    )
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(srv.serve(sockets=[sock])))
    thread.start()
    try:
        yield sock.getsockname()[1]
    finally:
        srv.should_exit = True
        thread.join(timeout=10)
        sock.close()


def closed_after(conn: socket.socket, limit: float) -> float:
    """Seconds until the server closes ``conn`` (reading and dropping what it sends)."""
    start = time.monotonic()
    conn.settimeout(limit)
    while conn.recv(65536):
        pass
    return time.monotonic() - start


def test_a_silent_connection_is_closed(server: int) -> None:
    with socket.create_connection(("127.0.0.1", server)) as conn:
        assert 0.3 < closed_after(conn, 5) < 3


def test_headers_dripped_slowly_are_cut_off(server: int) -> None:
    with socket.create_connection(("127.0.0.1", server)) as conn:
        start = time.monotonic()
        conn.sendall(b"GET /healthz HTTP/1.1\r\n")
        with contextlib.suppress(OSError):
            for i in range(50):  # one header line every 0.1 s: activity, never a request
                conn.sendall(f"X-Drip-{i}: x\r\n".encode())
                time.sleep(0.1)
        conn.settimeout(5)
        with contextlib.suppress(OSError):
            while conn.recv(65536):
                pass
        assert time.monotonic() - start < 3


def test_a_body_that_stops_arriving_is_cut_off(server: int) -> None:
    with socket.create_connection(("127.0.0.1", server)) as conn:
        conn.sendall(b"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n12345")
        assert 0.7 < closed_after(conn, 5) < 4


def test_the_next_request_on_a_kept_alive_connection_is_timed_too(server: int) -> None:
    with socket.create_connection(("127.0.0.1", server)) as conn:
        conn.sendall(REQUEST)
        assert conn.recv(65536).startswith(b"HTTP/1.1 200")
        conn.sendall(b"GET /healthz HTTP/1.1\r\n")  # and nothing more
        assert closed_after(conn, 5) < 3  # the keep-alive timeout here is 30 s


def test_oversized_headers_are_refused(server: int) -> None:
    with socket.create_connection(("127.0.0.1", server)) as conn:
        conn.sendall(b"GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + b"a" * 8000 + b"\r\n\r\n")
        conn.settimeout(5)
        assert conn.recv(65536).startswith(b"HTTP/1.1 400")


def test_a_large_body_sent_with_its_headers_is_fine(server: int) -> None:
    body = b"x" * 200_000
    with socket.create_connection(("127.0.0.1", server)) as conn:
        conn.sendall(
            b"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n" % len(body) + body
        )
        conn.settimeout(5)
        assert conn.recv(65536).startswith(b"HTTP/1.1 200")


def test_a_websocket_outlives_every_read_timeout(server: int) -> None:
    with ws_connect(f"ws://127.0.0.1:{server}/ws") as ws:
        time.sleep(1.5)  # past the header and the body timeout: nothing may close it
        ws.send("still here")
        assert ws.recv(timeout=5) == "still here"


@pytest.mark.slow
def test_presensi_serve_closes_idle_and_silent_connections(tmp_path: Path) -> None:
    """On a real `presensi serve`: an idle kept-alive connection closes after the keep-alive
    timeout, a connection that never sends a request after the header timeout."""
    probe = socket.create_server(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    url = f"sqlite+aiosqlite:///{tmp_path / 'p.db'}"
    env = server_env(tmp_path / "data", url, f"http://127.0.0.1:{port}")
    process = subprocess.Popen(
        [sys.executable, "-m", "backend.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    ready = threading.Event()
    log: list[str] = []

    def read_log() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            log.append(line)
            if "Uvicorn running on" in line:
                ready.set()
        ready.set()

    reader = threading.Thread(target=read_log, daemon=True)
    reader.start()
    try:
        assert ready.wait(STARTUP_TIMEOUT) and process.poll() is None, "".join(log[-20:])
        with (
            socket.create_connection(("127.0.0.1", port)) as idle,
            socket.create_connection(("127.0.0.1", port)) as silent,
        ):
            idle.sendall(REQUEST)
            assert idle.recv(65536).startswith(b"HTTP/1.1 200")
            idle_for = closed_after(idle, 30)
            silent_for = closed_after(silent, 30)  # counted from when idle closed
        keep_alive = httpserver.KEEP_ALIVE_TIMEOUT
        assert keep_alive - 0.5 < idle_for < keep_alive + 2
        assert 0 < silent_for + idle_for < httpserver.HEADER_TIMEOUT + 2
        assert silent_for + idle_for > httpserver.HEADER_TIMEOUT - 1
    finally:
        process.terminate()
        process.wait(timeout=20)
        reader.join(timeout=5)
        assert process.stderr is not None
        process.stderr.close()
