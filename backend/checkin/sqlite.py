"""The check-in's records on SQLite: two dedicated sqlite3 connections, each on its own thread.

One thread hop per batch, and reads (WAL readers) never wait for the writer's fsync. WAL is set
by the migrations; ``synchronous=FULL`` makes each commit survive power loss.

Python's sqlite3 hands the GIL back and forth around every row it steps through, and while the
event loop is busy each hand-back waits for the interpreter's switch interval. So every
statement of a batch answers in one row (``json_group_array``) or none: a batch costs about ten
steps, not three per check-in.
"""

from __future__ import annotations

import asyncio
import functools
import json
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import sqlite

from backend.checkin import chain
from backend.checkin.planner import (
    READ_BACK,
    Day,
    DeviceState,
    PendingCheckin,
    Results,
    ScanKey,
    plan_batch,
    run_steps,
)
from backend.checkin.records import PERSON_SQL
from backend.db import checkins
from backend.rosters import Calendar, calendar_from, calendar_queries


class SqliteRecords:
    """Check-in writes (the planner's ``Dialect``) and batched device reads."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._dialect = sqlite.dialect()
        self._write_thread = ThreadPoolExecutor(1, thread_name_prefix="presensi-writer")
        self._read_thread = ThreadPoolExecutor(1, thread_name_prefix="presensi-reader")
        self._writer: sqlite3.Connection | None = None
        self._reader: sqlite3.Connection | None = None
        self._engine: sa.Engine | None = None  # over the reader's connection, on its thread
        # Values stored as SQLAlchemy stores them, so every other reader sees the same format.
        types = {c.name: c.type.dialect_impl(self._dialect) for c in checkins.c}
        self._bind = {n: t.bind_processor(self._dialect) for n, t in types.items()}
        self._result = {n: t.result_processor(self._dialect, None) for n, t in types.items()}
        self._insert_sql: dict[tuple[tuple[str, ...], int], str] = {}
        self._variables: int | None = None
        self._procs_for: dict[tuple[str, ...], list[tuple[int, Callable[[Any], Any]]]] = {}

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA busy_timeout = 30000")
        # WAL is set once by the migrations and persists in the file; FULL makes each commit
        # durable across power loss, not only across a crash of the process.
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("PRAGMA foreign_keys = ON")
        return conn

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._writer = await loop.run_in_executor(self._write_thread, self._connect)
        self._reader = await loop.run_in_executor(self._read_thread, self._connect)

    async def stop(self) -> None:
        loop = asyncio.get_running_loop()
        for conn, thread in ((self._writer, self._write_thread), (self._reader, self._read_thread)):
            if conn is not None:
                await loop.run_in_executor(thread, conn.close)
            thread.shutdown(wait=True)
        self._writer = self._reader = None
        self._engine = None  # its one connection was the reader's, closed above

    async def ready(self) -> bool:
        """A trivial query on the writer's and the reader's connection, on their threads."""
        loop = asyncio.get_running_loop()
        for conn, thread in ((self._writer, self._write_thread), (self._reader, self._read_thread)):
            if conn is None or await loop.run_in_executor(thread, _select_one, conn) != 1:
                return False
        return True

    # -- reads ---------------------------------------------------------------------------------

    async def load_people(self, device_ids: list[str]) -> list[dict[str, Any] | None]:
        return await asyncio.get_running_loop().run_in_executor(
            self._read_thread, self._load_people, device_ids
        )

    def _load_people(self, device_ids: list[str]) -> list[dict[str, Any] | None]:
        assert self._reader is not None
        wanted = list(set(device_ids))
        sql = PERSON_SQL.format(ids=f"IN ({', '.join('?' * len(wanted))})")
        cursor = self._reader.execute(sql, wanted)
        names = [d[0] for d in cursor.description]
        found: dict[str, dict[str, Any]] = {}
        for raw in cursor.fetchall():
            row = dict(zip(names, raw, strict=True))
            row["revoked"], row["active"] = bool(row["revoked"]), bool(row["active"])
            found[row["id"]] = row
        return [found.get(i) for i in device_ids]

    async def load_calendar(self, **query: Any) -> Calendar:
        """``rosters.load_calendar`` on the reader's connection, through SQLAlchemy's compiled
        cache (``databases`` compiles each statement anew: most of a batch's cost)."""
        return await asyncio.get_running_loop().run_in_executor(
            self._read_thread, functools.partial(self._load_calendar, **query)
        )

    def _load_calendar(self, **query: Any) -> Calendar:
        if self._engine is None:
            self._engine = sa.create_engine(
                "sqlite://", creator=lambda: self._reader, poolclass=sa.pool.StaticPool
            )
        statements, params = calendar_queries(**query)
        with self._engine.connect() as conn:
            rules, off_days, entries = [
                list(conn.execute(q, params).mappings()) for q in statements
            ]
        return calendar_from(rules, off_days, entries)

    # -- the write transaction -----------------------------------------------------------------

    async def write(self, items: list[PendingCheckin]) -> Results:
        return await asyncio.get_running_loop().run_in_executor(
            self._write_thread, self._write, items
        )

    def _write(self, items: list[PendingCheckin]) -> Results:
        conn = self._writer
        assert conn is not None, "SqliteRecords.start() was not awaited"
        # IMMEDIATE takes the write lock up front: checks and inserts see one consistent state.
        conn.execute("BEGIN IMMEDIATE")
        try:
            results = run_steps(plan_batch(items), self)
            chain.append_sqlite(conn, chain.created(items, results))  # the last statement
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:  # SQLITE_FULL has already rolled it back
                conn.execute("ROLLBACK")
            raise
        return results

    def states(
        self, display_ids: list[int], device_ids: list[str]
    ) -> tuple[dict[int, bool], dict[str, DeviceState]]:
        displays = {
            display_id: bool(revoked)
            for display_id, revoked in self._json_rows(
                "SELECT json_group_array(json_array(id, revoked_at IS NOT NULL))"
                " FROM displays WHERE id IN ({})",
                display_ids,
            )
        }
        devices = {
            device_id: (bool(revoked), bool(active))
            for device_id, revoked, active in self._json_rows(
                "SELECT json_group_array(json_array(d.id, d.revoked_at IS NOT NULL, e.active))"
                " FROM devices d JOIN employees e ON e.id = d.employee_id WHERE d.id IN ({})",
                device_ids,
            )
        }
        return displays, devices

    def days_with_scans(self, days: list[Day]) -> set[Day]:
        to_date, from_date = self._bind["local_date"], self._result["local_date"]
        assert to_date is not None and from_date is not None
        params = [value for e, d in days for value in (e, to_date(d))]
        found = self._one(
            "SELECT json_group_array(json_array(employee_id, local_date)) FROM"  # noqa: S608
            " (SELECT DISTINCT employee_id, local_date FROM checkins"
            f" WHERE (employee_id, local_date) IN (VALUES {', '.join(['(?, ?)'] * len(days))}))",
            params,
        )
        return {(e, from_date(d)) for e, d in found}  # type: ignore[misc]

    def insert(self, rows: list[dict[str, Any]]) -> dict[ScanKey, int]:
        """As few statements as SQLite's bound-variable limit allows.

        ``RETURNING`` would step once per row, so the ids are read back in one row instead:
        the write lock is held, and SQLite gives new rows ids above the largest one."""
        conn = self._writer
        assert conn is not None
        names = tuple(rows[0])
        procs = self._procs(names)
        per_statement = max(1, self._max_variables(conn) // len(names))
        (before,) = conn.execute("SELECT coalesce(max(id), 0) FROM checkins").fetchone()
        for start in range(0, len(rows), per_statement):
            chunk = rows[start : start + per_statement]
            params: list[Any] = []
            for row in chunk:
                if tuple(row) != names:
                    raise ValueError("check-in rows of one batch must have the same columns")
                values = [row[n] for n in names]
                for n, proc in procs:
                    if values[n] is not None:
                        values[n] = proc(values[n])
                params += values
            conn.execute(self._insert(names, len(chunk)), params)
        found = self._one(
            'SELECT json_group_array(json_array(id, employee_id, display_id, "window"))'
            " FROM checkins WHERE id > ?",
            [before],
        )
        return {(e, d, w): new_id for new_id, e, d, w in found}

    def read_back(self, keys: list[ScanKey]) -> dict[ScanKey, dict[str, Any]]:
        found = self._one(
            'SELECT json_group_array(json_array(employee_id, display_id, "window", id, status,'  # noqa: S608
            " kind, at, late_minutes, category)) FROM checkins"
            ' WHERE (employee_id, display_id, "window") IN'
            f" (VALUES {', '.join(['(?, ?, ?)'] * len(keys))})",
            [value for key in keys for value in key],
        )
        stored = {}
        for e, d, w, *columns in found:
            row = dict(zip(READ_BACK, columns, strict=True))
            for name in READ_BACK:
                result_proc = self._result[name]
                if result_proc is not None and row[name] is not None:
                    row[name] = result_proc(row[name])
            stored[(e, d, w)] = row
        return stored

    def touch_devices(self, device_ids: list[str], at: datetime) -> None:
        assert self._writer is not None
        at_proc = self._bind["at"]
        assert at_proc is not None
        self._writer.execute(
            f"UPDATE devices SET last_used_at = ? WHERE id IN ({', '.join('?' * len(device_ids))})",  # noqa: S608
            [at_proc(at), *device_ids],
        )

    def _one(self, sql: str, params: list[Any]) -> list[Any]:
        """The rows of a ``json_group_array`` query, on the writer's connection."""
        assert self._writer is not None
        (found,) = self._writer.execute(sql, params).fetchone()
        return json.loads(found) if found else []

    def _json_rows(self, sql: str, ids: list[Any]) -> list[Any]:
        """``_one`` for a query over ``IN ({})`` filled with ``ids``."""
        return self._one(sql.format(", ".join("?" * len(ids))), ids) if ids else []

    def _max_variables(self, conn: sqlite3.Connection) -> int:
        if self._variables is None:
            self._variables = conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
        return self._variables

    def _procs(self, names: tuple[str, ...]) -> list[tuple[int, Callable[[Any], Any]]]:
        """(position, bind processor) of the columns whose values need converting."""
        procs = self._procs_for.get(names)
        if procs is None:
            procs = self._procs_for[names] = [
                (n, proc) for n, name in enumerate(names) if (proc := self._bind[name]) is not None
            ]
        return procs

    def _insert(self, names: tuple[str, ...], count: int) -> str:
        sql = self._insert_sql.get((names, count))
        if sql is None:
            columns = ", ".join(f'"{n}"' for n in names)
            row = f"({', '.join('?' * len(names))})"
            sql = self._insert_sql[(names, count)] = (
                f"INSERT INTO checkins ({columns}) VALUES {', '.join([row] * count)}"  # noqa: S608
                ' ON CONFLICT (employee_id, display_id, "window") DO NOTHING'
            )
        return sql


def _select_one(conn: sqlite3.Connection) -> int:
    (one,) = conn.execute("SELECT 1").fetchone()
    return int(one)
