"""The changes feed: every created, updated or cancelled record, in commit order.

Database triggers write one ``changes`` row for each insert or update of a tracked table, in the
writing transaction itself, so every write path (the check-in group commit with its own driver
connections included) is covered and nothing is written when the transaction rolls back. A
migration tracks a table with one line::

    changes.track(op, "requests", "request")

and ``RENDERERS`` may name how its ``data`` is shown (by default: the row's columns).

Positions (``seq``) are commit-ordered, so a client that stores the last ``seq`` and polls sees
every change exactly once:

- **SQLite** serializes writers (``BEGIN IMMEDIATE``), so the row id is already in commit order.
- **PostgreSQL** hands out sequence values when a row is written, not when it commits: a
  transaction that took id 5 may commit after the one that took id 6. Each row therefore
  records its transaction id (``pg_current_xact_id()``), and ``publish()`` numbers only rows
  whose transaction is older than the oldest one still in flight
  (``pg_snapshot_xmin(pg_current_snapshot())``): those transactions are all finished, so no row
  can appear later below a number already handed out. Rows are numbered in (transaction id,
  id) order, one publisher at a time (an advisory lock), continuing after the largest ``seq``.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from databases import Database

from backend.db import as_utc, metadata, utcnow
from backend.db import changes as changes_table

PUBLISH_LOCK = 0x70726573  # the advisory lock's key ("pres")
PUBLISH_BATCH = 50_000
MAX_LIMIT = 1000


# -- tracking: the triggers -----------------------------------------------------------------


@dataclass(frozen=True)
class Track:
    table: str
    type: str
    id_column: str = "id"
    cancel_column: str = ""  # set from NULL: the action is "cancelled"
    on_insert: str = "created"
    updates: bool = True
    ignore: tuple[str, ...] = ()  # an update of only these columns is no change (last_used_at)

    @property
    def name(self) -> str:
        return f"changes_{self.table}_{self.type}"


_PG_FUNCTION = """
CREATE OR REPLACE FUNCTION presensi_track_changes() RETURNS trigger
LANGUAGE plpgsql AS $fn$
DECLARE
    kind text := TG_ARGV[0];
    idcol text := TG_ARGV[1];
    cancelcol text := TG_ARGV[2];
    insaction text := TG_ARGV[3];
    ignored text[] := string_to_array(TG_ARGV[4], ',');
BEGIN
    IF TG_OP = 'INSERT' THEN
        EXECUTE format(
            'INSERT INTO changes (txid, type, record_id, action, at)'
            ' SELECT pg_current_xact_id()::text::bigint, %L, n.%I::text, %L, now()'
            ' FROM new_rows n WHERE n.%I IS NOT NULL ORDER BY n.id',
            kind, idcol, insaction, idcol);
    ELSE
        EXECUTE format(
            'INSERT INTO changes (txid, type, record_id, action, at)'
            ' SELECT pg_current_xact_id()::text::bigint, %L, n.%I::text,'
            ' CASE WHEN %L <> %L AND (to_jsonb(n) ->> %L) IS NOT NULL'
            '      AND (to_jsonb(o) ->> %L) IS NULL THEN %L ELSE %L END, now()'
            ' FROM new_rows n JOIN old_rows o ON o.id = n.id'
            ' WHERE n.%I IS NOT NULL AND (to_jsonb(n) - $1) IS DISTINCT FROM (to_jsonb(o) - $1)'
            ' ORDER BY n.id',
            kind, idcol, cancelcol, '', cancelcol, cancelcol, 'cancelled', 'updated', idcol)
            USING coalesce(ignored, ARRAY[]::text[]);
    END IF;
    RETURN NULL;
END
$fn$
"""


def _dialect(op: Any) -> str:
    return str(op.get_bind().dialect.name)


def install(op: Any) -> None:
    """The trigger function (PostgreSQL); SQLite's triggers are self-contained."""
    if _dialect(op) == "postgresql":
        op.execute(_PG_FUNCTION)


def uninstall(op: Any) -> None:
    if _dialect(op) == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS presensi_track_changes()")


