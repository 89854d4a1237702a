"""The check-in's records on PostgreSQL: dedicated asyncpg connections that reconnect.

``databases`` 0.9 runs one statement per call and cannot send arrays of rows, so the batch
goes straight to the driver: a whole batch costs a handful of round trips (statuses,
``INSERT ... SELECT FROM unnest(...)``, read back, ``UPDATE ... = ANY``) in one transaction.

A connection the server dropped (a PostgreSQL restart, ``pg_terminate_backend``) is thrown
away and opened again on its next use, so the check-in path recovers by itself; meanwhile
its requests answer ``503 database_unavailable`` within the connect and command timeouts.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from backend.checkin import chain
from backend.checkin.planner import (
    READ_BACK,
    SCAN_KEY,
    Day,
    DeviceState,
    PendingCheckin,
    Results,
    ScanKey,
    plan_batch,
    run_steps_async,
)
from backend.checkin.records import PERSON_SQL, DatabaseUnavailable, unreachable
from backend.db import checkins
from backend.rosters import Calendar, calendar_from, calendar_queries

T = TypeVar("T")
CONNECT_TIMEOUT = 2.0  # seconds; with STATEMENT_TIMEOUT well inside the phone's 6 s
# Enforced by the server: asyncpg's own command_timeout costs ~5 µs of CPU per check-in here
# (a timer per statement). A restarted server closes the connections, so nothing waits on it.
STATEMENT_TIMEOUT = {"statement_timeout": "3s"}


class PostgresRecords:
    """Check-in writes and batched device reads, each on its own connection."""

    def __init__(self, url: str) -> None:
        self._dsn = url.replace("postgresql+asyncpg://", "postgresql://", 1)
        self._writer: Any = None
        self._reader: Any = None
        self._locks = {"_writer": asyncio.Lock(), "_reader": asyncio.Lock()}
        self._pg_types = {c.name: c.type.compile(dialect=postgresql.dialect()) for c in checkins.c}
        self._person_sql = PERSON_SQL.format(ids="= ANY($1::text[])")
        self._engine: AsyncEngine | None = None  # for the calendar's prepared statements

    async def _connect(self) -> Any:
        import asyncpg

        return await asyncpg.connect(
            self._dsn, timeout=CONNECT_TIMEOUT, server_settings=STATEMENT_TIMEOUT
        )

    async def start(self) -> None:
        self._writer = await self._connect()
        self._reader = await self._connect()

    async def stop(self) -> None:
        for conn in (self._writer, self._reader):
            if conn is not None and not conn.is_closed():
                await conn.close()
        self._writer = self._reader = None
        if self._engine is not None:
            await self._engine.dispose()
            self._engine = None

    @contextlib.asynccontextmanager
    async def _using(self, name: str) -> AsyncIterator[Any]:
        """The connection ``name``, opened again if the server dropped it; a failure to reach
        the server drops it (the next use reconnects) and raises ``DatabaseUnavailable``."""
        async with self._locks[name]:
            conn = getattr(self, name)
            if conn is None or conn.is_closed():
                try:
                    conn = await self._connect()
                except Exception as exc:  # refused, starting up, not accepting connections
                    raise DatabaseUnavailable() from exc
                setattr(self, name, conn)
            try:
                yield conn
            except Exception as exc:
                if not unreachable(exc):
                    raise
                setattr(self, name, None)
                conn.terminate()
                raise DatabaseUnavailable() from exc

    async def _on_engine(self, work: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        """``work`` on a connection of the calendar's pool. A pooled connection the server
        dropped fails on first use: the pool is emptied and ``work`` tried once more."""
        if self._engine is None:
            url = self._dsn.replace("postgresql://", "postgresql+asyncpg://", 1)
            self._engine = create_async_engine(
                url,
                pool_size=1,
                max_overflow=2,
                connect_args={"timeout": CONNECT_TIMEOUT, "server_settings": STATEMENT_TIMEOUT},
            )
        for attempt in range(2):
            try:
                async with self._engine.connect() as conn:
                    return await work(conn)
            except Exception as exc:
                if not unreachable(exc):
                    raise
                await self._engine.dispose()  # every pooled connection went with the server
                if attempt:
                    raise DatabaseUnavailable() from exc
        raise AssertionError("unreachable")  # pragma: no cover

    async def ready(self) -> bool:
        """A trivial query on every connection the check-in path uses."""

        async def select_one(conn: AsyncConnection) -> Any:
            return (await conn.exec_driver_sql("SELECT 1")).scalar()

        try:
            for name in self._locks:
                async with self._using(name) as conn:
                    await conn.fetchval("SELECT 1")
            await self._on_engine(select_one)
        except DatabaseUnavailable:
            return False
        return True

    async def load_calendar(self, **query: Any) -> Calendar:
        """``rosters.load_calendar`` through SQLAlchemy's compiled cache (see SqliteRecords)."""
        statements, params = calendar_queries(**query)

        async def read(conn: AsyncConnection) -> Calendar:
            rules, off_days, entries = [
                (await conn.execute(q, params)).mappings().all() for q in statements
            ]
            return calendar_from(rules, off_days, entries)

        return await self._on_engine(read)

    async def load_people(self, device_ids: list[str]) -> list[dict[str, Any] | None]:
        async with self._using("_reader") as conn:
            rows = await conn.fetch(self._person_sql, list(set(device_ids)))
        found = {r["id"]: dict(r) for r in rows}
        return [found.get(i) for i in device_ids]

    async def write(self, items: list[PendingCheckin]) -> Results:
        async with self._using("_writer") as conn, conn.transaction():
            results = await run_steps_async(plan_batch(items), _Transaction(conn, self._pg_types))
            await chain.append_postgres(conn, chain.created(items, results))  # the last statement
            return results


