"""What the benchmarks share: processes, /proc figures, PostgreSQL scratch databases, a lean
keep-alive HTTP/1.1 client and an open-loop (arrival-rate) driver.

The scripts beside this file have no ``.py`` suffix; ``load_script("checkin")`` imports one as a
module so another benchmark can reuse its functions instead of copying them.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import importlib.machinery
import importlib.util
import json
import math
import os
import random
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import httptools

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
PG_ADMIN = os.environ.get("PRESENSI_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


def load_script(name: str) -> ModuleType:
    """Import ``scripts/bench/<name>`` (a script without a suffix) as a module."""
    if name in sys.modules:
        return sys.modules[name]
    loader = importlib.machinery.SourceFileLoader(name, str(HERE / name))
    spec = importlib.util.spec_from_loader(name, loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    loader.exec_module(module)
    return module


def server_command(port: int) -> list[str]:
    """``presensi serve`` from the interpreter running the bench (this checkout's code first)."""
    return [
        sys.executable,
        "-m",
        "backend.cli",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]


def python_path_env(env: dict[str, str]) -> dict[str, str]:
    """``env`` with this checkout first on PYTHONPATH, so a server started in another folder
    runs this checkout's code."""
    path = env.get("PYTHONPATH", "")
    return {**env, "PYTHONPATH": str(ROOT) + (os.pathsep + path if path else "")}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def wait_ready(url: str, proc: subprocess.Popen[Any], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"server exited with {proc.returncode} before answering {url}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    sys.exit(f"server did not answer {url} within {timeout}s")


def stop(proc: subprocess.Popen[Any]) -> None:
    """Ctrl-C to the server's own process group: uvicorn (and a profiler around it) stop cleanly."""
    os.killpg(proc.pid, signal.SIGINT)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def process_tree(pid: int) -> list[int]:
    """``pid`` and its live descendants (the signature helper beside the server)."""
    pids = [pid]
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError):
                for child in (task / "children").read_text().split():
                    pids += process_tree(int(child))
    return pids


def cpu_seconds(pid: int) -> float:
    """User + system CPU time so far of a process, its threads and its live child processes."""
    total = 0.0
    for p in process_tree(pid):
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def rss_mb(pid: int) -> float:
    """Resident memory (VmRSS) of a process and its live child processes, in MB."""
    total = 0
    for p in process_tree(pid):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total / 1024


async def pg_admin(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@contextlib.contextmanager
def scratch_database(kind: str, folder: Path, name: str) -> Iterator[str]:
    """A database URL: SQLite in ``folder``, or a fresh PostgreSQL database ``name`` on
    PRESENSI_TEST_PG that is dropped afterwards."""
    if kind == "sqlite":
        yield f"sqlite:///{folder / 'presensi.db'}"
        return
    asyncio.run(pg_admin(f'CREATE DATABASE "{name}"'))
    try:
        yield f"{PG_ADMIN.rsplit('/', 1)[0]}/{name}"
    finally:
        asyncio.run(pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def quantile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def run_loop(main: Coroutine[Any, Any, Any]) -> Any:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)


# -- HTTP/1.1 client ----------------------------------------------------------------------------


def http_request(
    method: str, path: str, *, headers: dict[str, str] | None = None, body: bytes = b""
) -> bytes:
    """The bytes of one request on a keep-alive connection to 127.0.0.1."""
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", "User-Agent: presensi-bench"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    if body or method in {"POST", "PATCH", "PUT"}:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class HttpConnection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection, one request at a time, parsed by httptools.

    ``request`` returns (status, headers, body). With ``stream`` set, it returns as soon as the
    headers have arrived and hands every later piece of the body to ``stream`` (server-sent
    events)."""

    def __init__(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.waiter: asyncio.Future[tuple[int, dict[str, str], bytes]] | None = None
        self.headers: dict[str, str] = {}
        self.body: list[bytes] = []
        self.stream: Callable[[bytes], None] | None = None
        self.closed = asyncio.get_running_loop().create_future()
        self.answered = False  # any byte of the current request's answer has arrived

    @classmethod
    async def open(cls, port: int, host: str = "127.0.0.1") -> HttpConnection:
        _, conn = await asyncio.get_running_loop().create_connection(cls, host, port)
        return conn

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.answered = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(ConnectionError(f"bad response: {exc}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(exc or ConnectionError("connection closed"))
        if not self.closed.done():
            self.closed.set_result(None)

    def _fail(self, exc: BaseException) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(exc)
        if self.transport is not None:
            self.transport.close()

    # httptools callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        if self.stream is not None and self.waiter is not None and not self.waiter.done():
            self.waiter.set_result((self.parser.get_status_code(), self.headers, b""))

    def on_body(self, body: bytes) -> None:
        if self.stream is not None:
            self.stream(body)
        else:
            self.body.append(body)

    def on_message_complete(self) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(
                (self.parser.get_status_code(), self.headers, b"".join(self.body))
            )

    @property
    def is_open(self) -> bool:
        return self.transport is not None and not self.transport.is_closing()

    async def request(
        self, raw: bytes, stream: Callable[[bytes], None] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        if not self.is_open:
            raise ConnectionError("connection closed")
        self.headers, self.body, self.stream = {}, [], stream
        self.answered = False
        self.waiter = asyncio.get_running_loop().create_future()
        assert self.transport is not None
        self.transport.write(raw)
        return await self.waiter

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


def error_code(status: int, body: bytes) -> str:
    """``"<status> <error.code>"`` for an error answer, e.g. ``"429 rate_limited"``."""
    try:
        code = json.loads(body)["error"]["code"]
    except (ValueError, KeyError, TypeError):
        code = "html" if body.lstrip()[:1] == b"<" else "plain"
    return f"{status} {code}"


# -- open loop ----------------------------------------------------------------------------------


@dataclass
class Tally:
    """Answers and latencies of one kind of request."""

    latencies: list[float] = field(default_factory=list)  # seconds, from the intended send time
    lags: list[float] = field(default_factory=list)  # seconds the client sent later than meant
    statuses: Counter[str] = field(default_factory=Counter)

    def add(self, status: str, latency: float, lag: float = 0.0) -> None:
        self.statuses[status] += 1
        self.latencies.append(latency)
        self.lags.append(lag)

    @property
    def errors(self) -> int:
        return sum(n for s, n in self.statuses.items() if not s.startswith("2"))

    def describe(self) -> str:
        ms = [x * 1000 for x in self.latencies]
        return (
            f"{len(ms)} requests, p50 {quantile(ms, 0.5):.1f} ms, p99 {quantile(ms, 0.99):.1f} ms,"
            f" max {max(ms, default=float('nan')):.1f} ms"
        )


async def open_loop(
    port: int,
    rate: float,
    connections: int,
    seconds: float,
    next_request: Callable[[], tuple[str, bytes] | None],
    on_answer: Callable[[str, int, bytes, float, float], None],
    *,
    answer_within: float = 10.0,
    seed: int | None = None,
) -> float:
    """Send requests at ``rate`` per second for ``seconds``, as arrivals that do not wait for
    answers: each of ``connections`` keep-alive connections fires at rate/connections with
    exponential gaps of its own (a Poisson process each, so they never fire in lock-step).

    ``next_request()`` gives (kind, raw request bytes), or None when there is nothing left to
    send. Each answer is reported as ``on_answer(kind, status, body, latency, lag)``, where the
    latency counts from the intended send time, not from when the connection was free again
    (no coordinated omission), and lag is how late the request actually left. A connection
    error or timeout is reported with status 0 (body b"connection" or b"timeout"), and the
    connection is opened again. Returns the seconds from the start to the last answer."""
    loop = asyncio.get_running_loop()
    rng = random.Random(seed)
    per = rate / connections
    opened = await asyncio.gather(*(HttpConnection.open(port) for _ in range(connections)))
    start = loop.time() + 0.05
    end = start + seconds
    last = start

    async def one(index: int) -> None:
        nonlocal last
        conn: HttpConnection | None = opened[index]
        due = start + rng.expovariate(per)
        while due < end:
            job = next_request()
            if job is None:
                return
            kind, raw = job
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            lag = max(0.0, loop.time() - due)
            try:
                if conn is None or not conn.is_open:
                    conn = await HttpConnection.open(port)
                status, _headers, body = await asyncio.wait_for(conn.request(raw), answer_within)
            except TimeoutError:
                status, body = 0, b"timeout"
                if conn is not None:
                    conn.close()
            except OSError:
                status, body = 0, b"connection"
            now = loop.time()
            last = max(last, now)
            on_answer(kind, status, body, now - due, lag)
            due += rng.expovariate(per)
        if conn is not None:
            conn.close()

    await asyncio.gather(*(one(i) for i in range(connections)))
    return last - start