def track(op: Any, table: str, type_: str, **options: Any) -> None:
    """Record every insert (and update) of ``table`` in the feed as ``type_``."""
    t = Track(table, type_, **options)
    names = (t.table, t.type, t.id_column, t.cancel_column or "x", t.on_insert, *t.ignore)
    if not all(n.isidentifier() for n in names):  # names from migrations, never from input
        raise ValueError(f"not an identifier among {names}")
    if _dialect(op) == "postgresql":
        args = ", ".join(
            f"'{a}'"
            for a in (t.type, t.id_column, t.cancel_column, t.on_insert, ",".join(t.ignore))
        )
        op.execute(
            f"CREATE TRIGGER {t.name}_ins AFTER INSERT ON {t.table}"
            f" REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT"
            f" EXECUTE FUNCTION presensi_track_changes({args})"
        )
        if t.updates:
            op.execute(
                f"CREATE TRIGGER {t.name}_upd AFTER UPDATE ON {t.table}"
                f" REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT"
                f" EXECUTE FUNCTION presensi_track_changes({args})"
            )
        return
    now = "strftime('%Y-%m-%d %H:%M:%f', 'now')"
    op.execute(
        f"CREATE TRIGGER {t.name}_ins AFTER INSERT ON {t.table}"  # noqa: S608 (checked names)
        f" WHEN NEW.{t.id_column} IS NOT NULL BEGIN"
        f" INSERT INTO changes (type, record_id, action, at)"
        f" VALUES ('{t.type}', NEW.{t.id_column}, '{t.on_insert}', {now}); END"
    )
    if t.updates:
        # Only an update that changes something (but not only the ignored columns) counts: the
        # table's columns as they are now (a migration adding columns tracks the table again).
        columns = [c["name"] for c in sa.inspect(op.get_bind()).get_columns(t.table)]
        changed = " OR ".join(f'OLD."{c}" IS NOT NEW."{c}"' for c in columns if c not in t.ignore)
        unchanged = "".join(f" AND OLD.{c} IS NEW.{c}" for c in t.ignore) + f" AND ({changed})"
        action = "'updated'"
        if t.cancel_column:
            c = t.cancel_column
            action = (
                f"CASE WHEN NEW.{c} IS NOT NULL AND OLD.{c} IS NULL"
                f" THEN 'cancelled' ELSE 'updated' END"
            )
        op.execute(
            f"CREATE TRIGGER {t.name}_upd AFTER UPDATE ON {t.table}"  # noqa: S608 (checked names)
            f" WHEN NEW.{t.id_column} IS NOT NULL{unchanged} BEGIN"
            f" INSERT INTO changes (type, record_id, action, at)"
            f" VALUES ('{t.type}', NEW.{t.id_column}, {action}, {now}); END"
        )


def untrack(op: Any, table: str, type_: str) -> None:
    name = Track(table, type_).name
    on = f" ON {table}" if _dialect(op) == "postgresql" else ""
    for suffix in ("ins", "upd"):
        op.execute(f"DROP TRIGGER IF EXISTS {name}_{suffix}{on}")


# -- reading --------------------------------------------------------------------------------


def is_postgres(db: Database) -> bool:
    return db.url.dialect == "postgresql"


async def publish(db: Database, batch: int = PUBLISH_BATCH) -> int:
    """PostgreSQL: number the changes of every finished transaction (see the module's text).
    Returns how many were numbered; 0 when another process is numbering right now."""
    if not is_postgres(db):
        return 0
    async with db.transaction():
        if not await db.fetch_val(sa.select(sa.func.pg_try_advisory_xact_lock(PUBLISH_LOCK))):
            return 0
        result = await db.fetch_val(
            sa.text(
                "WITH todo AS ("
                " SELECT id, row_number() OVER (ORDER BY txid, id) AS rn FROM changes"
                " WHERE seq IS NULL"
                " AND txid < pg_snapshot_xmin(pg_current_snapshot())::text::bigint"
                " ORDER BY txid, id LIMIT :batch),"
                " base AS (SELECT coalesce(max(seq), 0) AS top FROM changes),"
                " done AS (UPDATE changes c SET seq = base.top + todo.rn FROM todo, base"
                " WHERE c.id = todo.id RETURNING 1)"
                " SELECT count(*) FROM done"
            ).bindparams(batch=batch)
        )
        return int(result or 0)


def seq_column(db: Database) -> Any:
    return changes_table.c.seq if is_postgres(db) else changes_table.c.id


@dataclass(frozen=True)
class Change:
    seq: int
    type: str
    record_id: str
    action: str
    at: datetime


async def raw(db: Database, after: int, limit: int) -> list[Change]:
    """The next ``limit`` changes after position ``after`` (published ones on PostgreSQL)."""
    col = seq_column(db)
    rows = await db.fetch_all(
        sa.select(
            col.label("seq"),
            changes_table.c.type,
            changes_table.c.record_id,
            changes_table.c.action,
            changes_table.c.at,
        )
        .where(col > after)
        .order_by(col)
        .limit(limit)
    )
    return [
        Change(int(r["seq"]), r["type"], r["record_id"], r["action"], as_utc(r["at"])) for r in rows
    ]


# A renderer answers, for ids of one type, each record's data with its agency and unit (for
# scope). Registered by the modules that know the record (backend/admin/integration.py).
Rendered = dict[str, tuple[dict[str, Any], int | None, int | None]]
Renderer = Callable[[Database, Sequence[str]], Awaitable[Rendered]]
RENDERERS: dict[str, Renderer] = {}
TABLES: dict[str, str] = {}  # type -> table, for the default renderer


