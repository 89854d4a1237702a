"""The tamper-evident record: every entry that affects pay, appended to one hash chain.

Entry ``seq`` (1, 2, 3 ... without gaps) stores ``body``, its canonical JSON::

    {"at":"2026-12-01T00:58:07.123456Z","kind":"checkin","record":{...},"seq":17}

and ``hash = sha256(previous hash || body)``: the previous entry's 32-byte digest (32 zero bytes
before entry 1) followed by the body's UTF-8 bytes, written as 64 hex digits. ``record`` is the
row as stored, in the fields its kind names (``register``), each value written one way whatever
the database hands back (``json_value``): a later edit of the row, of the entry, or a row or
entry deleted or inserted behind the application's back no longer matches (``verify``).

A record that changes legitimately (an absence cancelled, a TPP rule changed) is appended again;
the row must match its kind's latest entry. Appends extend the head row ``ledger_head``, locked
per transaction (SQLite: the writer's lock; PostgreSQL: ``FOR UPDATE``) and always the last
statement before COMMIT, so several processes take turns and no lock is taken after it.

Anyone who can write to the database can also recompute the whole chain; what proves the past is
the chain's head at the end of each day (``daily_heads``), handed to someone outside the server
(the Inspektorat) and checked later with ``presensi verify-log --heads``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from databases import Database

from backend.db import (
    absences,
    as_utc,
    checkin_reviews,
    checkins,
    corrections,
    dialect_insert,
    ledger_entries,
    ledger_head,
    tpp_rules,
    utcnow,
)

GENESIS = "0" * 64  # the "previous hash" of entry 1
HEAD_ID = 1


@dataclass(frozen=True)
class Kind:
    """A kind of record in the chain: its table and the fields an entry keeps.

    The fields are listed, never "every column": a column added later (a review signal such
    as coordinates that are deleted after a while) must not make stored entries mismatch.
    """

    name: str
    table: sa.Table
    fields: tuple[str, ...]

    def columns(self) -> list[sa.Column[Any]]:
        return [self.table.c[name] for name in self.fields]


KINDS: dict[str, Kind] = {}
_SPELLERS: dict[str, tuple[tuple[str, Callable[[Any], Any]], ...]] = {}  # by kind, see record_of


def register(name: str, table: sa.Table, fields: Sequence[str]) -> Kind:
    """Make ``table`` a kind of the chain (call it below, beside the others, so every command
    knows every kind); then ``await append(db, name, [row_id])`` in the transaction that writes
    a row, as its last statement. ``fields`` must include ``id``."""
    if "id" not in fields:
        raise ValueError(f"{name}: the fields must include id")
    for f in fields:
        table.c[f]  # a misspelt field fails here, at import
    kind = KINDS[name] = Kind(name, table, tuple(fields))
    _SPELLERS.pop(name, None)
    return kind


register(
    "checkin",
    checkins,
    # Not client_ip, user_agent, flags: signals for reviewers that the fraud pass updates.
    (
        "id", "employee_id", "device_id", "display_id", "office_id", "window", "at",
        "local_date", "kind", "late_minutes", "category", "status", "client_ts", "nonce",
    ),
)  # fmt: skip
register(
    "checkin_review", checkin_reviews, ("id", "checkin_id", "decision", "reason", "actor", "at")
)
register(
    "correction",
    corrections,
    (
        "id", "employee_id", "local_date", "kind", "at", "replaces_checkin_id", "reason",
        "actor", "created_at",
    ),
)  # fmt: skip
register(
    "absence",
    absences,
    (
        "id", "employee_id", "kind", "start_date", "end_date", "attachment", "note",
        "created_by", "created_at", "cancelled_at", "cancelled_by",
    ),
)  # fmt: skip
register(
    "tpp_rule", tpp_rules, ("id", "agency_id", "code", "basis_points", "updated_by", "updated_at")
)


# -- canonical JSON ------------------------------------------------------------------------------


def timestamp(value: datetime) -> str:
    """UTC with microseconds and ``Z``; a naive value (SQLite) is UTC already."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.isoformat(timespec="microseconds") + "Z"


