"""``presensi backup`` and ``presensi restore``: one portable file for SQLite and PostgreSQL.

The backup is gzip-compressed JSON lines: a header with the schema revision, then for each
table a line naming its columns and one line per row. It is read in one consistent snapshot
(a read transaction on SQLite in WAL mode, REPEATABLE READ on PostgreSQL), so it can be taken
while the server runs. Because the format does not depend on the database, a SQLite backup
restores into PostgreSQL: that is how an agency moves to several processes.

Restore goes into a new database (created and migrated to the backup's revision when it has
no schema yet) and either completes or leaves the database as it was, even when the process is
killed half way (``kill -9``, a power cut): on PostgreSQL the rows go in one transaction; on
SQLite the whole database is built in a file next to the target and renamed over it only when
complete (a rename is atomic), so the target is always either the old file or the new one.
"""

from __future__ import annotations

import gzip
import json
import os
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import IO, Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from backend import changes, migrate
from backend.db import as_utc, metadata

FORMAT = "presensi-backup"
VERSION = 1
CHUNK = 1000


class BackupError(Exception):
    """A backup file or target database that cannot be used; the message says why."""


@dataclass(frozen=True)
class Summary:
    revision: str
    rows: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.rows.values())


def _encoder(column: sa.Column[Any]) -> Callable[[Any], Any]:
    kind = column.type
    if isinstance(kind, sa.DateTime):
        return lambda v: None if v is None else as_utc(v).isoformat()
    if isinstance(kind, sa.Date | sa.Time):
        return lambda v: None if v is None else v.isoformat()
    if isinstance(kind, sa.Boolean):
        return lambda v: None if v is None else bool(v)
    return lambda v: v


def _decoder(column: sa.Column[Any]) -> Callable[[Any], Any]:
    kind = column.type
    if isinstance(kind, sa.DateTime):
        return lambda v: None if v is None else datetime.fromisoformat(v).astimezone(UTC)
    if isinstance(kind, sa.Date):
        return lambda v: None if v is None else date.fromisoformat(v)
    if isinstance(kind, sa.Time):
        return lambda v: None if v is None else time.fromisoformat(v)
    return lambda v: v


def _line(out: IO[str], obj: Any) -> None:
    out.write(json.dumps(obj, separators=(",", ":"), ensure_ascii=False) + "\n")


async def backup(database_url: str, path: Path) -> Summary:
    revision = migrate.current_revision(database_url)
    if revision is None:
        raise BackupError("the database has no schema yet: nothing to back up")
    engine = create_async_engine(database_url)
    rows: dict[str, int] = {}
    tmp = path.with_name(path.name + ".partial")
    try:
        with gzip.open(tmp, "wt", encoding="utf-8") as out:
            _line(
                out,
                {
                    "format": FORMAT,
                    "version": VERSION,
                    "revision": revision,
                    "dialect": engine.dialect.name,
                    "created_at": datetime.now(UTC).isoformat(),
                },
            )
            async with engine.connect() as conn:
                if engine.dialect.name == "postgresql":
                    conn = await conn.execution_options(isolation_level="REPEATABLE READ")
                async with conn.begin():
                    for table in metadata.sorted_tables:
                        rows[table.name] = await _dump_table(conn, table, out)
        tmp.replace(path)  # a backup file that exists is a complete one
    finally:
        tmp.unlink(missing_ok=True)
        await engine.dispose()
    return Summary(revision, rows)


async def _dump_table(conn: AsyncConnection, table: sa.Table, out: IO[str]) -> int:
    columns = list(table.columns)
    encoders = [_encoder(c) for c in columns]
    _line(out, {"table": table.name, "columns": [c.name for c in columns]})
    count = 0
    query = sa.select(*columns).order_by(*table.primary_key.columns)
    result = await conn.stream(query)
    async for chunk in result.partitions(CHUNK):
        for row in chunk:
            _line(out, [enc(v) for enc, v in zip(encoders, row, strict=True)])
        count += len(chunk)
    return count


def _read(path: Path) -> Iterator[Any]:
    try:
        with gzip.open(path, "rt", encoding="utf-8") as src:
            for number, text in enumerate(src, 1):
                try:
                    yield json.loads(text)
                except ValueError as exc:
                    raise BackupError(f"{path}: line {number} is not JSON") from exc
    except (OSError, EOFError) as exc:
        raise BackupError(f"{path}: not a readable Presensi backup ({exc})") from exc


async def restore(database_url: str, path: Path) -> Summary:
    lines = _read(path)
    header = next(lines, None)
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise BackupError(f"{path}: not a Presensi backup")
    if header.get("version") != VERSION:
        raise BackupError(f"{path}: backup format {header.get('version')}, expected {VERSION}")
    revision = header["revision"]
    target = _sqlite_file(database_url)
    if target is not None:
        return await _restore_sqlite(database_url, target, revision, lines, path)
    # PostgreSQL: the schema (for a database that has none yet) and every row, in one
    # transaction: a restore killed half way leaves the database exactly as it was.
    current = migrate.current_revision(database_url)
    _check_revision(revision, current)
    return await _load(database_url, revision, lines, path, migrate_first=current is None)


def _sqlite_file(database_url: str) -> Path | None:
    if not database_url.startswith("sqlite"):
        return None
    name = database_url.split("///", 1)[-1].split("?", 1)[0]
    return None if not name or name == ":memory:" else Path(name)


def _check_revision(revision: str, current: str | None) -> None:
    if current is not None and current != revision:
        raise BackupError(
            f"the backup is at schema revision {revision} and the database at {current}: "
            f"restore with the Presensi version that made the backup, then upgrade"
        )


