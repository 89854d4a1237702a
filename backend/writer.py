"""Group commit for check-ins: concurrent scans share one transaction and one commit.

During the morning rush thousands of phones submit within minutes. Committing each scan in its
own transaction (and, on SQLite, through ``databases``' new connection and thread per query)
spends the server on fsyncs and thread hops. Instead every request hands its verified record to
a ``Batcher``; while one batch is being committed the next one gathers, so the batch size grows
with the load on its own and no request waits for a timer. Each request's future is resolved
only after COMMIT returns, so an answer still means the record is durable.

Within a batch each record is checked again against the rows that can change under it (display
and device revocation, the employee's ``active`` flag): a revocation committed before the batch
refuses the scan at once, in every process, whatever the read caches hold. A refused record
writes nothing; a repeated scan of the same display window writes nothing and answers with the
stored record (``ON CONFLICT DO NOTHING`` + read back).

SQLite: one dedicated connection on one thread, WAL (set by the migrations) with
``synchronous=FULL`` so a commit survives power loss. PostgreSQL: its own asyncpg connection.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import sqlite3
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Generic, TypeVar

import sqlalchemy as sa
from databases import Database
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from backend.db import checkins
from backend.errors import ApiError, storage_full
from backend.rosters import Calendar, calendar_from, calendar_queries
from backend.schedules import Classification

log = logging.getLogger("presensi.writer")

T = TypeVar("T")
R = TypeVar("R")
MAX_BATCH = 512  # also keeps SQLite under its bound-variable limit in batched reads
SCAN_KEY = ("employee_id", "display_id", "window")
READ_BACK = ("id", "status", "kind", "at", "late_minutes", "category")


class Batcher(Generic[T, R]):
    """Coalesce concurrent submissions into batches run one at a time.

    ``run`` gets a list of items and returns one result per item; a result that is an
    exception is raised in that item's caller only. When ``run`` itself fails for a batch of
    several items, each item is retried alone so one bad record cannot sink its neighbours.
    """

    def __init__(
        self, run: Callable[[list[T]], Awaitable[Sequence[R | Exception]]], max_batch: int
    ) -> None:
        self._run = run
        self._max = max_batch
        self._queue: list[tuple[T, asyncio.Future[R]]] = []
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.batches = 0
        self.items = 0

    async def submit(self, item: T) -> R:
        # While a batch runs, its loop is the caller's: asking for the running loop costs a
        # getpid() system call on Python 3.11, and this is every check-in's path.
        loop = self._loop
        if self._task is None or loop is None:
            loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        self._queue.append((item, future))
        if self._task is None:
            self._loop = loop
            self._task = loop.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        try:
            while self._queue:
                batch, self._queue = self._queue[: self._max], self._queue[self._max :]
                await self._run_batch(batch)
        finally:
            self._task = None

    async def _run_batch(self, batch: list[tuple[T, asyncio.Future[R]]]) -> None:
        self.batches += 1
        self.items += len(batch)
        try:
            results = await self._run([item for item, _ in batch])
        except asyncio.CancelledError:
            for _, future in batch:  # never leave a caller waiting on a batch that will not run
                if not future.done():
                    future.set_exception(RuntimeError("the check-in writer was stopped"))
            raise
        except Exception as exc:
            if storage_full(exc):  # faults: every item would fail alike; nothing was stored
                results = [ApiError("storage_full") for _ in batch]
            elif len(batch) == 1:
                results = [exc]
            else:
                log.warning("batch of %d failed (%s); retrying one by one", len(batch), exc)
                for one in batch:
                    await self._run_batch([one])
                return
        for (_, future), result in zip(batch, results, strict=True):
            if future.done():  # the caller went away (client disconnected)
                continue
            if isinstance(result, Exception):
                future.set_exception(result)
            else:
                future.set_result(result)

    async def close(self) -> None:
        """Wait for the batches already submitted (shutdown must not drop acknowledged work)."""
        while self._task is not None:
            await asyncio.shield(self._task)


@dataclass
class PendingCheckin:
    """A scan that passed every check that does not need the write transaction."""

    values: dict[str, Any]  # the checkins row without kind, late_minutes, category
    classify: Callable[[bool], Classification]  # given "scanned earlier that day?"
    needs_history: bool  # whether classify depends on earlier scans that day


@dataclass
class Written:
    created: bool
    row: dict[str, Any] = field(default_factory=dict)  # READ_BACK columns


def _refusal(display_revoked: bool | None, device: tuple[bool, bool] | None) -> ApiError | None:
    """What the write transaction sees now; ``device`` is (revoked, employee active)."""
    if display_revoked is None:
        return ApiError("unknown_display")
    if display_revoked:
        return ApiError("display_revoked")
    if device is None:
        return ApiError("unknown_device")
    if device[0]:
        return ApiError("device_revoked")
    if not device[1]:
        return ApiError("employee_inactive")
    return None


def _with_verdict(item: PendingCheckin, scanned_before: bool) -> dict[str, Any]:
    verdict = item.classify(scanned_before)
    return {
        **item.values,
        "kind": verdict.kind,
        "late_minutes": verdict.late_minutes,
        "category": verdict.category,
    }


# What the check-in needs to know about a phone and its owner; {ids} is filled per backend.
PERSON_SQL = (
    "SELECT d.id, d.public_key, d.revoked_at IS NOT NULL AS revoked, e.id AS employee_id,"
    " e.nip, e.name, e.active, e.unit_id, e.office_id, u.agency_id FROM devices d"
    " JOIN employees e ON e.id = d.employee_id JOIN units u ON u.id = e.unit_id"
    " WHERE d.id {ids}"
)


# -- SQLite -----------------------------------------------------------------------------------


class SqliteRecords:
    """Check-in writes and batched device reads on two dedicated sqlite3 connections.

    Each connection lives on its own single thread: one thread hop per batch, and reads (WAL
    readers) never wait for the writer's fsync.
    """

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
        self._read_back_sql = (
            "SELECT id, status, kind, at, late_minutes, category FROM checkins"
            ' WHERE employee_id = ? AND display_id = ? AND "window" = ?'
        )

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

    async def load_people(self, device_ids: list[str]) -> list[Any]:
        return await asyncio.get_running_loop().run_in_executor(
            self._read_thread, self._load_people, device_ids
        )

    async def load_calendar(self, db: Database, **query: Any) -> Calendar:
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

    async def write(self, items: list[PendingCheckin]) -> list[Written | Exception]:
        return await asyncio.get_running_loop().run_in_executor(
            self._write_thread, self._write, items
        )

    def _write(self, items: list[PendingCheckin]) -> list[Written | Exception]:
        conn = self._writer
        assert conn is not None, "SqliteRecords.start() was not awaited"
        # IMMEDIATE takes the write lock up front: checks and inserts see one consistent state.
        conn.execute("BEGIN IMMEDIATE")
        try:
            results = self._write_all(conn, items)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:  # faults: SQLITE_FULL has already rolled it back
                conn.execute("ROLLBACK")
            raise
        return results

    def _write_all(
        self, conn: sqlite3.Connection, items: list[PendingCheckin]
    ) -> list[Written | Exception]:
        # Python's sqlite3 hands the GIL back and forth around every row it steps through, and
        # while the event loop is busy each hand-back waits for the interpreter's switch
        # interval. So every statement here answers in one row (json_group_array) or none:
        # a batch costs about ten steps, not three per check-in.
        display_state = dict(
            self._json_rows(
                conn,
                "SELECT json_group_array(json_array(id, revoked_at IS NOT NULL))"
                " FROM displays WHERE id IN ({})",
                list({i.values["display_id"] for i in items}),
            )
        )
        device_state = {
            device_id: (bool(revoked), bool(active))
            for device_id, revoked, active in self._json_rows(
                conn,
                "SELECT json_group_array(json_array(d.id, d.revoked_at IS NOT NULL, e.active))"
                " FROM devices d JOIN employees e ON e.id = d.employee_id WHERE d.id IN ({})",
                list({i.values["device_id"] for i in items}),
            )
        }
        date_proc = self._bind["local_date"]
        assert date_proc is not None
        refusals = {
            n: refusal
            for n, item in enumerate(items)
            if (
                refusal := _refusal(
                    display_state.get(item.values["display_id"]),
                    device_state.get(item.values["device_id"]),
                )
            )
            is not None
        }
        live = [n for n in range(len(items)) if n not in refusals]
        history = self._days_with_scans(
            conn,
            {
                (items[n].values["employee_id"], items[n].values["local_date"])
                for n in live
                if items[n].needs_history
            },
        )
        rows: dict[int, dict[str, Any]] = {}
        first_of_key: dict[tuple[Any, ...], int] = {}
        for n in live:
            v = items[n].values
            day = (v["employee_id"], date_proc(v["local_date"]))
            rows[n] = _with_verdict(items[n], day in history)
            history.add(day)  # a later scan in this batch, same day, comes after this one
            first_of_key.setdefault((v["employee_id"], v["display_id"], v["window"]), n)

        # Multi-row INSERTs for the batch (a repeat of a stored scan inserts nothing).
        created = self._insert_rows(conn, [rows[n] for n in first_of_key.values()])
        results: list[Written | Exception] = []
        new_devices: set[str] = set()
        for n, item in enumerate(items):
            v = item.values
            if n in refusals:
                results.append(refusals[n])
                continue
            key = (v["employee_id"], v["display_id"], v["window"])
            new_id = created.pop(key, None) if first_of_key[key] == n else None
            if new_id is not None:
                new_devices.add(v["device_id"])
                results.append(
                    Written(True, {"id": new_id, **{k: rows[n][k] for k in READ_BACK[1:]}})
                )
                continue
            stored = dict(
                zip(READ_BACK, conn.execute(self._read_back_sql, key).fetchone(), strict=True)
            )
            for name in READ_BACK:
                result_proc = self._result[name]
                if result_proc is not None and stored[name] is not None:
                    stored[name] = result_proc(stored[name])
            results.append(Written(False, stored))
        if new_devices:
            at_proc = self._bind["at"]
            assert at_proc is not None
            ids = list(new_devices)
            conn.execute(
                f"UPDATE devices SET last_used_at = ? WHERE id IN ({', '.join('?' * len(ids))})",  # noqa: S608
                [at_proc(items[0].values["at"]), *ids],
            )
        return results

    def _json_rows(self, conn: sqlite3.Connection, sql: str, ids: list[Any]) -> list[Any]:
        """The rows of a ``json_group_array`` query over ``IN ({})`` filled with ``ids``."""
        if not ids:
            return []
        (found,) = conn.execute(sql.format(", ".join("?" * len(ids))), ids).fetchone()
        return json.loads(found) if found else []

    def _days_with_scans(
        self, conn: sqlite3.Connection, days: set[tuple[int, date]]
    ) -> set[tuple[int, str]]:
        """Which (employee, working day) pairs already have a scan, local_date as stored."""
        if not days:
            return set()
        date_proc = self._bind["local_date"]
        assert date_proc is not None
        params = [value for e, d in days for value in (e, date_proc(d))]
        (found,) = conn.execute(
            "SELECT json_group_array(json_array(employee_id, local_date)) FROM"  # noqa: S608
            " (SELECT DISTINCT employee_id, local_date FROM checkins"
            f" WHERE (employee_id, local_date) IN (VALUES {', '.join(['(?, ?)'] * len(days))}))",
            params,
        ).fetchone()
        return {(e, d) for e, d in json.loads(found)} if found else set()

    def _insert_rows(
        self, conn: sqlite3.Connection, rows: list[dict[str, Any]]
    ) -> dict[tuple[Any, ...], int]:
        """Insert new scans, as few statements as SQLite's bound-variable limit allows; the ids
        of the rows inserted, by scan key (``ON CONFLICT DO NOTHING`` skips stored scans).

        ``RETURNING`` would step once per row, so the ids are read back in one row instead:
        the write lock is held, and SQLite gives new rows ids above the largest one."""
        if not rows:
            return {}
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
        (found,) = conn.execute(
            'SELECT json_group_array(json_array(id, employee_id, display_id, "window"))'
            " FROM checkins WHERE id > ?",
            (before,),
        ).fetchone()
        return {(e, d, w): new_id for new_id, e, d, w in json.loads(found)}

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


# -- PostgreSQL -------------------------------------------------------------------------------


class PostgresRecords:
    """Check-in writes and batched device reads on dedicated asyncpg connections.

    ``databases`` 0.9 runs one statement per call and cannot send arrays of rows, so the batch
    goes straight to the driver: a whole batch costs a handful of round trips (statuses,
    ``INSERT ... SELECT FROM unnest(...)``, read back, ``UPDATE ... = ANY``) in one transaction.
    """

    def __init__(self, url: str) -> None:
        self._dsn = url.replace("postgresql+asyncpg://", "postgresql://", 1)
        self._dialect = postgresql.dialect()
        self._writer: Any = None
        self._reader: Any = None
        self._pg_types = {c.name: c.type.compile(dialect=self._dialect) for c in checkins.c}
        self._person_sql = PERSON_SQL.format(ids="= ANY($1::text[])")
        self._engine: AsyncEngine | None = None  # for the calendar's prepared statements

    async def start(self) -> None:
        import asyncpg

        self._writer = await asyncpg.connect(self._dsn)
        self._reader = await asyncpg.connect(self._dsn)

    async def stop(self) -> None:
        for conn in (self._writer, self._reader):
            if conn is not None:
                await conn.close()
        self._writer = self._reader = None
        if self._engine is not None:
            await self._engine.dispose()
            self._engine = None

    async def load_calendar(self, db: Database, **query: Any) -> Calendar:
        """``rosters.load_calendar`` through SQLAlchemy's compiled cache (see SqliteRecords)."""
        if self._engine is None:
            url = self._dsn.replace("postgresql://", "postgresql+asyncpg://", 1)
            self._engine = create_async_engine(url, pool_size=1, max_overflow=2)
        statements, params = calendar_queries(**query)
        async with self._engine.connect() as conn:
            rules, off_days, entries = [
                (await conn.execute(q, params)).mappings().all() for q in statements
            ]
        return calendar_from(rules, off_days, entries)

    async def load_people(self, device_ids: list[str]) -> list[Any]:
        rows = await self._reader.fetch(self._person_sql, list(set(device_ids)))
        found = {r["id"]: dict(r) for r in rows}
        return [found.get(i) for i in device_ids]

    async def write(self, items: list[PendingCheckin]) -> list[Written | Exception]:
        conn = self._writer
        assert conn is not None, "PostgresRecords.start() was not awaited"
        async with conn.transaction():
            return await self._write(conn, items)

    async def _write(self, conn: Any, items: list[PendingCheckin]) -> list[Written | Exception]:
        results: list[Written | Exception | None] = [None] * len(items)
        display_rows = await conn.fetch(
            "SELECT id, revoked_at IS NOT NULL AS revoked FROM displays WHERE id = ANY($1::int[])",
            list({i.values["display_id"] for i in items}),
        )
        device_rows = await conn.fetch(
            "SELECT d.id, d.revoked_at IS NOT NULL AS revoked, e.active FROM devices d"
            " JOIN employees e ON e.id = d.employee_id WHERE d.id = ANY($1::text[])",
            list({i.values["device_id"] for i in items}),
        )
        display_state = {r["id"]: r["revoked"] for r in display_rows}
        device_state = {r["id"]: (r["revoked"], r["active"]) for r in device_rows}
        live: list[int] = []
        for n, item in enumerate(items):
            refusal = _refusal(
                display_state.get(item.values["display_id"]),
                device_state.get(item.values["device_id"]),
            )
            if refusal is not None:
                results[n] = refusal
            else:
                live.append(n)

        history = await self._days_with_scans(
            conn, [items[n] for n in live if items[n].needs_history]
        )
        rows: dict[int, dict[str, Any]] = {}
        first_of_key: dict[tuple[Any, ...], int] = {}
        for n in live:
            v = items[n].values
            day = (v["employee_id"], v["local_date"])
            rows[n] = _with_verdict(items[n], day in history)
            history.add(day)  # a later scan in this batch, same day, comes after this one
            first_of_key.setdefault(tuple(v[k] for k in SCAN_KEY), n)

        inserted = await self._insert(conn, [rows[n] for n in first_of_key.values()])
        created = {first_of_key[key]: new_id for key, new_id in inserted.items()}
        if created:
            await conn.execute(
                "UPDATE devices SET last_used_at = $1 WHERE id = ANY($2::text[])",
                items[0].values["at"],
                list({items[n].values["device_id"] for n in created}),
            )
        repeats = [n for n in live if n not in created]
        stored = await self._read_back(conn, [items[n] for n in repeats])
        for n in live:
            if n in created:
                results[n] = Written(
                    True, {"id": created[n], **{k: rows[n][k] for k in READ_BACK[1:]}}
                )
            else:
                key = tuple(items[n].values[k] for k in SCAN_KEY)
                results[n] = Written(False, stored[key])
        return [r for r in results if r is not None]

    async def _days_with_scans(
        self, conn: Any, items: list[PendingCheckin]
    ) -> set[tuple[int, date]]:
        if not items:
            return set()
        rows = await conn.fetch(
            "SELECT DISTINCT c.employee_id, c.local_date FROM checkins c"
            " JOIN unnest($1::int[], $2::date[]) AS k(employee_id, local_date)"
            " ON c.employee_id = k.employee_id AND c.local_date = k.local_date",
            [i.values["employee_id"] for i in items],
            [i.values["local_date"] for i in items],
        )
        return {(r["employee_id"], r["local_date"]) for r in rows}

    async def _insert(self, conn: Any, rows: list[dict[str, Any]]) -> dict[tuple[Any, ...], int]:
        if not rows:
            return {}
        names = list(rows[0])
        arrays = [[row[name] for row in rows] for name in names]
        columns = ", ".join(f'"{n}"' for n in names)
        unnest = ", ".join(f"${i + 1}::{self._pg_types[n]}[]" for i, n in enumerate(names))
        found = await conn.fetch(
            f"INSERT INTO checkins ({columns}) SELECT * FROM unnest({unnest})"  # noqa: S608 (column names come from the table)
            ' ON CONFLICT (employee_id, display_id, "window") DO NOTHING'
            ' RETURNING id, employee_id, display_id, "window"',
            *arrays,
        )
        return {tuple(r[k] for k in SCAN_KEY): r["id"] for r in found}

    async def _read_back(
        self, conn: Any, items: list[PendingCheckin]
    ) -> dict[tuple[Any, ...], dict[str, Any]]:
        if not items:
            return {}
        found = await conn.fetch(
            'SELECT c.employee_id, c.display_id, c."window", c.id, c.status, c.kind, c.at,'
            " c.late_minutes, c.category"
            " FROM checkins c JOIN unnest($1::int[], $2::int[], $3::bigint[]) AS k(e, d, w)"
            ' ON c.employee_id = k.e AND c.display_id = k.d AND c."window" = k.w',
            *[[i.values[k] for i in items] for k in SCAN_KEY],
        )
        return {tuple(r[k] for k in SCAN_KEY): {k: r[k] for k in READ_BACK} for r in found}


Records = SqliteRecords | PostgresRecords


def open_records(database_url: str) -> Records:
    if database_url.startswith("sqlite"):
        path = database_url.split("///", 1)[-1]
        return SqliteRecords(path)
    return PostgresRecords(database_url)


class CheckinWriter:
    """The one writer of check-in records, shared by every request of this process."""

    def __init__(self, records: Records) -> None:
        self.records = records
        self._batcher: Batcher[PendingCheckin, Written] = Batcher(records.write, MAX_BATCH)

    async def commit(self, item: PendingCheckin) -> Written:
        return await self._batcher.submit(item)

    @property
    def batches(self) -> int:
        return self._batcher.batches

    @property
    def items(self) -> int:
        return self._batcher.items

    async def close(self) -> None:
        await self._batcher.close()