def _spell(column_type: sa.types.TypeEngine[Any]) -> Callable[[Any], Any]:
    """How ``json_value`` writes a column's values, chosen once per column."""
    if isinstance(column_type, sa.DateTime):
        return timestamp
    if isinstance(column_type, sa.Date | sa.Time):
        return _isoformat
    if isinstance(column_type, sa.Boolean):
        return bool
    if isinstance(column_type, sa.Integer):
        return int
    return str


def _isoformat(value: date | time) -> str:
    return value.isoformat()


def json_value(column_type: sa.types.TypeEngine[Any], value: Any) -> Any:
    """One spelling per value whatever the driver returns: SQLite's naive timestamps and 0/1
    booleans, PostgreSQL's aware timestamps and ``bool``, Python's ``int`` for every integer."""
    return None if value is None else _spell(column_type)(value)


def record_of(kind: Kind, row: Any) -> dict[str, Any]:
    """``row`` (a mapping or a database row) in its kind's fields, each spelt one way."""
    spellers = _SPELLERS.get(kind.name)
    if spellers is None:
        spellers = _SPELLERS[kind.name] = tuple((c.name, _spell(c.type)) for c in kind.columns())
    return {
        name: None if (value := row[name]) is None else spell(value) for name, spell in spellers
    }


_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical(value: Any) -> bytes:
    """RFC 8785 (JCS) for the values entries hold (no floats): keys sorted, no spaces, UTF-8."""
    return _ENCODER.encode(value).encode()


def chain_hash(previous: str, body: bytes) -> str:
    return hashlib.sha256(bytes.fromhex(previous) + body).hexdigest()


@dataclass(frozen=True)
class Head:
    seq: int
    hash: str
    at: datetime | None


def extend(
    head: Head, kind: str, records: Iterable[dict[str, Any]], now: datetime
) -> tuple[list[dict[str, Any]], Head]:
    """The ``ledger_entries`` rows for ``records`` (already ``record_of``) and the new head.
    An entry's time never goes back along the chain (processes' clocks differ a little)."""
    at = as_utc(now) if head.at is None else max(as_utc(now), as_utc(head.at))
    spelt = timestamp(at)
    seq, previous = head.seq, head.hash
    rows = []
    for record in records:
        seq += 1
        body = canonical({"at": spelt, "kind": kind, "record": record, "seq": seq})
        previous = chain_hash(previous, body)
        rows.append(
            {
                "seq": seq,
                "kind": kind,
                "record_id": record["id"],
                "at": at,
                "body": body.decode(),
                "hash": previous,
            }
        )
    return rows, Head(seq, previous, at)


# -- appending through ``databases`` (the console, the API, the CLI) -----------------------------


async def read_head(db: Database) -> Head:
    """The head, locked until the transaction ends (PostgreSQL). The migration creates it; a
    database restored from a backup without one starts it again."""
    query = (
        sa.select(ledger_head.c.seq, ledger_head.c.hash, ledger_head.c.at)
        .where(ledger_head.c.id == HEAD_ID)
        .with_for_update()
    )
    row = await db.fetch_one(query)
    if row is None:
        await db.execute(
            dialect_insert(db, ledger_head)
            .values(id=HEAD_ID, seq=0, hash=GENESIS, at=None)
            .on_conflict_do_nothing(index_elements=["id"])
        )
        row = await db.fetch_one(query)
        assert row is not None
    return Head(int(row["seq"]), row["hash"], row["at"])


async def write_head(db: Database, head: Head) -> None:
    await db.execute(
        ledger_head.update()
        .where(ledger_head.c.id == HEAD_ID)
        .values(seq=head.seq, hash=head.hash, at=head.at)
    )


