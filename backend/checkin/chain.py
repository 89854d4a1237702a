"""The check-ins of a batch into the hash chain (backend/ledger.py), inside the group commit.

One entry per record created, hashed here from the values the batch wrote: no read-back. The
batch's last statements lock the head, append and move it, so the head is held only from there
to COMMIT. SQLite has one writer anyway (BEGIN IMMEDIATE); on PostgreSQL ``FOR UPDATE`` on the
head row makes the batches of several processes take turns.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.dialects import sqlite

from backend import ledger
from backend.checkin.planner import PendingCheckin, Results, Written
from backend.db import ledger_entries

KIND = ledger.KINDS["checkin"]
_SQLITE = sqlite.dialect()
_AT = ledger_entries.c.at.type.dialect_impl(_SQLITE).bind_processor(_SQLITE)
_AT_RESULT = ledger_entries.c.at.type.dialect_impl(_SQLITE).result_processor(_SQLITE, None)
_COLUMNS = ("seq", "kind", "record_id", "at", "body", "hash")
HEAD_SQL = "SELECT seq, hash, at FROM ledger_head WHERE id = 1"
START_SQL = "INSERT INTO ledger_head (id, seq, hash) VALUES (1, 0, $1) ON CONFLICT (id) DO NOTHING"


@dataclass
class Created:
    """The chain's record of each check-in a batch inserted, and the entries' time: the
    batch's latest receive time (the check-in's clock)."""

    records: list[dict[str, Any]]
    at: datetime | None


def created(items: list[PendingCheckin], results: Results) -> Created:
    rows = [
        {**item.values, **result.row}
        for item, result in zip(items, results, strict=True)
        if isinstance(result, Written) and result.created
    ]
    return Created(
        [ledger.record_of(KIND, row) for row in rows], max((r["at"] for r in rows), default=None)
    )


def append_sqlite(conn: sqlite3.Connection, batch: Created) -> None:
    """On the writer's connection, inside its BEGIN IMMEDIATE."""
    if batch.at is None:
        return
    assert _AT is not None and _AT_RESULT is not None
    row = conn.execute(HEAD_SQL).fetchone()
    if row is None:  # the migration creates it; a database restored without one starts it
        conn.execute(START_SQL.replace("$1", "?"), [ledger.GENESIS])
        row = (0, ledger.GENESIS, None)
    head = ledger.Head(row[0], row[1], None if row[2] is None else _AT_RESULT(row[2]))
    entries, new_head = ledger.extend(head, KIND.name, batch.records, batch.at)
    per_statement = max(1, conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) // len(_COLUMNS))
    placeholders = f"({', '.join('?' * len(_COLUMNS))})"
    for start in range(0, len(entries), per_statement):
        chunk = entries[start : start + per_statement]
        params = [_AT(e[c]) if c == "at" else e[c] for e in chunk for c in _COLUMNS]
        conn.execute(
            f"INSERT INTO ledger_entries ({', '.join(_COLUMNS)})"  # noqa: S608 (constant columns)
            f" VALUES {', '.join([placeholders] * len(chunk))}",
            params,
        )
    conn.execute(
        "UPDATE ledger_head SET seq = ?, hash = ?, at = ? WHERE id = 1",
        [new_head.seq, new_head.hash, _AT(new_head.at)],
    )


async def append_postgres(conn: Any, batch: Created) -> None:
    """On the writer's asyncpg connection, inside its transaction: two round trips."""
    if batch.at is None:
        return
    row = await conn.fetchrow(HEAD_SQL + " FOR UPDATE")
    if row is None:
        await conn.execute(START_SQL, ledger.GENESIS)
        row = await conn.fetchrow(HEAD_SQL + " FOR UPDATE")
    head = ledger.Head(row["seq"], row["hash"], row["at"])
    entries, new_head = ledger.extend(head, KIND.name, batch.records, batch.at)
    await conn.execute(
        "WITH appended AS (INSERT INTO ledger_entries (seq, kind, record_id, at, body, hash)"
        " SELECT * FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::timestamptz[],"
        " $5::text[], $6::text[]))"
        " UPDATE ledger_head SET seq = $7, hash = $8, at = $9 WHERE id = 1",
        *[[e[c] for e in entries] for c in _COLUMNS],
        new_head.seq,
        new_head.hash,
        new_head.at,
    )