def plain(value: Any) -> Any:
    """A column value as JSON: timestamps in UTC ISO 8601, dates ISO."""
    return _plain(value)


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return as_utc(value).isoformat()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


async def default_render(db: Database, type_: str, ids: Sequence[str]) -> Rendered:
    table = metadata.tables.get(TABLES.get(type_, type_ + "s"))
    if table is None:
        return {}
    key = table.c.id
    values: list[Any] = [int(i) if isinstance(key.type, sa.Integer) else i for i in ids]
    rows = await db.fetch_all(table.select().where(key.in_(values)))
    out: Rendered = {}
    for r in rows:
        data = {k: _plain(v) for k, v in dict(r._mapping).items()}
        out[str(r["id"])] = (data, data.get("agency_id"), data.get("unit_id"))
    return out


async def render(db: Database, items: list[Change]) -> list[tuple[Change, Any, Any, Any]]:
    """Each change with its record's current data, agency and unit."""
    by_type: dict[str, list[str]] = {}
    for c in items:
        by_type.setdefault(c.type, []).append(c.record_id)
    found: dict[tuple[str, str], tuple[dict[str, Any], int | None, int | None]] = {}
    for type_, ids in by_type.items():
        unique = list(dict.fromkeys(ids))
        renderer = RENDERERS.get(type_)
        for start in range(0, len(unique), 500):
            chunk = unique[start : start + 500]
            got = await (renderer(db, chunk) if renderer else default_render(db, type_, chunk))
            found.update({(type_, k): v for k, v in got.items()})
    out = []
    for c in items:
        data, agency_id, unit_id = found.get((c.type, c.record_id), (None, None, None))
        out.append((c, data, agency_id, unit_id))
    return out


def visible(agency_id: int | None, unit_id: int | None, me_agency: Any, me_unit: Any) -> bool:
    if me_agency is None:
        return True
    if agency_id != me_agency:
        return False
    return me_unit is None or unit_id is None or unit_id == me_unit


async def feed(
    db: Database, *, after: int, limit: int, agency_id: int | None, unit_id: int | None
) -> tuple[list[dict[str, Any]], int]:
    """The feed's next page for a principal's scope, and the position to ask after next."""
    await publish(db)
    items = await raw(db, after, limit)
    out = []
    for c, data, a, u in await render(db, items):
        if visible(a, u, agency_id, unit_id):
            out.append(
                {
                    "seq": c.seq,
                    "type": c.type,
                    "action": c.action,
                    "id": c.record_id,
                    "at": c.at.isoformat(),
                    "data": data,
                }
            )
    return out, (items[-1].seq if items else after)


async def prune(db: Database, retention_days: int, now: datetime | None = None) -> int:
    """Delete changes older than the retention; the newest row is always kept (SQLite's
    AUTOINCREMENT and PostgreSQL's max(seq) carry on from it either way)."""
    cutoff = (now or utcnow()) - timedelta(days=retention_days)
    newest = sa.select(sa.func.max(changes_table.c.id)).scalar_subquery()
    async with db.transaction():
        result = await db.execute(
            changes_table.delete()
            .where(changes_table.c.at < cutoff)
            .where(changes_table.c.id < newest)
            .where(seq_column(db).is_not(None))
        )
    return int(result or 0)


@contextlib.asynccontextmanager
async def triggers_off(conn: Any) -> AsyncIterator[None]:
    """Inside a transaction of an SQLAlchemy ``AsyncConnection`` (a restore): the tracking
    triggers dropped and created again at the end, so rows that are loaded (with the backup's
    own ``changes``) are not recorded as new changes."""
    if conn.dialect.name == "postgresql":
        rows = (
            await conn.execute(
                sa.text(
                    "SELECT tgname, c.relname, pg_get_triggerdef(t.oid) FROM pg_trigger t"
                    " JOIN pg_class c ON c.oid = t.tgrelid WHERE tgname LIKE 'changes\\_%'"
                )
            )
        ).all()
        drops = [f'DROP TRIGGER "{name}" ON "{table}"' for name, table, _ in rows]
    else:
        rows = (
            await conn.execute(
                sa.text(
                    "SELECT name, tbl_name, sql FROM sqlite_master"
                    " WHERE type = 'trigger' AND name LIKE 'changes\\_%' ESCAPE '\\'"
                )
            )
        ).all()
        drops = [f'DROP TRIGGER "{name}"' for name, _, _ in rows]
    for statement in drops:
        await conn.execute(sa.text(statement))
    yield
    for _name, _table, definition in rows:
        await conn.execute(sa.text(definition))
