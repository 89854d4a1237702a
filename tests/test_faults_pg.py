"""PostgreSQL takes the server's connections away (``pg_terminate_backend``, as a restart does),
on a real server process; the server recovers by itself, without a restart.

Only the connections to this test run's own database are terminated (filtered by name): the
shared cluster keeps serving every other test. tests/test_faults_restart.py restarts a private
cluster instead.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncpg
import httpx2 as httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from backend.events import EventBus, PostgresBridge
from display_server.pairing import CREDENTIAL_COOKIE, REVOKED_TOPIC
from tests.support.admin import PASSWORD, login_token
from tests.support.faults import ADMIN, PHONE_TIMEOUT, Site, seed_site
from tests.support.server import live_server

pytestmark = [pytest.mark.postgres, pytest.mark.slow]
RECOVERY = 10.0  # seconds within which the server must serve again


def dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


async def backends(url: str, where: str = "true") -> list[int]:
    """Pids of the other sessions on this test's database that match ``where``."""
    conn = await asyncpg.connect(dsn(url))
    try:
        rows = await conn.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
            f" AND pid <> pg_backend_pid() AND ({where})"
        )
        return [r["pid"] for r in rows]
    finally:
        await conn.close()


async def terminate(url: str, where: str = "true") -> list[int]:
    pids = await backends(url, where)
    assert pids, f"no session matches {where!r}"
    conn = await asyncpg.connect(dsn(url))
    try:
        await conn.execute("SELECT pg_terminate_backend(p) FROM unnest($1::int[]) AS p", pids)
    finally:
        await conn.close()
    return pids


LISTENING = "query LIKE 'LISTEN%'"  # the bus's LISTEN connection: its last statement


def wait_for(condition: Callable[[], Any], what: str, timeout: float = RECOVERY) -> Any:
    """Poll a condition of another process (there is no event to await across processes)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, f"{what}: not within {timeout} s"
        time.sleep(0.05)


async def event_from_server(url: str, topic: str, trigger: Callable[[], None]) -> dict[str, Any]:
    """Run ``trigger`` (which makes the server publish on ``topic``) and return the event as
    this process receives it over LISTEN/NOTIFY."""
    bus = EventBus()
    bridge = PostgresBridge(bus, url)
    await bridge.start()
    try:
        with bus.subscribe(topic) as queue:
            await asyncio.to_thread(trigger)
            return await asyncio.wait_for(queue.get(), RECOVERY)
    finally:
        await bridge.close()


async def publish_from_here(url: str, topic: str, event: dict[str, Any]) -> None:
    bus = EventBus()
    bridge = PostgresBridge(bus, url)
    await bridge.start()
    try:
        bus.publish(topic, event)
    finally:
        await bridge.close()  # waits until the NOTIFY has been sent


def sign_in(http: httpx.Client) -> None:
    response = http.post(
        "/admin/login",
        data={"username": ADMIN, "password": PASSWORD, "login_token": login_token(http)},  # type: ignore[arg-type]
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text


def csrf_of(page: str) -> str:
    marker = 'name="csrf_token" value="'
    start = page.index(marker) + len(marker)
    return page[start : page.index('"', start)]


@pytest.fixture
def site(postgresql_url: str) -> Site:
    return asyncio.run(seed_site(postgresql_url, phones=3))


def test_event_listener_reconnects_after_its_connection_is_terminated(
    tmp_path: Path, postgresql_url: str, site: Site
) -> None:
    url = postgresql_url
    with (
        live_server(tmp_path, url, qr_period="300") as server,
        connect(
            server.url.replace("http://", "ws://") + "/display/ws",
            origin=server.url,  # type: ignore[arg-type]
            additional_headers={"Cookie": f"{CREDENTIAL_COOKIE}={site.credential}"},
        ) as ws,
    ):
        assert "token" in ws.recv(timeout=15)  # registered with the server's hub
        (old,) = asyncio.run(backends(url, LISTENING))
        asyncio.run(terminate(url, f"pid = {old}"))
        new = wait_for(
            lambda: [p for p in asyncio.run(backends(url, LISTENING)) if p != old],
            "the server's LISTEN connection is back",
        )
        assert len(new) == 1
        # An event from another process reaches the server again: its display closes at once
        # (QR_PERIOD is 300 s, so the rotation loop's own check cannot be what closes it).
        asyncio.run(publish_from_here(url, REVOKED_TOPIC, {"display_id": site.display_id}))
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                ws.recv(timeout=RECOVERY)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401


def test_admin_pages_and_the_bus_recover_after_every_connection_is_terminated(
    tmp_path: Path, postgresql_url: str, site: Site
) -> None:
    url = postgresql_url
    with (
        live_server(tmp_path, url, qr_period="300") as server,
        httpx.Client(base_url=server.url, timeout=PHONE_TIMEOUT) as http,
    ):
        sign_in(http)
        assert http.get("/admin/displays").status_code == 200
        terminated = asyncio.run(terminate(url))
        assert len(terminated) >= 3  # the pool's, the bus's two, the check-in path's
        started = time.monotonic()

        def page() -> httpx.Response | None:
            response = http.get("/admin/displays")
            return response if response.status_code == 200 else None

        displays_page = wait_for(page, "the admin console serves again")
        recovered_in = time.monotonic() - started
        assert recovered_in < RECOVERY

        def revoke() -> None:
            response = http.post(
                f"/admin/displays/{site.display_id}/revoke",
                data={"csrf_token": csrf_of(displays_page.text)},
                follow_redirects=False,
            )
            assert response.status_code in (200, 303), response.text

        # The server's NOTIFY connection was terminated too: the event still crosses.
        event = asyncio.run(event_from_server(url, REVOKED_TOPIC, revoke))
        assert event == {"display_id": site.display_id}
        assert asyncio.run(backends(url, LISTENING)), "the LISTEN connection did not come back"
        assert server.process.poll() is None
