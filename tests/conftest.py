"""Fixtures: every database test runs on SQLite and on PostgreSQL.

PostgreSQL tests need the server at PRESENSI_TEST_PG (default 127.0.0.1:5432, database
``test``). Without it they skip with the reason, except in CI (CI=true), where they fail.
Each run creates its own PostgreSQL database and drops it at the end.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import pytest
import sqlalchemy as sa
from databases import Database
from starlette.testclient import TestClient

from backend import migrate
from backend.app import create_app
from backend.db import metadata
from backend.schedules import ensure_default_week
from backend.settings import Settings, load_settings

T = TypeVar("T")
PG_ADMIN_URL = os.environ.get("PRESENSI_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
IN_CI = os.environ.get("CI", "").lower() == "true"
QR_KEYS = "k0:retired-key-0123456789abcdef,k1:test-key-0123456789abcdef"


def _pg_unreachable() -> str | None:
    async def probe() -> None:
        conn = await asyncpg.connect(PG_ADMIN_URL, timeout=3)
        await conn.close()

    try:
        asyncio.run(probe())
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        return f"PostgreSQL at {PG_ADMIN_URL} is unreachable ({exc.__class__.__name__}: {exc})"
    return None


def require_postgres() -> None:
    reason = _pg_unreachable()
    if reason:
        if IN_CI:
            pytest.fail(f"{reason}; CI=true requires the PostgreSQL tests to run")
        pytest.skip(reason)


@pytest.fixture(scope="session")
def postgresql_url() -> Iterator[str]:
    require_postgres()
    name = f"presensi_test_{os.getpid()}_{secrets.token_hex(3)}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(PG_ADMIN_URL)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    url = f"{base}/{name}".replace("postgresql://", "postgresql+asyncpg://", 1)
    migrate.upgrade(url)
    yield url
    asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('sqlite') / 'presensi.db'}"
    migrate.upgrade(url)
    return url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> str:
    url: str = request.getfixturevalue(f"{request.param}_url")
    asyncio.run(_empty(url))
    return url


async def _empty(url: str) -> None:
    """Start each test from the freshly migrated state."""
    db = Database(url)
    await db.connect()
    try:
        names = [t.name for t in reversed(metadata.sorted_tables)]
        if url.startswith("postgresql"):
            await db.execute(f"TRUNCATE {', '.join(names)} RESTART IDENTITY CASCADE")
        else:
            for name in names:
                await db.execute(f"DELETE FROM {name}")
        await ensure_default_week(db)
    finally:
        await db.disconnect()


def make_settings(tmp_path: Path, database_url: str, **overrides: str) -> Settings:
    env = {
        "PRESENSI_DATA_DIR": str(tmp_path / "data"),
        "PRESENSI_DATABASE_URL": database_url,
        "PRESENSI_PUBLIC_URL": "https://presensi.test",
        "PRESENSI_QR_KEYS": QR_KEYS,
        "PRESENSI_SECRET_KEY": "test-secret-key-0123456789",
        # In-process apps verify signatures themselves (no helper process per test);
        # tests/test_verifier.py and every real `presensi serve` in the tests use the helper.
        "PRESENSI_SIGNATURE_HELPERS": "0",
        **{f"PRESENSI_{k.upper()}": v for k, v in overrides.items()},
    }
    return load_settings(env)


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return make_settings(tmp_path, database_url)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings), base_url="https://presensi.test") as c:
        yield c


def run(client: TestClient, fn: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
    """Run a coroutine on the app's event loop, with the app's own database connection."""
    assert client.portal is not None, "enter the TestClient with `with` so the lifespan runs"
    return client.portal.call(lambda: fn(*args, **kwargs))


def app_db(client: TestClient) -> Database:
    db: Database = client.app.state.presensi.db  # type: ignore[attr-defined]
    return db


@pytest.fixture
def world(client: TestClient, settings: Settings) -> dict[str, Any]:
    """The demo agency with five employees and one display that is online."""
    from backend.db import displays, utcnow
    from backend.demo import ensure_demo

    info = run(client, ensure_demo, app_db(client), settings.secret_key, 5)
    run(
        client,
        app_db(client).execute,
        displays.update().values(last_seen_at=utcnow(), last_seen_ip="127.0.0.1"),
    )
    return info


def count(client: TestClient, table: sa.Table) -> int:
    return int(run(client, app_db(client).fetch_val, sa.select(sa.func.count()).select_from(table)))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run when any real server process of the suite answered a 5xx for a bug: its
    traceback reached a client (tests/support/server.py collects them)."""
    from tests.support.server import SERVER_ERRORS

    if SERVER_ERRORS:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.section("server errors that reached a client")
            for line in SERVER_ERRORS:
                reporter.line(line)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
