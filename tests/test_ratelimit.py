"""Attempt counters: in memory on SQLite, one table shared by every process on PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
import sqlalchemy as sa

from backend.db import make_database, rate_limits
from backend.ratelimit import Limits, MemoryCounter, TableCounter, client_key
from tests.client import Phone
from tests.conftest import _empty
from tests.support.server import live_server


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_ipv4_is_counted_by_address_and_ipv6_by_its_64() -> None:
    assert client_key("192.0.2.7") == "192.0.2.7"
    assert client_key("2001:db8:1:2:aaaa::1") == "2001:db8:1:2::/64"
    assert client_key("2001:db8:1:2:ffff:ffff:ffff:ffff") == "2001:db8:1:2::/64"
    assert client_key("2001:db8:1:3::1") == "2001:db8:1:3::/64"
    assert client_key("::ffff:192.0.2.7") == "192.0.2.7"  # a v4 client on a dual-stack socket
    assert client_key("") == ""


async def _counter_contract(make: Callable[[str, int, int, Clock], Any]) -> None:
    clock = Clock()
    counter = make("t", 3, 60, clock)
    assert [await counter.hit("a") for _ in range(4)] == [True, True, True, False]
    assert await counter.blocked("a")
    assert await counter.hit("b")  # keys are counted apart
    assert not await counter.blocked("b")
    clock.now += 30  # windows start at a key's first attempt: c's from here
    assert [await counter.hit("c") for _ in range(4)] == [True, True, True, False]
    clock.now += 30  # a's window has passed, c's has not
    assert not await counter.blocked("a")
    assert [await counter.hit("a") for _ in range(4)] == [True, True, True, False]
    assert await counter.blocked("c")
    await counter.clear("b")
    await counter.add("b")
    await counter.add("b")
    await counter.add("b")
    assert await counter.blocked("b")
    await counter.clear("b")
    assert not await counter.blocked("b")
    await counter.reset()
    assert not await counter.blocked("a")


def test_memory_counter() -> None:
    asyncio.run(_counter_contract(lambda n, lim, w, clock: MemoryCounter(n, lim, w, clock=clock)))


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Any]:
    database = make_database(database_url)
    await database.connect()
    try:
        yield database
    finally:
        await database.disconnect()


def _table_counter(db: Any, url: str, name: str, limit: int, window: int, clock: Clock) -> Any:
    dialect = "postgresql" if url.startswith("postgresql") else "sqlite"
    return TableCounter(db, name, limit, window, secret=b"k", dialect=dialect, clock=clock)


async def test_table_counter(db: Any, database_url: str) -> None:
    await _counter_contract(
        lambda n, lim, w, clock: _table_counter(db, database_url, n, lim, w, clock)
    )


async def test_table_counter_holds_no_key_in_clear(db: Any, database_url: str) -> None:
    counter = _table_counter(db, database_url, "t", 5, 60, Clock())
    await counter.hit("199001012020121001")
    rows = await db.fetch_all(sa.select(rate_limits))
    assert len(rows) == 1
    assert "199001012020121001" not in str(dict(rows[0]._mapping))
    assert len(rows[0]["key_hash"]) == 64


async def test_concurrent_hits_count_exactly(db: Any, database_url: str) -> None:
    counter = _table_counter(db, database_url, "t", 10, 60, Clock())
    results = await asyncio.gather(*(counter.hit("a") for _ in range(30)))
    assert results.count(True) == 10
    assert await db.fetch_val(sa.select(rate_limits.c.hits)) == 10


async def test_ended_windows_are_deleted(db: Any, database_url: str) -> None:
    clock = Clock()
    short = _table_counter(db, database_url, "short", 5, 60, clock)
    long = _table_counter(db, database_url, "long", 5, 3600, clock)
    await short.hit("a")
    await long.hit("a")
    clock.now += 120  # the short window has ended; the next hit prunes (once a minute)
    await short.hit("b")
    left = await db.fetch_all(sa.select(rate_limits.c.name, rate_limits.c.window_start))
    assert sorted(r["name"] for r in left) == ["long", "short"]
    assert all(r["window_start"] + 60 > clock.now for r in left if r["name"] == "short")


def test_limits_are_shared_only_on_postgresql() -> None:
    assert Limits(None, "postgresql+asyncpg://x/y", b"k").shared  # type: ignore[arg-type]
    assert not Limits(None, "sqlite+aiosqlite:///x.db", b"k").shared  # type: ignore[arg-type]


@pytest.mark.postgres
@pytest.mark.slow
def test_two_server_processes_share_every_limit(tmp_path: Path, postgresql_url: str) -> None:
    """With two processes on one database, an attacker gets the limit, not twice the limit."""
    asyncio.run(_empty(postgresql_url))
    with (
        live_server(tmp_path / "a", postgresql_url) as a,
        live_server(tmp_path / "b", postgresql_url) as b,
        httpx.Client(base_url=a.url) as to_a,
        httpx.Client(base_url=b.url) as to_b,
    ):
        servers = [to_a, to_b]
        # Enrolment: five tries per NIP, alternating between the processes.
        nip = "199001012020121001"
        statuses = [Phone(servers[i % 2]).enrol(nip, f"WRONG{i:03d}").status_code for i in range(6)]
        assert statuses == [400] * 5 + [429], statuses
        # Pairing: ten tries per address.
        statuses = [
            servers[i % 2].post("/display/pair", data={"code": f"NOPE{i:04d}"}).status_code
            for i in range(11)
        ]
        assert statuses == [400] * 10 + [429], statuses
        # Sign-in: five failures per account, then even the right password waits.
        statuses = []
        for client in servers:
            client.cookies.set("presensi_login", "t")
        for i in range(6):
            statuses.append(
                servers[i % 2]
                .post(
                    "/admin/login",
                    data={"username": "admin", "password": "wrong!", "login_token": "t"},
                )
                .status_code
            )
        assert statuses == [401] * 5 + [429], statuses
