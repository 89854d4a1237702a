"""``presensi backup`` / ``presensi restore``: a round trip on SQLite and PostgreSQL, and across."""

from __future__ import annotations

import asyncio
import gzip
import secrets
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import sqlalchemy as sa
from databases import Database
from starlette.testclient import TestClient

from backend import cli, migrate
from backend.backup import BackupError, backup, restore
from backend.db import audit_log, metadata
from backend.settings import Settings
from tests.conftest import PG_ADMIN_URL, require_postgres
from tests.test_api import current_token, enrolled


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A brand-new database with no schema at all (restore creates it)."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'restored.db'}"
        return
    require_postgres()
    name = f"presensi_restore_{secrets.token_hex(4)}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(PG_ADMIN_URL)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    base = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    yield f"{base}/{name}"
    asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _normal(value: Any) -> Any:
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)
    return value


async def snapshot(url: str) -> dict[str, list[tuple[Any, ...]]]:
    db = Database(url)
    await db.connect()
    try:
        tables = {}
        for table in metadata.sorted_tables:
            rows = await db.fetch_all(
                sa.select(*table.columns).order_by(*table.primary_key.columns)
            )
            tables[table.name] = [
                tuple(_normal(row[c.name]) for c in table.columns) for row in rows
            ]
        return tables
    finally:
        await db.disconnect()


@pytest.fixture
def with_data(client: TestClient, settings: Settings, world: dict[str, Any]) -> None:
    phone = enrolled(client, settings, world["employees"][0]["nip"])
    assert phone.check_in(current_token(settings, world["display"]["id"])).status_code == 201


def test_round_trip(
    client: TestClient,
    settings: Settings,
    with_data: None,
    empty_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    file = tmp_path / "presensi.jsonl.gz"
    monkeypatch.setenv("PRESENSI_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("PRESENSI_DATABASE_URL", settings.database_url)
    assert cli.main(["backup", str(file)]) == 0
    assert "written to" in capsys.readouterr().out
    original = asyncio.run(snapshot(settings.database_url))
    assert original["checkins"] and original["devices"] and original["employees"]

    monkeypatch.setenv("PRESENSI_DATABASE_URL", empty_url)
    assert cli.main(["restore", str(file)]) == 0
    assert "rows restored" in capsys.readouterr().out
    assert asyncio.run(snapshot(empty_url)) == original

    # Ids continue after the restored ones (PostgreSQL sequences are moved past them).
    async def add_audit_row() -> int:
        db = Database(empty_url)
        await db.connect()
        try:
            return int(
                await db.fetch_val(
                    audit_log.insert()
                    .values(at=datetime.now(UTC), actor="test", action="after.restore")
                    .returning(audit_log.c.id)
                )
            )
        finally:
            await db.disconnect()

    assert asyncio.run(add_audit_row()) > max(row[0] for row in original["audit_log"])


def test_restore_refuses_a_database_with_data(
    settings: Settings, with_data: None, tmp_path: Path
) -> None:
    file = tmp_path / "b.jsonl.gz"
    summary = asyncio.run(backup(settings.database_url, file))
    assert summary.rows["checkins"] == 1
    before = asyncio.run(snapshot(settings.database_url))
    with pytest.raises(BackupError, match="not empty"):
        asyncio.run(restore(settings.database_url, file))
    assert asyncio.run(snapshot(settings.database_url)) == before


def test_restore_rejects_files_that_are_not_backups(empty_url: str, tmp_path: Path) -> None:
    plain = tmp_path / "notes.txt"
    plain.write_text("hello")
    with pytest.raises(BackupError, match="not a readable Presensi backup"):
        asyncio.run(restore(empty_url, plain))
    other = tmp_path / "other.jsonl.gz"
    with gzip.open(other, "wt") as out:
        out.write('{"format": "something-else"}\n')
    with pytest.raises(BackupError, match="not a Presensi backup"):
        asyncio.run(restore(empty_url, other))


def test_half_read_backup_writes_nothing(
    settings: Settings, with_data: None, empty_url: str, tmp_path: Path
) -> None:
    file = tmp_path / "b.jsonl.gz"
    asyncio.run(backup(settings.database_url, file))
    with gzip.open(file, "rt") as src:
        lines = src.read().splitlines()
    cut = next(i for i, line in enumerate(lines) if '"table":"checkins"' in line)
    broken = tmp_path / "broken.jsonl.gz"
    with gzip.open(broken, "wt") as out:
        out.write("\n".join([*lines[: cut + 1], "[1, 2]"]) + "\n")  # a row of the wrong shape
    with pytest.raises(BackupError, match="does not match"):
        asyncio.run(restore(empty_url, broken))
    if empty_url.startswith("sqlite"):  # built beside the target, never renamed over it
        target = Path(empty_url.split("///", 1)[1])
        left = sorted(p.name for p in target.parent.iterdir() if p.name.startswith("restored"))
        assert left == [], f"a failed restore left {left}"
    else:  # the schema went in the same transaction as the rows: nothing at all is left
        assert migrate.current_revision(empty_url) is None


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # the file is the database
def test_restore_refuses_a_sqlite_database_that_is_open(
    settings: Settings, with_data: None, tmp_path: Path
) -> None:
    """The file is replaced as a whole, so a server still using it must be stopped first."""
    file = tmp_path / "b.jsonl.gz"
    asyncio.run(backup(settings.database_url, file))
    target = tmp_path / "in-use.db"
    url = f"sqlite+aiosqlite:///{target}"
    migrate.upgrade(url)
    server = sqlite3.connect(target)  # what `presensi serve` holds open
    try:
        server.execute("SELECT count(*) FROM agencies").fetchone()
        with pytest.raises(BackupError, match="in use"):
            asyncio.run(restore(url, file))
    finally:
        server.close()
    assert asyncio.run(restore(url, file)).rows["checkins"] == 1