async def append(
    db: Database, kind: str, record_ids: Sequence[int], *, now: datetime | None = None
) -> None:
    """Append the rows ``record_ids`` of ``kind`` as stored now. Call it inside the transaction
    that wrote them, as its last statement (it locks the head until COMMIT)."""
    if not record_ids:
        return
    k = KINDS[kind]
    rows = await db.fetch_all(
        sa.select(*k.columns()).where(k.table.c.id.in_(list(record_ids))).order_by(k.table.c.id)
    )
    head = await read_head(db)
    entries, new_head = extend(head, kind, [record_of(k, r) for r in rows], now or utcnow())
    await db.execute_many(ledger_entries.insert(), entries)
    await write_head(db, new_head)


def seal_existing(conn: sa.Connection) -> None:
    """The migration's: every record that exists, in id order per kind, and the head row.

    Only the tables and fields that exist at that revision (a kind or field added by a later
    migration has nothing to seal yet; verification compares on the fields an entry holds)."""
    inspector = sa.inspect(conn)
    head = Head(0, GENESIS, None)
    now = utcnow()
    for kind in KINDS.values():
        if not inspector.has_table(kind.table.name):
            continue
        present = {c["name"] for c in inspector.get_columns(kind.table.name)}
        columns = [c for c in kind.columns() if c.name in present]
        rows = conn.execute(sa.select(*columns).order_by(kind.table.c.id)).mappings()
        records = ({c.name: json_value(c.type, r[c.name]) for c in columns} for r in rows)
        entries, head = extend(head, kind.name, records, now)
        for start in range(0, len(entries), 500):
            conn.execute(ledger_entries.insert(), entries[start : start + 500])
    conn.execute(ledger_head.insert().values(id=HEAD_ID, seq=head.seq, hash=head.hash, at=head.at))


# -- verification --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """Something in the database that no longer matches the chain."""

    what: str  # entry_changed, entry_missing, head_mismatch, published_head_mismatch,
    #            record_changed, record_deleted, record_not_in_log
    seq: int | None  # the entry it concerns (None: a row with no entry)
    kind: str
    record_id: int | None
    detail: str

    def line(self) -> str:
        where = f"entry {self.seq}" if self.seq is not None else "no entry"
        record = f"{self.kind} {self.record_id}" if self.record_id is not None else self.kind
        return f"{where} ({record}): {self.what}: {self.detail}"


@dataclass
class Report:
    entries: int = 0
    head: Head = field(default_factory=lambda: Head(0, GENESIS, None))
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


RANK = {"entry_missing": 0, "entry_changed": 0, "head_mismatch": 2, "published_head_mismatch": 2}


def _order(problem: Problem) -> tuple[int, int, int, str, int]:
    """By entry; at one entry the entry's own problems first, then its record's, then heads'."""
    return (
        0 if problem.seq is not None else 1,
        problem.seq or 0,
        RANK.get(problem.what, 1),
        problem.kind,
        problem.record_id or 0,
    )


def _digest(record: Mapping[str, Any], keys: Iterable[str]) -> bytes:
    return hashlib.sha256(canonical({k: record.get(k) for k in keys})).digest()


def _changed(stored: dict[str, Any], current: dict[str, Any]) -> str:
    diffs = [
        f"{k} {json.dumps(stored[k], ensure_ascii=False)} -> "
        f"{json.dumps(current.get(k), ensure_ascii=False)}"
        for k in sorted(stored)
        if stored[k] != current.get(k)
    ]
    return "the row no longer matches its entry: " + "; ".join(diffs)