async def _check_empty(conn: AsyncConnection) -> None:
    # Migrations seed defaults (the national work week); anything an agency made means the
    # database is in use, and a restore never mixes two histories.
    for name in ("agencies", "admin_users"):
        if await conn.scalar(sa.select(sa.func.count()).select_from(metadata.tables[name])):
            raise BackupError(
                f"the database is not empty (table {name} has rows): restore into a new database"
            )


async def _check_target(database_url: str, revision: str) -> None:
    """Refuse a SQLite database at another revision, or with an agency's data in it."""
    current = migrate.current_revision(database_url)
    _check_revision(revision, current)
    if current is None:
        return  # no schema: nothing to lose, it is replaced as a whole
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            await _check_empty(conn)
    finally:
        await engine.dispose()


async def _restore_sqlite(
    database_url: str, target: Path, revision: str, lines: Iterator[Any], path: Path
) -> Summary:
    """Build the restored database beside ``target`` and rename it over ``target`` at the end."""
    staging, exists = _prepare_staging(target)
    if exists:
        await _check_target(database_url, revision)
        _check_not_open(target)
    scheme, _, rest = database_url.partition("///")
    query = rest.partition("?")[2]
    staging_url = f"{scheme}///{staging}" + (f"?{query}" if query else "")
    try:
        migrate.upgrade(staging_url, revision)  # the migrations also set WAL mode on the file
        summary = await _load(staging_url, revision, lines, path, migrate_first=False)
        _close_wal(staging)
        _check_not_open(target)  # nobody opened it while the rows went in
        _remove_database_files(target, keep_main=True)
        os.replace(staging, target)
        _fsync_dir(target.parent)
    finally:
        _remove_database_files(staging)
    return summary


def _prepare_staging(target: Path) -> tuple[Path, bool]:
    """The staging file's path (cleared of what a killed restore left), and whether the target
    exists."""
    staging = target.with_name(target.name + ".restoring")
    _remove_database_files(staging)
    target.parent.mkdir(parents=True, exist_ok=True)
    return staging, target.exists()


def _close_wal(path: Path) -> None:
    """Fold the WAL into the file and sync it, so the file alone is the whole database."""
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()  # the last connection: SQLite removes the -wal and -shm files
    with path.open("rb") as f:
        os.fsync(f.fileno())


def _check_not_open(path: Path) -> None:
    """A database in WAL mode keeps its -wal file while any connection has it open."""
    if path.with_name(path.name + "-wal").exists():
        raise BackupError(f"{path} is in use (stop `presensi serve` before restoring)")


def _remove_database_files(path: Path, *, keep_main: bool = False) -> None:
    suffixes = ("-wal", "-shm", "-journal") if keep_main else ("", "-wal", "-shm", "-journal")
    for suffix in suffixes:
        path.with_name(path.name + suffix).unlink(missing_ok=True)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


async def _load(
    database_url: str, revision: str, lines: Iterator[Any], path: Path, *, migrate_first: bool
) -> Summary:
    """Every row of the backup in one transaction, into a database at its schema revision
    (given it first, in the same transaction, with ``migrate_first``)."""
    engine = create_async_engine(database_url)
    rows: dict[str, int] = {}
    try:
        async with engine.begin() as conn:
            if migrate_first:
                await conn.run_sync(migrate.upgrade_on, revision)
            await _check_empty(conn)
            for existing in reversed(metadata.sorted_tables):
                await conn.execute(existing.delete())  # the seeded defaults; the backup has its own
            async with changes.triggers_off(conn):  # the backup has its own changes feed
                await _load_rows(conn, lines, path, rows)
            if engine.dialect.name == "postgresql":
                await _reset_sequences(conn)
    finally:
        await engine.dispose()
    return Summary(revision, rows)


async def _load_rows(
    conn: AsyncConnection, lines: Iterator[Any], path: Path, rows: dict[str, int]
) -> None:
    table: sa.Table | None = None
    names: list[str] = []
    decoders: list[Callable[[Any], Any]] = []
    batch: list[dict[str, Any]] = []
    for item in lines:
        if isinstance(item, dict):
            await _insert(conn, table, batch)
            batch = []
            table = metadata.tables.get(item.get("table", ""))
            if table is None:
                raise BackupError(f"{path}: unknown table {item.get('table')!r}")
            names = item["columns"]
            unknown = set(names) - set(table.columns.keys())
            if unknown:
                raise BackupError(f"{path}: {table.name} has no column {sorted(unknown)}")
            decoders = [_decoder(table.columns[n]) for n in names]
            rows[table.name] = 0
            continue
        if table is None or len(item) != len(names):
            raise BackupError(f"{path}: a row does not match its table's columns")
        batch.append({n: dec(v) for n, dec, v in zip(names, decoders, item, strict=True)})
        rows[table.name] += 1
        if len(batch) >= CHUNK:
            await _insert(conn, table, batch)
            batch = []
    await _insert(conn, table, batch)


async def _insert(
    conn: AsyncConnection, table: sa.Table | None, batch: list[dict[str, Any]]
) -> None:
    if table is not None and batch:
        await conn.execute(table.insert(), batch)


async def _reset_sequences(conn: AsyncConnection) -> None:
    """Rows came with their ids; the next id each table hands out must follow them."""
    for table in metadata.sorted_tables:
        keys = list(table.primary_key.columns)
        for column in keys if len(keys) == 1 else []:
            if isinstance(column.type, sa.Integer):
                # Names come from backend.db's tables, never from the backup file.
                highest = await conn.scalar(sa.select(sa.func.max(column)))
                await conn.execute(
                    sa.text("SELECT setval(pg_get_serial_sequence(:t, :c), :n, false)"),
                    {"t": table.name, "c": column.name, "n": (highest or 0) + 1},
                )
