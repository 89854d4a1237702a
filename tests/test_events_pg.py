"""Several processes on PostgreSQL: two real ``presensi serve`` processes share one database.

A display's websocket is connected to process A and a phone checks in on process B: the
display's ticker gets the scan through LISTEN/NOTIFY. Then a third process (this test, with the
same bridge the server uses) revokes the display and publishes it: process A closes the socket
at once, long before its own once-per-period check (QR_PERIOD is 300 s here) would notice.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
from databases import Database
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from backend import tokens
from backend.demo import ensure_demo
from backend.devices import issue_enrolment_code
from backend.events import EventBus, PostgresBridge
from backend.settings import load_settings
from display_server.pairing import CREDENTIAL_COOKIE, REVOKED_TOPIC, pair, revoke_display
from tests.client import Phone
from tests.conftest import QR_KEYS, _empty

pytestmark = pytest.mark.postgres
ROOT = Path(__file__).resolve().parents[1]
PUBLIC_URL = "https://presensi.test"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_env(tmp_path: Path, url: str) -> dict[str, str]:
    return {
        **os.environ,
        "PRESENSI_DATA_DIR": str(tmp_path / "data"),
        "PRESENSI_DATABASE_URL": url.replace("postgresql+asyncpg://", "postgresql://"),
        "PRESENSI_PUBLIC_URL": PUBLIC_URL,
        "PRESENSI_QR_KEYS": QR_KEYS,
        "PRESENSI_SECRET_KEY": "test-secret-key-0123456789",
        "PRESENSI_QR_PERIOD": "300",
        "PRESENSI_LOG_LEVEL": "warning",
    }


def wait_ready(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"server on {port} exited with {proc.returncode}"
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)  # polling a process that is starting: there is no event to await
    pytest.fail(f"server on port {port} not ready within 60 s")


@pytest.fixture
def two_servers(tmp_path: Path, postgresql_url: str) -> Iterator[tuple[int, int, dict[str, str]]]:
    asyncio.run(_empty(postgresql_url))
    env = server_env(tmp_path, postgresql_url)
    ports = free_port(), free_port()
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "backend.cli", "serve", "--port", str(port)],
            env=env,
            cwd=ROOT,
            start_new_session=True,
        )
        for port in ports
    ]
    try:
        for port, proc in zip(ports, procs, strict=True):
            wait_ready(port, proc)
        yield ports[0], ports[1], env
    finally:
        for proc in procs:
            os.killpg(proc.pid, signal.SIGINT)
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


async def seed(url: str, env: dict[str, str]) -> dict[str, Any]:
    settings = load_settings({k: v for k, v in env.items() if k.startswith("PRESENSI_")})
    db = Database(url)
    await db.connect()
    try:
        info = await ensure_demo(db, settings.secret_key, 2)
        _, credential = await pair(db, settings.secret_key, info["display"]["pairing_code"], ip="")
        person = info["employees"][0]
        employee_id = await db.fetch_val(
            "SELECT id FROM employees WHERE nip = :nip", {"nip": person["nip"]}
        )
        code = await issue_enrolment_code(
            db, settings.secret_key, employee_id, ttl=600, created_by="test"
        )
    finally:
        await db.disconnect()
    return {
        "display_id": info["display"]["id"],
        "credential": credential,
        "nip": person["nip"],
        "first_name": person["name"].split()[0],
        "code": code,
        "settings": settings,
    }


def next_message(ws: ClientConnection, kind: str) -> dict[str, Any]:
    """The next message of ``kind``; token pushes in between are skipped."""
    deadline = time.monotonic() + 15
    while True:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"no {kind!r} message within 15 s"
        message = json.loads(ws.recv(timeout=remaining))
        if message.get("type") == kind:
            return message


async def revoke_from_a_third_process(url: str, display_id: int) -> None:
    bus = EventBus()
    bridge = PostgresBridge(bus, url)
    await bridge.start()
    db = Database(url)
    await db.connect()
    try:
        # Without `events` the revocation is only in the database; the bus carries it here.
        assert await revoke_display(db, display_id, actor="test")
        bus.publish(REVOKED_TOPIC, {"display_id": display_id})
    finally:
        await db.disconnect()
        await bridge.close()  # waits until the NOTIFY has been sent


def test_display_on_one_process_sees_a_scan_on_another(
    two_servers: tuple[int, int, dict[str, str]], postgresql_url: str
) -> None:
    port_a, port_b, env = two_servers
    world = asyncio.run(seed(postgresql_url, env))
    with connect(
        f"ws://127.0.0.1:{port_a}/display/ws",
        origin=PUBLIC_URL,  # type: ignore[arg-type]  # websockets wants an Origin NewType
        additional_headers={"Cookie": f"{CREDENTIAL_COOKIE}={world['credential']}"},
    ) as ws:
        # The first push proves the socket is registered with process A's hub.
        assert "token" in json.loads(ws.recv(timeout=15))

        with httpx.Client(base_url=f"http://127.0.0.1:{port_b}") as phone_http:
            phone = Phone(phone_http)
            assert phone.enrol(world["nip"], world["code"]).status_code == 201
            settings = world["settings"]
            window = tokens.current_window(settings.qr_period)
            token = tokens.issue(settings.qr_keys, world["display_id"], window)
            response = phone.check_in(token)
            assert response.status_code == 201, response.text

        ticker = next_message(ws, "checkin")
        assert ticker["name"] == world["first_name"]

        asyncio.run(revoke_from_a_third_process(postgresql_url, world["display_id"]))
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                ws.recv(timeout=15)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