async def verify(db: Database, published: Sequence[tuple[int, str]] = ()) -> Report:
    """Recompute the chain from entry 1, then check every record of every kind against its
    latest entry. ``published``: (seq, hash) pairs handed out earlier (the daily heads)."""
    report = Report()
    expected_seq, previous = 1, GENESIS
    # (kind, record id) -> the latest entry's seq, its record's field names and digest
    latest: dict[tuple[str, int], tuple[int, tuple[str, ...], bytes]] = {}
    hashes_wanted = dict(published)
    hashes_seen: dict[int, str] = {}
    problems = report.problems
    last_at: datetime | None = None
    query = sa.select(ledger_entries).order_by(ledger_entries.c.seq)
    async for row in db.iterate(query):
        seq, kind, record_id = int(row["seq"]), row["kind"], int(row["record_id"])
        report.entries += 1
        if seq != expected_seq:
            gone = (
                f"entry {expected_seq}"
                if seq == expected_seq + 1
                else f"entries {expected_seq}-{seq - 1}"
            )
            problems.append(
                Problem(
                    "entry_missing",
                    expected_seq,
                    "ledger",
                    None,
                    f"{gone} deleted (the next is {seq})",
                )
            )
        body: bytes = row["body"].encode()
        if chain_hash(previous, body) != row["hash"]:
            problems.append(
                Problem("entry_changed", seq, kind, record_id, "its hash does not follow the chain")
            )
        parsed = _parse(body)
        if parsed is None or (
            parsed.get("seq"),
            parsed.get("kind"),
            parsed.get("record", {}).get("id"),
            parsed.get("at"),
        ) != (seq, kind, record_id, timestamp(row["at"])):
            problems.append(
                Problem("entry_changed", seq, kind, record_id, "its columns and body disagree")
            )
        elif kind not in KINDS:
            problems.append(
                Problem("entry_changed", seq, kind, record_id, "unknown kind (see register)")
            )
        else:
            record = parsed["record"]
            keys = tuple(sorted(record))
            latest[(kind, record_id)] = (seq, keys, _digest(record, keys))
        if seq in hashes_wanted:
            hashes_seen[seq] = row["hash"]
        previous, expected_seq, last_at = row["hash"], seq + 1, row["at"]
    report.head = Head(expected_seq - 1, previous, last_at)

    stored_head = await db.fetch_one(sa.select(ledger_head).where(ledger_head.c.id == HEAD_ID))
    if stored_head is None or (int(stored_head["seq"]), stored_head["hash"]) != (
        report.head.seq,
        report.head.hash,
    ):
        told = "missing" if stored_head is None else f"entry {stored_head['seq']}"
        problems.append(
            Problem(
                "head_mismatch",
                report.head.seq,
                "ledger_head",
                None,
                f"the head row says {told}, the chain ends at entry {report.head.seq}",
            )
        )
    for seq, wanted in sorted(hashes_wanted.items()):
        if hashes_seen.get(seq) != wanted:
            problems.append(
                Problem(
                    "published_head_mismatch",
                    seq,
                    "ledger",
                    None,
                    f"the published head {wanted[:16]}… is not this chain's entry {seq}",
                )
            )

    changed: list[tuple[int, Kind, dict[str, Any]]] = []
    for kind in KINDS.values():
        # No other query while a stream is open on the connection: mismatches are read after.
        async for row in db.iterate(sa.select(*kind.columns()).order_by(kind.table.c.id)):
            record = record_of(kind, row)
            entry = latest.pop((kind.name, record["id"]), None)
            if entry is None:
                problems.append(
                    Problem(
                        "record_not_in_log",
                        None,
                        kind.name,
                        record["id"],
                        f"{kind.table.name} row {record['id']} has no entry (inserted directly?)",
                    )
                )
                continue
            seq, keys, digest = entry
            if _digest(record, keys) != digest:
                changed.append((seq, kind, record))
    for seq, kind, record in changed:
        stored = await _stored_record(db, seq)
        problems.append(
            Problem("record_changed", seq, kind.name, record["id"], _changed(stored, record))
        )
    for (kind_name, record_id), (seq, _, _) in latest.items():
        problems.append(
            Problem(
                "record_deleted",
                seq,
                kind_name,
                record_id,
                f"{KINDS[kind_name].table.name} row {record_id} is gone",
            )
        )
    problems.sort(key=_order)
    return report


