"""The write discipline in backend/db.py: every ``db.transaction()`` may write.

On SQLite a root transaction begins with ``BEGIN IMMEDIATE``: it holds the write lock from its
first statement, so a transaction that reads and then writes can never be refused with
"database is locked" because another connection committed in between (WAL cannot upgrade a
stale read snapshot, whatever ``busy_timeout`` says). The lint test at the end keeps the wrong
shape from being written again.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa

from backend.db import (
    PresensiDatabase,
    agencies,
    holidays,
    insert_or_lock,
    is_unique_violation,
    make_database,
    utcnow,
)

ROOT = Path(__file__).resolve().parents[1]


def sqlite_path(url: str) -> str:
    return url.split(":///", 1)[1]


def other_process(url: str) -> sqlite3.Connection:
    """A second connection to the file that does not wait for locks: it stands in for another
    process (the CLI, the check-in writer's own connection)."""
    return sqlite3.connect(sqlite_path(url), timeout=0, isolation_level=None)


# SQLite's locking: these run on SQLite alone (chosen, not skipped on PostgreSQL).
on_sqlite = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture
def sqlite_only(database_url: str) -> str:
    assert database_url.startswith("sqlite"), "mark the test @on_sqlite"
    return database_url


@on_sqlite
async def test_a_transaction_holds_the_write_lock_from_begin(sqlite_only: str) -> None:
    db = make_database(sqlite_only)
    await db.connect()
    other = other_process(sqlite_only)
    try:
        async with db.transaction():
            # Not a statement has run yet inside the transaction: the lock is already taken.
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")
            # Readers are never blocked (WAL).
            assert other.execute("SELECT count(*) FROM agencies").fetchone() == (0,)
        other.execute("BEGIN IMMEDIATE")  # and it is free again after COMMIT
        other.execute("ROLLBACK")
    finally:
        other.close()
        await db.disconnect()


@on_sqlite
async def test_read_only_transactions_and_iterate_leave_the_lock_free(sqlite_only: str) -> None:
    db = make_database(sqlite_only)
    await db.connect()
    other = other_process(sqlite_only)
    try:
        async with db.transaction(readonly=True):
            await db.fetch_val(sa.select(sa.func.count()).select_from(agencies))
            other.execute("BEGIN IMMEDIATE")
            other.execute("ROLLBACK")
        async for _row in db.iterate(sa.select(sa.literal(1))):
            other.execute("BEGIN IMMEDIATE")
            other.execute("ROLLBACK")
    finally:
        other.close()
        await db.disconnect()


@on_sqlite
async def test_concurrent_read_then_write_transactions_all_succeed(sqlite_only: str) -> None:
    """The shape that failed with "database is locked": read, yield, write. 40 at once, no
    error and no lost update."""
    db = make_database(sqlite_only)
    await db.connect()
    try:
        agency_id = await db.fetch_val(
            agencies.insert()
            .values(code="X", name="0", created_at=utcnow())
            .returning(agencies.c.id)
        )

        async def bump() -> None:
            async with db.transaction():
                name = await db.fetch_val(
                    sa.select(agencies.c.name).where(agencies.c.id == agency_id)
                )
                await asyncio.sleep(0)  # let the others interleave
                await db.execute(
                    agencies.update()
                    .where(agencies.c.id == agency_id)
                    .values(name=str(int(name) + 1))
                )

        await asyncio.gather(*(bump() for _ in range(40)))
        assert await db.fetch_val(sa.select(agencies.c.name)) == "40"
    finally:
        await db.disconnect()


@on_sqlite
async def test_a_deferred_transaction_would_have_failed(sqlite_only: str) -> None:
    """The control: the same read-then-write with a plain BEGIN is refused at once when another
    connection commits in between. This is what every transaction did before."""
    path = sqlite_path(sqlite_only)
    mine = sqlite3.connect(path, timeout=5, isolation_level=None)
    other = sqlite3.connect(path, timeout=5, isolation_level=None)
    try:
        mine.execute("BEGIN")
        mine.execute("SELECT count(*) FROM agencies").fetchone()
        other.execute(
            "INSERT INTO agencies (code, name, created_at) VALUES ('Y', 'y', '2026-01-01')"
        )
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            mine.execute(
                "INSERT INTO agencies (code, name, created_at) VALUES ('Z', 'z', '2026-01-01')"
            )
        mine.execute("ROLLBACK")
    finally:
        mine.close()
        other.close()


@on_sqlite
async def test_a_begin_that_times_out_gives_everything_back(sqlite_only: str) -> None:
    db = PresensiDatabase(sqlite_only, timeout=0.2)
    await db.connect()
    other = other_process(sqlite_only)
    try:
        other.execute("BEGIN IMMEDIATE")
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            async with db.transaction():
                pass
        other.execute("ROLLBACK")
        connection = db.connection()
        assert connection._connection_counter == 0  # the connection went back to the pool
        assert not db._backend.write_lock().locked()  # type: ignore[attr-defined]
        async with db.transaction():
            await db.execute(agencies.insert().values(code="A", name="a", created_at=utcnow()))
        assert await db.fetch_val(sa.select(sa.func.count()).select_from(agencies)) == 1
    finally:
        other.close()
        await db.disconnect()


@on_sqlite
async def test_writers_in_one_process_queue_instead_of_timing_out(sqlite_only: str) -> None:
    """More writers than the busy timeout could serve by polling: they queue on the lock."""
    db = PresensiDatabase(sqlite_only, timeout=5)
    await db.connect()
    try:

        async def add(n: int) -> None:
            async with db.transaction():
                await db.fetch_val(sa.select(sa.func.count()).select_from(agencies))
                await db.execute(
                    agencies.insert().values(code=f"C{n}", name=str(n), created_at=utcnow())
                )

        await asyncio.gather(*(add(n) for n in range(100)))
        assert await db.fetch_val(sa.select(sa.func.count()).select_from(agencies)) == 100
    finally:
        await db.disconnect()


async def test_insert_or_lock_has_one_winner(database_url: str) -> None:
    """Racing upserts of one key: one insert, the others find the row (PostgreSQL included,
    where a plain select-then-insert raises a unique violation for the loser)."""
    db = make_database(database_url)
    await db.connect()
    try:
        agency_id = await db.fetch_val(
            agencies.insert()
            .values(code="H", name="h", created_at=utcnow())
            .returning(agencies.c.id)
        )
        day = utcnow().date()

        async def put(n: int) -> bool:
            async with db.transaction():
                inserted, row = await insert_or_lock(
                    db,
                    holidays,
                    {"agency_id": agency_id, "day": day},
                    {"name": f"h{n}", "kind": "local", "source": "manual",
                     "updated_by": "t", "updated_at": utcnow()},
                )  # fmt: skip
                if not inserted:
                    await db.execute(
                        holidays.update().where(holidays.c.id == row["id"]).values(name=f"h{n}")
                    )
                return inserted

        results = await asyncio.gather(*(put(n) for n in range(12)))
        assert results.count(True) == 1
        assert await db.fetch_val(sa.select(sa.func.count()).select_from(holidays)) == 1
    finally:
        await db.disconnect()


async def test_unique_violations_are_recognised(database_url: str) -> None:
    db = make_database(database_url)
    await db.connect()
    try:
        await db.execute(agencies.insert().values(code="U", name="u", created_at=utcnow()))
        with pytest.raises(Exception) as raised:
            await db.execute(agencies.insert().values(code="U", name="u", created_at=utcnow()))
        assert is_unique_violation(raised.value)
        assert not is_unique_violation(ValueError("UNIQUE"))
    finally:
        await db.disconnect()


# -- the wrong shape, kept from coming back ---------------------------------------------------

# Files that talk to a database driver directly, each for a reason:
# - backend/db.py is the mechanism;
# - the check-in path (backend/checkin/) keeps its own connections and begins its batches with
#   BEGIN IMMEDIATE itself;
# - backend/backup.py reads a REPEATABLE READ snapshot on PostgreSQL and restores through
#   SQLAlchemy into a database nobody else is using yet.
DRIVER_LEVEL = {"backend/db.py", "backend/backup.py"}
DRIVER_DIRS = ("backend/checkin/",)
RULES = {
    "a raw BEGIN (use db.transaction())": re.compile(r"""["']\s*BEGIN\b""", re.IGNORECASE),
    "isolation_level (db.py sets it)": re.compile(r"isolation_level"),
    "a transaction on something other than `db`": re.compile(
        r"(?<![\w.])(?!db\b)(?!self\.db\b)(?!state\.db\b)[\w.]+\.transaction\("
    ),
    "a driver connection (use make_database)": re.compile(
        r"\b(sqlite3|aiosqlite|asyncpg)\.connect\(|\bDatabase\("
    ),
    "a raw connection that writes": re.compile(
        r"raw_connection.*\b(INSERT|UPDATE|DELETE)\b", re.IGNORECASE | re.DOTALL
    ),
}
EXCEPTIONS = {
    # LISTEN/NOTIFY needs a connection of its own; it never writes rows.
    ("backend/events.py", "a driver connection (use make_database)"),
}


def source_files() -> list[Path]:
    files = []
    for folder in ("backend", "display_server", "scanner_pwa"):
        files += [p for p in (ROOT / folder).rglob("*.py") if "migrations" not in p.parts]
    return sorted(files)


def test_no_module_opens_transactions_of_its_own() -> None:
    found = []
    for path in source_files():
        name = path.relative_to(ROOT).as_posix()
        if name in DRIVER_LEVEL or name.startswith(DRIVER_DIRS):
            continue
        text = path.read_text(encoding="utf-8")
        for rule, pattern in RULES.items():
            if (name, rule) in EXCEPTIONS:
                continue
            if rule == "a raw connection that writes":
                # The statements that run on a raw connection are in the same function.
                for chunk in re.split(r"\n(?:async )?def ", text):
                    if pattern.search(chunk):
                        found.append(f"{name}: {rule}")
                continue
            for number, line in enumerate(text.splitlines(), 1):
                if pattern.search(line):
                    found.append(f"{name}:{number}: {rule}: {line.strip()}")
    assert not found, "\n".join(found)


def test_the_lint_catches_the_wrong_shapes() -> None:
    wrong = {
        "a raw BEGIN (use db.transaction())": 'await conn.execute("BEGIN")',
        "isolation_level (db.py sets it)": "sqlite3.connect(path, isolation_level=None)",
        "a transaction on something other than `db`": "async with conn.transaction():",
        "a driver connection (use make_database)": "db = Database(url)",
    }
    for rule, line in wrong.items():
        assert RULES[rule].search(line), rule
    assert not RULES["a transaction on something other than `db`"].search(
        "async with db.transaction():"
    )
    assert not RULES["a transaction on something other than `db`"].search(
        "async with state.db.transaction(readonly=True):"
    )


# -- a race nobody answered: 409, never 500 ----------------------------------------------------


def test_an_escaped_conflict_answers_409_write_conflict(tmp_path: Path) -> None:
    from starlette.applications import Starlette
    from starlette.routing import Route
    from starlette.testclient import TestClient

    from backend.app import create_app
    from backend.db import CONFLICT_ERRORS
    from backend.errors import write_conflict_handler
    from tests.conftest import make_settings

    app = create_app(make_settings(tmp_path, f"sqlite:///{tmp_path / 'x.db'}"))
    for cls in CONFLICT_ERRORS:
        assert app.exception_handlers[cls] is write_conflict_handler

    async def lost_a_race(request: object) -> None:
        raise sqlite3.IntegrityError("UNIQUE constraint failed: holidays.agency_id, holidays.day")

    bare = Starlette(
        routes=[Route("/api/v1/x", lost_a_race, methods=["POST"])],
        exception_handlers=dict.fromkeys(CONFLICT_ERRORS, write_conflict_handler),
    )
    with TestClient(bare) as client:
        answer = client.post("/api/v1/x")
    assert answer.status_code == 409
    assert answer.json()["error"]["code"] == "write_conflict"
    assert answer.json()["error"]["message"] != answer.json()["error"]["message_en"]
