"""The check-in path after PostgreSQL drops the server's connections, on a live server: it
reconnects by itself, answers JSON 503 while the database refuses connections, /readyz says
ready only when check-ins are accepted, and nothing acknowledged is lost.

Only this test's own database is touched (``pg_terminate_backend`` filtered by its name, and
``ALLOW_CONNECTIONS`` on it), never the shared cluster."""

from __future__ import annotations

import asyncio
import http.client
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import sqlalchemy as sa
from databases import Database

from backend import migrate, tokens
from backend.db import employees
from backend.demo import ensure_demo
from backend.devices import issue_enrolment_code
from backend.settings import parse_qr_keys
from tests.client import Phone
from tests.conftest import PG_ADMIN_URL, QR_KEYS
from tests.support.server import LiveServer, live_server

pytestmark = pytest.mark.postgres

PHONES = 100
SECRET = "test-secret-key-0123456789"  # tests/support/server.py's
PERIOD = 300  # the QR window does not roll while the test runs
RECOVERY = 10.0  # seconds the server gets to serve again
PHONE_TIMEOUT = 6.0  # the PWA gives up on a request after this long


@dataclass
class Answer:
    status_code: int
    headers: dict[str, str]
    text: str

    def json(self) -> Any:
        return json.loads(self.text)


class Http:
    """What a phone needs of HTTP, over one keep-alive connection to the live server."""

    def __init__(self, base_url: str) -> None:
        host, port = base_url.removeprefix("http://").split(":")
        self._conn = http.client.HTTPConnection(host, int(port), timeout=PHONE_TIMEOUT)

    def request(self, method: str, url: str, body: Any = None, headers: Any = None) -> Answer:
        payload = None if body is None else json.dumps(body).encode()
        sent = {"content-type": "application/json", **(headers or {})}
        self._conn.request(method, url, body=payload, headers=sent)
        response = self._conn.getresponse()
        text = response.read().decode()
        return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, text)

    def post(self, url: str, *, json: Any = None, headers: Any = None) -> Answer:
        return self.request("POST", url, json, headers)

    def get(self, url: str) -> Answer:
        return self.request("GET", url)

    def close(self) -> None:
        self._conn.close()


def _pg_url(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


async def _seed(url: str) -> tuple[int, list[tuple[str, str]]]:
    """The demo's display, and (NIP, enrolment code) for PHONES employees."""
    db = Database(url)
    await db.connect()
    try:
        info = await ensure_demo(db, SECRET.encode(), n_employees=PHONES)
        codes = []
        for person in info["employees"]:
            employee_id = await db.fetch_val(
                sa.select(employees.c.id).where(employees.c.nip == person["nip"])
            )
            code = await issue_enrolment_code(
                db, SECRET.encode(), employee_id, ttl=3600, created_by="test"
            )
            codes.append((person["nip"], code))
        return info["display"]["id"], codes
    finally:
        await db.disconnect()


async def _admin(sql: str) -> list[Any]:
    conn = await asyncpg.connect(PG_ADMIN_URL, timeout=3)
    try:
        return list(await conn.fetch(sql))
    finally:
        await conn.close()


def _terminate(database: str) -> int:
    rows = asyncio.run(
        _admin(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            f" WHERE datname = '{database}' AND pid <> pg_backend_pid()"
        )
    )
    return len(rows)


def _stored_ids(url: str) -> set[int]:
    async def read() -> set[int]:
        conn = await asyncpg.connect(_pg_url(url))
        try:
            return {r["id"] for r in await conn.fetch("SELECT id FROM checkins")}
        finally:
            await conn.close()

    return asyncio.run(read())


@pytest.fixture
def served(tmp_path: Path, postgresql_url: str) -> Iterator[tuple[LiveServer, str]]:
    migrate.upgrade(postgresql_url)
    asyncio.run(_admin("SELECT 1"))  # reachable
    with live_server(tmp_path, postgresql_url, qr_period=str(PERIOD)) as server:
        yield server, postgresql_url


def _token(display_id: int, offset: int = 0) -> str:
    return tokens.issue(parse_qr_keys(QR_KEYS), display_id, tokens.current_window(PERIOD) + offset)


def test_checkins_recover_after_the_database_drops_the_connections(
    served: tuple[LiveServer, str],
) -> None:
    server, url = served
    database = sa.make_url(url).database
    assert database
    display_id, codes = asyncio.run(_seed(url))
    acknowledged: set[int] = set()
    http = Http(server.url)
    try:
        phones = []
        for nip, code in codes:
            phone = Phone(http)
            assert phone.enrol(nip, code).status_code == 201
            phones.append(phone)

        def check_in(phone: Phone, offset: int) -> Answer:
            response = phone.check_in(_token(display_id, offset))
            if response.status_code in (200, 201):  # recorded now, or a repeat of a stored one
                acknowledged.add(response.json()["checkin_id"])
            else:  # never a plain-text 500, always the phone's "try again later"
                assert response.status_code == 503, response.text
                assert response.json()["error"]["code"] == "database_unavailable"
                assert int(response.headers["retry-after"]) > 0
            return response

        assert all(check_in(p, 0).status_code == 201 for p in phones)
        assert http.get("/readyz").status_code == 200

        # Dropped connections: the next check-ins are accepted within seconds, no restart.
        assert _terminate(database) > 0
        second = iter(phones)
        deadline = time.monotonic() + RECOVERY
        while check_in(next(second), -1).status_code != 201:
            assert time.monotonic() < deadline, "the check-in path did not reconnect"
        assert http.get("/readyz").status_code == 200

        # A database that refuses connections for a while (as during a restart): JSON 503s
        # within the phone's timeout, /readyz 503, and service again once it accepts them.
        asyncio.run(_admin(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS false'))
        try:
            _terminate(database)
            refused = 0
            for phone in list(second)[:10]:
                start = time.monotonic()
                response = check_in(phone, -1)
                assert time.monotonic() - start < PHONE_TIMEOUT
                refused += response.status_code == 503
            assert refused > 0, "the outage was not noticed"
            assert http.get("/readyz").status_code == 503
        finally:
            asyncio.run(_admin(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS true'))

        # Back: every phone's second scan is accepted (the ones refused above send it again).
        deadline = time.monotonic() + RECOVERY
        while http.get("/readyz").status_code != 200:
            assert time.monotonic() < deadline, "/readyz did not recover"
            time.sleep(0.1)
        answers = [check_in(p, -1) for p in phones]
        assert all(r.status_code in (200, 201) for r in answers), [r.status_code for r in answers]
    finally:
        http.close()
    assert acknowledged <= _stored_ids(url)
    assert len(acknowledged) >= PHONES + 1
    # The check-in path logged no unexpected failure (it would have answered 500).
    assert not [line for line in server.log if "check-in failed" in line], "\n".join(server.log)