def _parse(body: bytes) -> dict[str, Any] | None:
    try:
        parsed = json.loads(body)
    except ValueError:
        return None
    if not isinstance(parsed, dict) or not isinstance(parsed.get("record"), dict):
        return None
    return parsed


async def _stored_record(db: Database, seq: int) -> dict[str, Any]:
    body = await db.fetch_val(sa.select(ledger_entries.c.body).where(ledger_entries.c.seq == seq))
    parsed = _parse(body.encode()) if body else None
    return parsed["record"] if parsed else {}


# -- the daily heads -----------------------------------------------------------------------------


@dataclass(frozen=True)
class DayHead:
    """The chain's head at the end of ``day`` (so far, while the day has not ended)."""

    day: date
    seq: int  # the last entry appended before the day ended; 0 before the first entry
    hash: str
    entries: int  # appended that day
    final: bool  # the day has ended

    def as_dict(self) -> dict[str, Any]:
        return {
            "day": self.day.isoformat(),
            "seq": self.seq,
            "hash": self.hash,
            "entries": self.entries,
            "final": self.final,
        }


async def _head_before(db: Database, moment: datetime) -> tuple[int, str]:
    row = await db.fetch_one(
        sa.select(ledger_entries.c.seq, ledger_entries.c.hash)
        .where(ledger_entries.c.at < moment)
        .order_by(ledger_entries.c.at.desc(), ledger_entries.c.seq.desc())
        .limit(1)
    )
    return (0, GENESIS) if row is None else (int(row["seq"]), row["hash"])


async def daily_heads(
    db: Database, zone: str, start: date, end: date, *, now: datetime | None = None
) -> list[DayHead]:
    """The head at the end of each day from ``start`` to ``end`` (not after today), days in
    ``zone``. Entries' times never go back along the chain, so the last entry before midnight
    is also the one with the highest seq."""
    tz = ZoneInfo(zone)
    moment = now or utcnow()
    today = moment.astimezone(tz).date()
    end = min(end, today)
    previous, _ = await _head_before(db, datetime.combine(start, time(), tz))
    heads = []
    day = start
    while day <= end:
        midnight = datetime.combine(day + timedelta(days=1), time(), tz)
        seq, digest = await _head_before(db, midnight)
        heads.append(DayHead(day, seq, digest, seq - previous, midnight <= moment))
        previous = seq
        day += timedelta(days=1)
    return heads


MAX_DAYS = 400  # per request: one indexed query per day


def heads_document(heads: Sequence[DayHead], zone: str) -> dict[str, Any]:
    """The daily heads as JSON: for an export, a printout or a webhook's payload."""
    return {
        "format": "presensi-ledger-heads",
        "version": 1,
        "timezone": zone,
        "algorithm": "sha256(previous hash || canonical JSON entry)",
        "heads": [h.as_dict() for h in heads],
    }


def heads_csv_rows(heads: Sequence[DayHead]) -> list[tuple[Any, ...]]:
    return [
        ("day", "seq", "hash", "entries", "final"),
        *((h.day.isoformat(), h.seq, h.hash, h.entries, str(h.final).lower()) for h in heads),
    ]


def published_heads(text: str) -> list[tuple[int, str]]:
    """(seq, hash) pairs from a daily heads export, JSON or CSV."""
    stripped = text.lstrip("\ufeff \t\r\n")
    if stripped.startswith(("[", "{")):
        data = json.loads(stripped)
        items = data.get("heads", []) if isinstance(data, dict) else data
        return [(int(i["seq"]), str(i["hash"])) for i in items if int(i["seq"]) > 0]
    import csv
    import io

    rows = csv.DictReader(io.StringIO(stripped))
    return [(int(r["seq"]), r["hash"].strip()) for r in rows if int(r["seq"]) > 0]
