"""Apply Alembic migrations; used by ``presensi migrate``, ``presensi serve`` and the tests."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    # ConfigParser interpolation would read "%" in a password as a placeholder.
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def _in_thread(fn: object) -> None:
    """Alembic's async env runs its own event loop; keep it off any loop already running."""
    errors: list[BaseException] = []

    def target() -> None:
        try:
            fn()  # type: ignore[operator]
        except BaseException as exc:  # re-raised in the caller's thread
            errors.append(exc)

    thread = threading.Thread(target=target, name="presensi-migrate")
    thread.start()
    thread.join()
    if errors:
        raise errors[0]


def upgrade(url: str, revision: str = "head") -> None:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
    _in_thread(lambda: command.upgrade(alembic_config(url), revision))


def upgrade_on(connection: Connection, revision: str = "head") -> None:
    """Migrate over ``connection`` inside its open transaction (``AsyncConnection.run_sync``):
    the schema commits or rolls back with whatever else the transaction does (a restore)."""
    cfg = alembic_config(connection.engine.url.render_as_string(hide_password=False))
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, revision)


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def current_revision(url: str) -> str | None:
    async def read() -> str | None:
        engine = create_async_engine(url)
        try:
            async with engine.connect() as conn:
                return await conn.run_sync(
                    lambda sync_conn: MigrationContext.configure(sync_conn).get_current_revision()
                )
        finally:
            await engine.dispose()

    result: list[str | None] = []
    _in_thread(lambda: result.append(asyncio.run(read())))
    return result[0]
