"""Versions of editable objects: optimistic concurrency for the console and the admin API.

An object's version is a short SHA-256 of the canonical JSON of its editable columns, so no
column or migration is needed and any change by anyone (page, API, CLI) changes it. Pages carry
the version they showed in a hidden ``version`` field; the API sends it as the ``ETag`` and takes
it back in ``If-Match``. A save checks it inside its write transaction (``guard``): the row is
locked first (PostgreSQL ``SELECT ... FOR UPDATE``; on SQLite a no-op write takes the database's
write lock before anything is read), re-read, compared, and only then written, so of two saves
from the same version exactly one passes. A save without a version is not checked, as before.

A set of rows edited together (an agency's TPP rules or work schedule) has one version too:
``guard_set`` locks the owning row and compares the version of the whole set.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import date, datetime, time
from typing import Any

import sqlalchemy as sa
from databases import Database
from starlette.exceptions import HTTPException

from backend.db import (
    admin_users,
    agencies,
    as_utc,
    displays,
    employees,
    holidays,
    offices,
    units,
)

# The columns an edit can change, per table; a column that changes by itself (a display's
# last_seen_at, an admin's language) is left out, or every heartbeat would be a conflict.
EDITABLE: dict[str, tuple[str, ...]] = {
    agencies.name: ("code", "name", "user_verification"),
    units.name: ("agency_id", "code", "name", "user_verification"),
    offices.name: ("agency_id", "unit_id", "name", "address", "timezone", "allowed_networks"),
    employees.name: (
        "nip",
        "name",
        "kind",
        "unit_id",
        "office_id",
        "active",
        "position",
        "position_kind",
        "echelon",
        "supervisor_id",
    ),
    admin_users.name: ("username", "role", "agency_id", "unit_id", "active"),
    displays.name: ("office_id", "name", "revoked_at"),
    holidays.name: ("agency_id", "day", "name", "kind", "active"),
}

Expected = frozenset[str] | None  # None: not checked; else the versions the client accepts


class Conflict(Exception):
    """The object changed since the client read it: ``current`` is what is stored now."""

    def __init__(self, current: Mapping[str, Any], version: str) -> None:
        super().__init__("edit conflict")
        self.current = dict(current)
        self.version = version


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return as_utc(value).isoformat()
    if isinstance(value, date | time):
        return value.isoformat()
    return value


def of(value: Any) -> str:
    """The version of any JSON-able value (rows as mappings): 20 hex digits of its SHA-256."""
    text = json.dumps(value, default=_plain, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def editable(table: sa.Table, row: Mapping[str, Any] | Any) -> dict[str, Any]:
    mapping = row._mapping if hasattr(row, "_mapping") else row
    return {c: _plain(mapping[c]) for c in EDITABLE[table.name]}


def of_row(table: sa.Table, row: Mapping[str, Any] | Any) -> str:
    return of([table.name, editable(table, row)])


def etag(version: str) -> str:
    return f'"{version}"'


def if_match(header: str | None) -> Expected:
    """The versions an ``If-Match`` header accepts; None when absent or ``*`` (any version).
    Weak tags (``W/"..."``) never match: If-Match uses the strong comparison."""
    if header is None or header.strip() == "*":
        return None
    tags = (t.strip() for t in header.split(","))
    return frozenset(t[1:-1] for t in tags if len(t) >= 2 and t[0] == t[-1] == '"')


def form_version(value: str | None) -> Expected:
    """A page's hidden ``version`` field: absent or empty means not checked."""
    return frozenset({value}) if value else None


async def lock(db: Database, table: sa.Table, row_id: int) -> None:
    """Take the row's write lock for the rest of the transaction (see the module docstring)."""
    if db.url.dialect == "postgresql":
        await db.fetch_val(sa.select(table.c.id).where(table.c.id == row_id).with_for_update())
    else:
        column = table.c[EDITABLE.get(table.name, ("id",))[0]]
        await db.execute(table.update().where(table.c.id == row_id).values({column: column}))


async def current(
    db: Database, table: sa.Table, row_id: int, where: Any = None
) -> tuple[dict[str, Any], str]:
    """The stored row (404 when missing or outside ``where``, a scope clause) and its version."""
    query = table.select().where(table.c.id == row_id)
    row = await db.fetch_one(query if where is None else query.where(where))
    if row is None:
        raise HTTPException(404)
    return dict(row._mapping), of_row(table, row)


async def check(
    db: Database, table: sa.Table, row_id: int, expected: Expected, where: Any = None
) -> dict[str, Any]:
    """Inside a write transaction: lock, re-read and compare; the stored row, or Conflict."""
    await lock(db, table, row_id)
    row, version = await current(db, table, row_id, where)
    if expected is not None and version not in expected:
        raise Conflict(row, version)
    return row


@asynccontextmanager
async def guard(
    db: Database, table: sa.Table, row_id: int, expected: Expected, where: Any = None
) -> AsyncIterator[dict[str, Any]]:
    """``async with guard(db, employees, 7, expected, scope) as row:`` the writes of one save,
    in a transaction that starts by checking the version (the domain's transactions nest)."""
    async with db.transaction():
        yield await check(db, table, row_id, expected, where)


async def of_set(db: Database, query: sa.Select[Any]) -> tuple[list[dict[str, Any]], str]:
    """The rows of an edited set (``query`` orders them) and the set's version."""
    rows = [{k: _plain(v) for k, v in dict(r._mapping).items()} for r in await db.fetch_all(query)]
    return rows, of(rows)


@asynccontextmanager
async def guard_set(
    db: Database,
    owner: sa.Table,
    owner_id: int,
    query: sa.Select[Any],
    expected: Expected,
    describe: Callable[[list[dict[str, Any]]], Mapping[str, Any]] | None = None,
) -> AsyncIterator[list[dict[str, Any]]]:
    """Like ``guard`` for a set of rows belonging to ``owner`` (locked, since rows can be
    added); a Conflict's ``current`` is ``describe(rows)`` (default ``{"rows": rows}``)."""
    async with db.transaction():
        await lock(db, owner, owner_id)
        rows, version = await of_set(db, query)
        if expected is not None and version not in expected:
            raise Conflict(describe(rows) if describe else {"rows": rows}, version)
        yield rows


def changed(
    theirs: Mapping[str, Any], yours: Mapping[str, Any], names: Sequence[str] | Iterable[str]
) -> list[str]:
    """The names whose stored and sent values differ (both compared as text)."""

    def text(value: Any) -> str:
        value = _plain(value)
        if value is None or value is False:
            return ""
        return "1" if value is True else str(value)

    return [n for n in names if text(theirs.get(n)) != text(yours.get(n))]
