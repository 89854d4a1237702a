"""Migrations produce exactly the schema in backend/db.py, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import create_async_engine

from backend import migrate
from backend.db import metadata


def schema_diff(url: str) -> list[object]:
    async def diff() -> list[object]:
        engine = create_async_engine(url)
        try:
            async with engine.connect() as conn:
                return await conn.run_sync(
                    lambda c: compare_metadata(MigrationContext.configure(c), metadata)
                )
        finally:
            await engine.dispose()

    return asyncio.run(diff())


def test_one_head() -> None:
    script = ScriptDirectory.from_config(migrate.alembic_config("sqlite://"))
    assert len(script.get_heads()) == 1, script.get_heads()


def test_migrated_schema_matches_the_tables(database_url: str) -> None:
    assert schema_diff(database_url) == []
    assert migrate.current_revision(database_url) == migrate.head_revision()


def test_fresh_sqlite_database_is_created_in_wal_mode(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "new" / "presensi.db"
    migrate.upgrade(f"sqlite+aiosqlite:///{path}")
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        weekdays = conn.execute(
            "SELECT weekday, end_time FROM work_schedules ORDER BY weekday"
        ).fetchall()
    assert [w for w, _ in weekdays] == [0, 1, 2, 3, 4]
    assert weekdays[4][1].startswith("16:30")


def test_upgrade_is_repeatable(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'p.db'}"
    migrate.upgrade(url)
    migrate.upgrade(url)  # a second `presensi migrate` or serve start changes nothing
    assert migrate.current_revision(url) == migrate.head_revision()


def test_every_migration_downgrades_and_upgrades_again(tmp_path: Path) -> None:
    from alembic import command

    url = f"sqlite+aiosqlite:///{tmp_path / 'p.db'}"
    migrate.upgrade(url)
    migrate._in_thread(lambda: command.downgrade(migrate.alembic_config(url), "base"))
    assert migrate.current_revision(url) is None
    migrate.upgrade(url)
    assert schema_diff(url) == []