class _Transaction:
    """The planner's ``AsyncDialect`` on one connection inside its transaction."""

    def __init__(self, conn: Any, pg_types: dict[str, str]) -> None:
        self._conn = conn
        self._pg_types = pg_types

    async def states(
        self, display_ids: list[int], device_ids: list[str]
    ) -> tuple[dict[int, bool], dict[str, DeviceState]]:
        display_rows = await self._conn.fetch(
            "SELECT id, revoked_at IS NOT NULL AS revoked FROM displays WHERE id = ANY($1::int[])",
            display_ids,
        )
        device_rows = await self._conn.fetch(
            "SELECT d.id, d.revoked_at IS NOT NULL AS revoked, e.active FROM devices d"
            " JOIN employees e ON e.id = d.employee_id WHERE d.id = ANY($1::text[])",
            device_ids,
        )
        return (
            {r["id"]: r["revoked"] for r in display_rows},
            {r["id"]: (r["revoked"], r["active"]) for r in device_rows},
        )

    async def days_with_scans(self, days: list[Day]) -> set[Day]:
        rows = await self._conn.fetch(
            "SELECT DISTINCT c.employee_id, c.local_date FROM checkins c"
            " JOIN unnest($1::int[], $2::date[]) AS k(employee_id, local_date)"
            " ON c.employee_id = k.employee_id AND c.local_date = k.local_date",
            [e for e, _ in days],
            [d for _, d in days],
        )
        return {(r["employee_id"], r["local_date"]) for r in rows}

    async def insert(self, rows: list[dict[str, Any]]) -> dict[ScanKey, int]:
        names = list(rows[0])
        arrays = [[row[name] for row in rows] for name in names]
        columns = ", ".join(f'"{n}"' for n in names)
        unnest = ", ".join(f"${i + 1}::{self._pg_types[n]}[]" for i, n in enumerate(names))
        found = await self._conn.fetch(
            f"INSERT INTO checkins ({columns}) SELECT * FROM unnest({unnest})"  # noqa: S608 (column names come from the table)
            ' ON CONFLICT (employee_id, display_id, "window") DO NOTHING'
            ' RETURNING id, employee_id, display_id, "window"',
            *arrays,
        )
        return {(r["employee_id"], r["display_id"], r["window"]): r["id"] for r in found}

    async def read_back(self, keys: list[ScanKey]) -> dict[ScanKey, dict[str, Any]]:
        found = await self._conn.fetch(
            'SELECT c.employee_id, c.display_id, c."window", c.id, c.status, c.kind, c.at,'
            " c.late_minutes, c.category"
            " FROM checkins c JOIN unnest($1::int[], $2::int[], $3::bigint[]) AS k(e, d, w)"
            ' ON c.employee_id = k.e AND c.display_id = k.d AND c."window" = k.w',
            *[[key[n] for key in keys] for n in range(len(SCAN_KEY))],
        )
        return {
            (r["employee_id"], r["display_id"], r["window"]): {k: r[k] for k in READ_BACK}
            for r in found
        }

    async def touch_devices(self, device_ids: list[str], at: datetime) -> None:
        await self._conn.execute(
            "UPDATE devices SET last_used_at = $1 WHERE id = ANY($2::text[])", at, device_ids
        )
