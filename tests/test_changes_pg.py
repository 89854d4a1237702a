"""The changes feed with several server processes committing concurrently on PostgreSQL
(issue 14): sequence values are taken in one order and committed in another, and a reader that
polls ``/api/v1/admin/changes`` meanwhile still sees every change exactly once."""

from __future__ import annotations

import asyncio
import json
import random
import threading
import time
import urllib.request
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from backend.admin.security import hash_api_token
from tests.conftest import _empty
from tests.support.server import live_server

pytestmark = pytest.mark.postgres
TOKEN = "pst_changes_feed_test_0123456789abcdef"
PER_WRITER = 30


def call(url: str, method: str = "GET", body: Any = None) -> Any:
    request = urllib.request.Request(  # noqa: S310 (the test's own loopback servers)
        url,
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        return json.loads(response.read())


async def _setup(dsn: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        agency_id: int = await conn.fetchval(
            "INSERT INTO agencies (code, name, created_at) VALUES ('PG', 'Kota PG', now())"
            " RETURNING id"
        )
        await conn.execute(
            "INSERT INTO api_tokens (name, token_hash, prefix, role, created_at)"
            " VALUES ('feed', $1, 'pst_change', 'super_admin', now())",
            hash_api_token(b"test-secret-key-0123456789", TOKEN),
        )
        return agency_id
    finally:
        await conn.close()


async def _slow_writer(dsn: str, agency_id: int, first: date, count: int) -> None:
    """Takes its sequence values early and commits late, beside the servers' quick commits."""
    conn = await asyncpg.connect(dsn)
    rng = random.Random(7)
    try:
        for i in range(count):
            async with conn.transaction():
                await conn.execute(
                    "INSERT INTO holidays (agency_id, day, name, kind, source, active, updated_by,"
                    " updated_at) VALUES ($1, $2, 'lambat', 'local', 'manual', true, 'test', now())",
                    agency_id,
                    first + timedelta(days=i),
                )
                await conn.execute("SELECT pg_sleep($1)", rng.uniform(0.05, 0.4))
    finally:
        await conn.close()


def test_two_processes_and_a_slow_writer_commit_while_a_reader_polls(
    tmp_path: Path, postgresql_url: str
) -> None:
    asyncio.run(_empty(postgresql_url))
    dsn = postgresql_url.replace("postgresql+asyncpg://", "postgresql://")
    agency_id = asyncio.run(_setup(dsn))
    with (
        live_server(tmp_path / "a", postgresql_url) as one,
        live_server(tmp_path / "b", postgresql_url) as two,
    ):
        errors: list[BaseException] = []
        expected = 3 * PER_WRITER

        def writer(server_url: str, first: date) -> None:
            try:
                for i in range(PER_WRITER):
                    call(f"{server_url}/api/v1/admin/holidays", "POST", {
                        "agency_id": agency_id, "date": (first + timedelta(days=i)).isoformat(),
                        "name": f"libur {i}", "kind": "local"})  # fmt: skip
            except BaseException as exc:  # reported by the test below
                errors.append(exc)

        def slow() -> None:
            try:
                asyncio.run(_slow_writer(dsn, agency_id, date(2030, 1, 1), PER_WRITER))
            except BaseException as exc:
                errors.append(exc)

        seen: list[dict[str, Any]] = []

        def reader() -> None:
            after = 0
            deadline = time.monotonic() + 120
            while len(seen) < expected and time.monotonic() < deadline:
                page = call(f"{one.url}/api/v1/admin/changes?after={after}&limit=7")
                seen.extend(page["items"])
                after = page["next"]

        threads = [
            threading.Thread(target=writer, args=(one.url, date(2028, 1, 1))),
            threading.Thread(target=writer, args=(two.url, date(2029, 1, 1))),
            threading.Thread(target=slow),
            threading.Thread(target=reader),
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(180)
        assert not errors, errors
        # Nothing more comes later either.
        time.sleep(0)  # (no wait needed: the writers have all committed)
        rest = call(f"{two.url}/api/v1/admin/changes?after={seen[-1]['seq']}")
    assert rest["items"] == []
    seqs = [c["seq"] for c in seen]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    ids = [c["id"] for c in seen]
    assert len(ids) == expected and len(set(ids)) == expected  # every holiday once
    assert {c["type"] for c in seen} == {"holiday"}
    assert {c["data"]["name"] for c in seen if c["data"]["name"] == "lambat"}
