"""Tables (SQLAlchemy Core) and the database connection.

Schema changes go through Alembic migrations in ``backend/migrations``; this module is the
current shape they produce, used to build queries.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import aiosqlite
import sqlalchemy as sa
from databases import Database, DatabaseURL
from databases.backends.sqlite import SQLiteBackend, SQLitePool

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


def _ts(name: str, **kw: object) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), **kw)  # type: ignore[arg-type]


agencies = sa.Table(
    "agencies",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("code", sa.String(32), nullable=False, unique=True),
    sa.Column("name", sa.String(200), nullable=False),
    _ts("created_at", nullable=False),
)

units = sa.Table(
    "units",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("agency_id", sa.Integer, sa.ForeignKey("agencies.id"), nullable=False, index=True),
    sa.Column("code", sa.String(32), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    _ts("created_at", nullable=False),
    sa.UniqueConstraint("agency_id", "code", name="uq_units_agency_code"),
)

offices = sa.Table(
    "offices",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("agency_id", sa.Integer, sa.ForeignKey("agencies.id"), nullable=False, index=True),
    sa.Column("unit_id", sa.Integer, sa.ForeignKey("units.id"), nullable=True, index=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("address", sa.String(500), nullable=False, server_default=""),
    sa.Column("timezone", sa.String(64), nullable=False),
    # Comma-separated CIDRs; empty means displays and scans may come from anywhere.
    sa.Column("allowed_networks", sa.String(1000), nullable=False, server_default=""),
    _ts("created_at", nullable=False),
)

employees = sa.Table(
    "employees",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("nip", sa.String(32), nullable=False, unique=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("unit_id", sa.Integer, sa.ForeignKey("units.id"), nullable=False, index=True),
    sa.Column("office_id", sa.Integer, sa.ForeignKey("offices.id"), nullable=True, index=True),
    # asn, pppk or contract
    sa.Column("kind", sa.String(16), nullable=False, server_default="asn"),
    sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
    _ts("created_at", nullable=False),
)

# One row per weekday a schedule covers. unit_id NULL is the agency-wide (or global) default;
# a dated range (valid_from/valid_to) such as Ramadan hours wins over an open-ended one.
work_schedules = sa.Table(
    "work_schedules",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("agency_id", sa.Integer, sa.ForeignKey("agencies.id"), nullable=True, index=True),
    sa.Column("unit_id", sa.Integer, sa.ForeignKey("units.id"), nullable=True, index=True),
    sa.Column("name", sa.String(100), nullable=False, server_default="Jam kerja"),
    sa.Column("weekday", sa.SmallInteger, nullable=False),  # Monday = 0
    sa.Column("start_time", sa.Time, nullable=False),
    sa.Column("end_time", sa.Time, nullable=False),
    sa.Column("valid_from", sa.Date, nullable=True),
    sa.Column("valid_to", sa.Date, nullable=True),
)

displays = sa.Table(
    "displays",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("office_id", sa.Integer, sa.ForeignKey("offices.id"), nullable=False, index=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("pairing_code_hash", sa.String(64), nullable=True, unique=True),
    _ts("pairing_expires_at", nullable=True),
    sa.Column("credential_hash", sa.String(64), nullable=True, unique=True),
    _ts("paired_at", nullable=True),
    _ts("last_seen_at", nullable=True),
    sa.Column("last_seen_ip", sa.String(64), nullable=True),
    _ts("revoked_at", nullable=True),
    _ts("created_at", nullable=False),
)

devices = sa.Table(
    "devices",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("employee_id", sa.Integer, sa.ForeignKey("employees.id"), nullable=False, index=True),
    sa.Column("public_key", sa.Text, nullable=False),  # the JWK as JSON
    sa.Column("user_agent", sa.String(400), nullable=False, server_default=""),
    _ts("created_at", nullable=False),
    _ts("last_used_at", nullable=True),
    _ts("revoked_at", nullable=True),
)

enrolment_codes = sa.Table(
    "enrolment_codes",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("employee_id", sa.Integer, sa.ForeignKey("employees.id"), nullable=False, index=True),
    sa.Column("code_hash", sa.String(64), nullable=False, unique=True),
    _ts("created_at", nullable=False),
    _ts("expires_at", nullable=False),
    _ts("used_at", nullable=True),
    sa.Column("created_by", sa.String(100), nullable=False),
)

checkins = sa.Table(
    "checkins",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("employee_id", sa.Integer, sa.ForeignKey("employees.id"), nullable=False),
    sa.Column("device_id", sa.String(40), sa.ForeignKey("devices.id"), nullable=False),
    sa.Column("display_id", sa.Integer, sa.ForeignKey("displays.id"), nullable=False),
    sa.Column("office_id", sa.Integer, sa.ForeignKey("offices.id"), nullable=False),
    sa.Column("window", sa.BigInteger, nullable=False),
    _ts("at", nullable=False),  # server receive time, UTC
    sa.Column("local_date", sa.Date, nullable=False),  # the working day it counts for
    sa.Column("kind", sa.String(8), nullable=False),  # in / out
    sa.Column("late_minutes", sa.Integer, nullable=False, server_default="0"),
    sa.Column("category", sa.String(8), nullable=True),  # TL1-TL4, PSW1-PSW4
    # accepted / pending_review / rejected / corrected (review states are added by admins)
    sa.Column("status", sa.String(20), nullable=False, server_default="accepted"),
    sa.Column("client_ts", sa.BigInteger, nullable=False),
    sa.Column("nonce", sa.String(32), nullable=False),
    sa.Column("client_ip", sa.String(64), nullable=False, server_default=""),
    sa.Column("user_agent", sa.String(400), nullable=False, server_default=""),
    sa.Column("flags", sa.String(200), nullable=False, server_default=""),
    # Repeating a scan of the same display window is idempotent: one record, same answer.
    sa.UniqueConstraint("employee_id", "display_id", "window", name="uq_checkins_scan"),
    sa.Index("ix_checkins_employee_date", "employee_id", "local_date"),
    sa.Index("ix_checkins_office_date", "office_id", "local_date"),
    sa.Index("ix_checkins_at", "at"),
)

admin_users = sa.Table(
    "admin_users",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("username", sa.String(64), nullable=False, unique=True),
    sa.Column("password_hash", sa.String(200), nullable=False),
    # super_admin / agency_admin / unit_operator / leader
    sa.Column("role", sa.String(20), nullable=False),
    sa.Column("agency_id", sa.Integer, sa.ForeignKey("agencies.id"), nullable=True),
    sa.Column("unit_id", sa.Integer, sa.ForeignKey("units.id"), nullable=True),
    sa.Column("language", sa.String(5), nullable=False, server_default="id"),
    sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
    _ts("password_changed_at", nullable=False),
    _ts("created_at", nullable=False),
)

audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    _ts("at", nullable=False, index=True),
    sa.Column("actor", sa.String(100), nullable=False),  # "cli", "admin:<id>", "employee:<nip>"
    sa.Column("action", sa.String(64), nullable=False, index=True),
    sa.Column("target", sa.String(200), nullable=False, server_default=""),
    sa.Column("detail", sa.Text, nullable=False, server_default="{}"),  # JSON
    sa.Column("ip", sa.String(64), nullable=False, server_default=""),
)


# Admin console sign-ins. The cookie holds a random id; only its SHA-256 is stored, so a copy of
# the database does not let anyone take over a session.
admin_sessions = sa.Table(
    "admin_sessions",
    metadata,
    sa.Column("id_hash", sa.String(64), primary_key=True),
    sa.Column("admin_id", sa.Integer, sa.ForeignKey("admin_users.id"), nullable=False, index=True),
    sa.Column("csrf_token", sa.String(64), nullable=False),
    _ts("created_at", nullable=False),
    _ts("last_seen_at", nullable=False),
    _ts("revoked_at", nullable=True),
    sa.Column("ip", sa.String(64), nullable=False, server_default=""),
    sa.Column("user_agent", sa.String(400), nullable=False, server_default=""),
)

# Bearer tokens for other government systems (kepegawaian, e-Kinerja): a role and scope like an
# admin's, stored only as a keyed hash.
api_tokens = sa.Table(
    "api_tokens",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("prefix", sa.String(16), nullable=False),
    sa.Column("role", sa.String(20), nullable=False),
    sa.Column("agency_id", sa.Integer, sa.ForeignKey("agencies.id"), nullable=True),
    sa.Column("unit_id", sa.Integer, sa.ForeignKey("units.id"), nullable=True),
    sa.Column("created_by", sa.Integer, sa.ForeignKey("admin_users.id"), nullable=False),
    _ts("created_at", nullable=False),
    _ts("last_used_at", nullable=True),
    _ts("revoked_at", nullable=True),
)


# --- presence review (issue 6): shifts and rosters, absences, holidays, review, TPP rules ---

# A shift of a service that never closes; end_time <= start_time means it ends the next day.
shifts = sa.Table(
    "shifts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("agency_id", sa.Integer, sa.ForeignKey("agencies.id"), nullable=False, index=True),
    sa.Column("unit_id", sa.Integer, sa.ForeignKey("units.id"), nullable=True, index=True),
    sa.Column("code", sa.String(16), nullable=False),  # P / S / M as on the paper roster
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("start_time", sa.Time, nullable=False),
    sa.Column("end_time", sa.Time, nullable=False),
    sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
    _ts("created_at", nullable=False),
)

# The monthly roster: one row per employee and day; shift_id NULL is a rostered day off.
roster_entries = sa.Table(
    "roster_entries",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("employee_id", sa.Integer, sa.ForeignKey("employees.id"), nullable=False),
    sa.Column("day", sa.Date, nullable=False),
    sa.Column("shift_id", sa.Integer, sa.ForeignKey("shifts.id"), nullable=True),
    sa.Column("updated_by", sa.String(100), nullable=False),
    _ts("updated_at", nullable=False),
    sa.UniqueConstraint("employee_id", "day", name="uq_roster_entries_employee_day"),
    sa.Index("ix_roster_entries_day", "day"),
)

# DL, DD, sakit, cuti ... for a date range; cancelling keeps the row (cancelled_at).
absences = sa.Table(
    "absences",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("employee_id", sa.Integer, sa.ForeignKey("employees.id"), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("start_date", sa.Date, nullable=False),
    sa.Column("end_date", sa.Date, nullable=False),
    sa.Column("attachment", sa.String(500), nullable=False, server_default=""),
    sa.Column("note", sa.String(500), nullable=False, server_default=""),
    sa.Column("created_by", sa.String(100), nullable=False),
    _ts("created_at", nullable=False),
    _ts("cancelled_at", nullable=True),
    sa.Column("cancelled_by", sa.String(100), nullable=True),
    sa.Index("ix_absences_employee_start", "employee_id", "start_date"),
    sa.Index("ix_absences_end_date", "end_date"),
)

# Each agency's own holiday calendar, seeded from the `holidays` package and editable.
holidays = sa.Table(
    "holidays",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("agency_id", sa.Integer, sa.ForeignKey("agencies.id"), nullable=False),
    sa.Column("day", sa.Date, nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),  # national / cuti_bersama / local
    sa.Column("source", sa.String(16), nullable=False),  # package / manual
    sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("updated_by", sa.String(100), nullable=False),
    _ts("updated_at", nullable=False),
    sa.UniqueConstraint("agency_id", "day", name="uq_holidays_agency_day"),
)

# An admin's decision on a pending-review scan; the scan itself is never changed.
checkin_reviews = sa.Table(
    "checkin_reviews",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("checkin_id", sa.Integer, sa.ForeignKey("checkins.id"), nullable=False, index=True),
    sa.Column("decision", sa.String(16), nullable=False),  # approved / rejected
    sa.Column("reason", sa.String(500), nullable=False),
    sa.Column("actor", sa.String(100), nullable=False),
    _ts("at", nullable=False),
)

# A presence entry added by an admin (a forgotten check-out, a scan on the wrong day), with who,
# when and why; replaces_checkin_id takes a scan out of the recap without touching it.
corrections = sa.Table(
    "corrections",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("employee_id", sa.Integer, sa.ForeignKey("employees.id"), nullable=False),
    sa.Column("local_date", sa.Date, nullable=False),
    sa.Column("kind", sa.String(8), nullable=False),  # in / out
    _ts("at", nullable=False),  # the corrected presence time, UTC
    sa.Column(
        "replaces_checkin_id", sa.Integer, sa.ForeignKey("checkins.id"), nullable=True, index=True
    ),
    sa.Column("reason", sa.String(500), nullable=False),
    sa.Column("actor", sa.String(100), nullable=False),
    _ts("created_at", nullable=False),
    sa.Index("ix_corrections_employee_date", "employee_id", "local_date"),
)

# An agency's TPP deduction per event, in basis points (50 = 0.5 %); missing codes use defaults.
tpp_rules = sa.Table(
    "tpp_rules",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("agency_id", sa.Integer, sa.ForeignKey("agencies.id"), nullable=False),
    sa.Column("code", sa.String(16), nullable=False),
    sa.Column("basis_points", sa.Integer, nullable=False),
    sa.Column("updated_by", sa.String(100), nullable=False),
    _ts("updated_at", nullable=False),
    sa.UniqueConstraint("agency_id", "code", name="uq_tpp_rules_agency_code"),
)

# Attempt counters shared by every server process on PostgreSQL (backend/ratelimit.py): one row
# per limit and key (hashed), its window in Unix seconds; rows whose window has ended are deleted.
rate_limits = sa.Table(
    "rate_limits",
    metadata,
    sa.Column("name", sa.String(32), primary_key=True),
    sa.Column("key_hash", sa.String(64), primary_key=True),
    sa.Column("window_start", sa.BigInteger, nullable=False),
    sa.Column("hits", sa.Integer, nullable=False),
    sa.Column("expires_at", sa.BigInteger, nullable=False),
    sa.Index("ix_rate_limits_expires_at", "expires_at"),
)

# The recaps read a whole period for many employees at once; with the time and status in the
# index, SQLite answers from the index alone.
sa.Index(
    "ix_checkins_recap",
    checkins.c.local_date,
    checkins.c.employee_id,
    checkins.c.at,
    checkins.c.status,
)


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """SQLite hands timestamps back naive; they are always stored in UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class _ReusingSQLitePool(SQLitePool):
    """`databases` 0.9 opens a new aiosqlite connection (a new thread and file handle) for every
    query outside a transaction; this keeps released connections for reuse instead, which cuts
    the cost of a request several times over. Connections are in autocommit mode
    (isolation_level=None) and `databases` ends every transaction it begins, so a released
    connection carries no state."""

    IDLE_MAX = 16

    def __init__(self, url: DatabaseURL, **options: Any) -> None:
        super().__init__(url, **options)
        self._idle: list[aiosqlite.Connection] = []

    async def acquire(self) -> aiosqlite.Connection:
        if self._idle:
            return self._idle.pop()
        connection = await super().acquire()
        # FULL: a check-in acknowledged to a phone survives a power cut (WAL alone would not).
        await connection.execute("PRAGMA synchronous=FULL")
        await connection.execute("PRAGMA foreign_keys=ON")
        return connection

    async def release(self, connection: aiosqlite.Connection) -> None:
        if len(self._idle) < self.IDLE_MAX and not connection.in_transaction:
            self._idle.append(connection)
        else:
            await super().release(connection)

    async def close(self) -> None:
        while self._idle:
            await super().release(self._idle.pop())


class PooledSQLiteBackend(SQLiteBackend):
    def __init__(self, database_url: DatabaseURL | str, **options: Any) -> None:
        super().__init__(database_url, **options)
        self._pool = _ReusingSQLitePool(self._database_url, **self._options)

    async def disconnect(self) -> None:
        assert isinstance(self._pool, _ReusingSQLitePool)
        await self._pool.close()
        await super().disconnect()


class PresensiDatabase(Database):
    SUPPORTED_BACKENDS = {  # noqa: RUF012 - the base class declares it a plain attribute
        **Database.SUPPORTED_BACKENDS,
        "sqlite": "backend.db:PooledSQLiteBackend",
        "sqlite+aiosqlite": "backend.db:PooledSQLiteBackend",
    }


def make_database(url: str) -> Database:
    if url.startswith("sqlite"):
        # timeout: how long a writer waits for SQLite's lock before failing (busy_timeout).
        return PresensiDatabase(url, timeout=30)
    return PresensiDatabase(url, min_size=2, max_size=20)
