"""Tables (SQLAlchemy Core) and the database connection.

Schema changes go through Alembic migrations in ``backend/migrations``; this module is the
current shape they produce, used to build queries.
"""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime
from typing import Any

import aiosqlite
import asyncpg
import sqlalchemy as sa
from databases import Database, DatabaseURL
from databases.backends.sqlite import (
    SQLiteBackend,
    SQLiteConnection,
    SQLitePool,
    SQLiteTransaction,
)
from databases.core import Connection, Transaction
from databases.interfaces import TransactionBackend
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect

from backend import clock

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
    # E-Activity: echelons whose diary days are accepted without a supervisor (comma-separated).
    sa.Column(
        "activity_unvalidated_echelons",
        sa.String(100),
        nullable=False,
        server_default="II.a,II.b",
    ),
    # off, required or flag: backend/passkeys.py
    sa.Column("user_verification", sa.String(16), nullable=False, server_default="off"),
)

units = sa.Table(
    "units",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("agency_id", sa.Integer, sa.ForeignKey("agencies.id"), nullable=False, index=True),
    sa.Column("code", sa.String(32), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    _ts("created_at", nullable=False),
    # NULL: the agency's policy; otherwise off, required or flag (backend/passkeys.py)
    sa.Column("user_verification", sa.String(16), nullable=True),
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
    # Optional geofence (backend/geofence.py): a signal for reviewers, never proof.
    sa.Column("latitude", sa.Float, nullable=True),
    sa.Column("longitude", sa.Float, nullable=True),
    sa.Column("radius_m", sa.Integer, nullable=True),
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
    # Organisation (backend/organisation.py): jabatan, its kind, echelon and atasan langsung.
    sa.Column("position", sa.String(200), nullable=True),
    sa.Column("position_kind", sa.String(16), nullable=True),  # struktural, fungsional, pelaksana
    sa.Column("echelon", sa.String(8), nullable=True),  # I.a ... IV.b, NULL for none
    sa.Column(
        "supervisor_id",
        sa.Integer,
        sa.ForeignKey("employees.id", ondelete="SET NULL"),
        nullable=True,
        index=True,
    ),
)

# Acting supervisors (Plt/Plh): during [start_date, end_date] the delegate decides for the
# supervisor. Cancelled rows are kept for the history.
delegations = sa.Table(
    "delegations",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column(
        "supervisor_id", sa.Integer, sa.ForeignKey("employees.id"), nullable=False, index=True
    ),
    sa.Column("delegate_id", sa.Integer, sa.ForeignKey("employees.id"), nullable=False, index=True),
    sa.Column("start_date", sa.Date, nullable=False),
    sa.Column("end_date", sa.Date, nullable=False),
    sa.Column("created_by", sa.Integer, sa.ForeignKey("admin_users.id"), nullable=True),
    _ts("created_at", nullable=False),
    _ts("cancelled_at", nullable=True),
)

# Each nonce of a signed phone request (backend/me.py) is accepted once; rows expire with the
# signature's freshness window.
me_nonces = sa.Table(
    "me_nonces",
    metadata,
    sa.Column("nonce", sa.String(32), primary_key=True),
    sa.Column("device_id", sa.String(64), nullable=False),
    sa.Column("expires_at", sa.BigInteger, nullable=False, index=True),
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

# A phone's platform passkey (WebAuthn, ES256), registered at enrolment when the owner's
# policy asks for user verification; a new enrolment is a new device, so it replaces it.
passkeys = sa.Table(
    "passkeys",
    metadata,
    sa.Column("device_id", sa.String(40), sa.ForeignKey("devices.id"), primary_key=True),
    sa.Column("credential_id", sa.String(400), nullable=False, unique=True),  # base64url
    sa.Column("public_key", sa.LargeBinary, nullable=False),  # SEC1 uncompressed P-256 point
    sa.Column("sign_count", sa.BigInteger, nullable=False, server_default="0"),
    _ts("created_at", nullable=False),
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
    # The apel session this scan attended (backend/apel.py): set only when the scanned code was
    # that session's and the employee's unit was called to it. No foreign key: added to a large
    # table in place (SQLite cannot add one), and sessions are never deleted, only ended.
    sa.Column("apel_session_id", sa.Integer, nullable=True),
    # The position the phone reported at scan time, if any; cleared after
    # LOCATION_RETENTION_DAYS (backend/geofence.py).
    sa.Column("latitude", sa.Float, nullable=True),
    sa.Column("longitude", sa.Float, nullable=True),
    sa.Column("accuracy_m", sa.Float, nullable=True),
    # Repeating a scan of the same display window is idempotent: one record, same answer.
    sa.UniqueConstraint("employee_id", "display_id", "window", name="uq_checkins_scan"),
    sa.Index("ix_checkins_employee_date", "employee_id", "local_date"),
    sa.Index("ix_checkins_office_date", "office_id", "local_date"),
    sa.Index("ix_checkins_at", "at"),
    sa.Index("ix_checkins_coordinates", "latitude", "longitude"),
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
    # NULL: created with `presensi api-token create` (the audit log says so).
    sa.Column("created_by", sa.Integer, sa.ForeignKey("admin_users.id"), nullable=True),
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
    sa.Column("code", sa.String(32), nullable=False),
    sa.Column("basis_points", sa.Integer, nullable=False),
    sa.Column("updated_by", sa.String(100), nullable=False),
    _ts("updated_at", nullable=False),
    sa.UniqueConstraint("agency_id", "code", name="uq_tpp_rules_agency_code"),
)

# --- E-Activity (backend/activities.py): the daily diary, validated by the supervisor ---

# One row per employee and working day; entries are replaced as a whole on each save.
activity_days = sa.Table(
    "activity_days",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("employee_id", sa.Integer, sa.ForeignKey("employees.id"), nullable=False),
    sa.Column("day", sa.Date, nullable=False),
    # draft / submitted / approved / returned / rejected / accepted_auto
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("minutes", sa.Integer, nullable=False, server_default="0"),  # claimed
    sa.Column("approved_minutes", sa.Integer, nullable=True),  # validated
    _ts("submitted_at", nullable=True),
    # The last working day the supervisor has; afterwards the day escalates.
    sa.Column("validation_due", sa.Date, nullable=True),
    # A returned day may be resubmitted until this working day.
    sa.Column("resubmit_until", sa.Date, nullable=True),
    _ts("decided_at", nullable=True),
    sa.Column("decided_by", sa.String(100), nullable=True),  # "employee:<nip>" / "admin:<id>"
    sa.Column("note", sa.String(1000), nullable=False, server_default=""),
    _ts("updated_at", nullable=False),
    sa.UniqueConstraint("employee_id", "day", name="uq_activity_days_employee_day"),
    sa.Index("ix_activity_days_status_day", "status", "day"),
    sa.Index("ix_activity_days_day", "day"),
)

activity_entries = sa.Table(
    "activity_entries",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column(
        "activity_day_id",
        sa.Integer,
        sa.ForeignKey("activity_days.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("position", sa.SmallInteger, nullable=False),
    sa.Column("start_time", sa.Time, nullable=False),
    sa.Column("end_time", sa.Time, nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("output_quantity", sa.Float, nullable=False),
    sa.Column("output_unit", sa.String(50), nullable=False),
    sa.Column("target_id", sa.String(64), nullable=True),
)

# SKP work targets: imported by an operator per employee and year.
skp_targets = sa.Table(
    "skp_targets",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("employee_id", sa.Integer, sa.ForeignKey("employees.id"), nullable=False),
    sa.Column("year", sa.SmallInteger, nullable=False),
    sa.Column("target_id", sa.String(64), nullable=False),
    sa.Column("description", sa.String(500), nullable=False),
    sa.Column("updated_by", sa.String(100), nullable=False),
    _ts("updated_at", nullable=False),
    sa.UniqueConstraint("employee_id", "year", "target_id", name="uq_skp_targets_employee_year"),
)

# Apel (morning assembly) sessions of an office: every ``weekday`` (0 = Monday) or on one ``date``,
# from ``start`` to ``end`` (the office's local "HH:MM"), for the units in apel_session_units.
# Deleting one sets ``deleted_at``: it is no longer held, and past occurrences stay in recaps.
apel_sessions = sa.Table(
    "apel_sessions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("office_id", sa.Integer, sa.ForeignKey("offices.id"), nullable=False),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("weekday", sa.Integer, nullable=True),
    sa.Column("date", sa.Date, nullable=True),
    sa.Column("start", sa.String(5), nullable=False),
    sa.Column("end", sa.String(5), nullable=False),
    sa.Column("created_by", sa.String(100), nullable=False),
    _ts("created_at", nullable=False),
    _ts("deleted_at", nullable=True),
    sa.Index("ix_apel_sessions_office_id", "office_id"),
)

apel_session_units = sa.Table(
    "apel_session_units",
    metadata,
    sa.Column("session_id", sa.Integer, sa.ForeignKey("apel_sessions.id"), primary_key=True),
    sa.Column("unit_id", sa.Integer, sa.ForeignKey("units.id"), primary_key=True),
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

# A photo a phone sent with a request (a doctor's letter), re-encoded without EXIF or GPS.
attachments = sa.Table(
    "attachments",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),  # att_<random>
    sa.Column("employee_id", sa.Integer, sa.ForeignKey("employees.id"), nullable=False, index=True),
    sa.Column("content_type", sa.String(32), nullable=False),
    sa.Column("size", sa.Integer, nullable=False),
    sa.Column("data", sa.LargeBinary, nullable=False),
    _ts("created_at", nullable=False),
)

# A request from the phone (backend/requests.py): a correction or an absence, decided by the
# holder (the supervisor, or whoever it was escalated to) or an operator of the unit.
staff_requests = sa.Table(
    "staff_requests",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("employee_id", sa.Integer, sa.ForeignKey("employees.id"), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),  # correction / absence
    sa.Column("absence_kind", sa.String(32), nullable=True),
    sa.Column("start_date", sa.Date, nullable=False),
    sa.Column("end_date", sa.Date, nullable=False),
    sa.Column("scan", sa.String(8), nullable=True),  # in / out (correction)
    _ts("at", nullable=True),  # the claimed time (correction), UTC
    sa.Column("reason", sa.String(500), nullable=False),
    sa.Column("reference", sa.String(100), nullable=False, server_default=""),
    sa.Column(
        "attachment_id", sa.String(32), sa.ForeignKey("attachments.id"), nullable=True, index=True
    ),
    sa.Column("days", sa.Integer, nullable=False, server_default="0"),  # working days covered
    sa.Column("status", sa.String(16), nullable=False),  # pending/approved/rejected/cancelled
    # Whose decision it is: a supervisor (or their delegate); NULL: the unit's operators only.
    sa.Column("holder_id", sa.Integer, sa.ForeignKey("employees.id"), nullable=True),
    sa.Column("escalations", sa.Integer, nullable=False, server_default="0"),
    _ts("held_since", nullable=False),  # the last hand-over; escalation counts from here
    _ts("created_at", nullable=False),
    _ts("decided_at", nullable=True),
    sa.Column("decided_by", sa.String(100), nullable=True),
    sa.Column("decider_id", sa.Integer, sa.ForeignKey("employees.id"), nullable=True),
    sa.Column("note", sa.String(500), nullable=False, server_default=""),
    sa.Column("effect", sa.String(40), nullable=True),  # absence:<id> / correction:<id>
    sa.Index("ix_staff_requests_holder_status", "holder_id", "status"),
    sa.Index("ix_staff_requests_employee_status", "employee_id", "status"),
    sa.Index("ix_staff_requests_status_held", "status", "held_since"),
)

# Every hand-over of a request: submitted, escalated, decided, cancelled.
request_events = sa.Table(
    "request_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column(
        "request_id", sa.Integer, sa.ForeignKey("staff_requests.id"), nullable=False, index=True
    ),
    _ts("at", nullable=False),
    sa.Column("action", sa.String(16), nullable=False),
    sa.Column("actor", sa.String(100), nullable=False),
    sa.Column("holder_id", sa.Integer, sa.ForeignKey("employees.id"), nullable=True),
    sa.Column("note", sa.String(500), nullable=False, server_default=""),
)

# PP 94/2021 discipline (backend/discipline.py). The thresholds are data: rows with agency_id
# NULL are the defaults from the regulation; an agency with rows of its own uses those instead.
# ``consecutive``: the rule counts working days absent in a row, not in the year.
discipline_levels = sa.Table(
    "discipline_levels",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("agency_id", sa.Integer, sa.ForeignKey("agencies.id"), nullable=True),
    sa.Column("code", sa.String(32), nullable=False),
    sa.Column("min_days", sa.Integer, nullable=False),
    sa.Column("consecutive", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("severity", sa.Integer, nullable=False),  # higher is heavier
    sa.Column("sanction", sa.String(300), nullable=False),  # as the regulation names it
    sa.UniqueConstraint("agency_id", "code", name="uq_discipline_levels_agency_code"),
)

# The working days each employee was absent without a valid reason, as the last count found
# them (``presensi discipline``); ``run`` is the length of the streak of absent working days
# that ends on the day.
discipline_days = sa.Table(
    "discipline_days",
    metadata,
    sa.Column("employee_id", sa.Integer, sa.ForeignKey("employees.id"), primary_key=True),
    sa.Column("day", sa.Date, primary_key=True),
    sa.Column("run", sa.Integer, nullable=False),
    sa.Index("ix_discipline_days_day", "day"),
)

# When each agency's year was last counted, and through which day.
discipline_counts = sa.Table(
    "discipline_counts",
    metadata,
    sa.Column("agency_id", sa.Integer, sa.ForeignKey("agencies.id"), primary_key=True),
    sa.Column("year", sa.Integer, primary_key=True),
    sa.Column("through", sa.Date, nullable=False),
    _ts("counted_at", nullable=False),
)

# A level an employee reached in a year, recorded by the count that first saw it (the
# supervisor's inbox item); withdrawn when later entries (a sick note, a correction) take the
# days below the level again.
discipline_events = sa.Table(
    "discipline_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("employee_id", sa.Integer, sa.ForeignKey("employees.id"), nullable=False),
    sa.Column("year", sa.Integer, nullable=False),
    sa.Column("level_code", sa.String(32), nullable=False),
    sa.Column("severity", sa.Integer, nullable=False),
    sa.Column("sanction", sa.String(300), nullable=False),
    sa.Column("reached_on", sa.Date, nullable=False),
    sa.Column("days", sa.Integer, nullable=False),
    sa.Column("supervisor_id", sa.Integer, sa.ForeignKey("employees.id"), nullable=True),
    _ts("recorded_at", nullable=False),
    _ts("withdrawn_at", nullable=True),
    sa.UniqueConstraint(
        "employee_id", "year", "level_code", name="uq_discipline_events_employee_level"
    ),
    sa.Index("ix_discipline_events_supervisor", "supervisor_id", "year"),
)

# The tamper-evident record (backend/ledger.py): every entry that affects pay, in one hash chain.
# ``body`` is the entry's canonical JSON, ``hash`` = sha256(previous hash || body); ``seq`` counts
# from 1 without gaps and ``at`` never decreases along it (the daily heads are found by time).
ledger_entries = sa.Table(
    "ledger_entries",
    metadata,
    sa.Column(
        "seq",
        sa.BigInteger().with_variant(sa.Integer, "sqlite"),
        primary_key=True,
        autoincrement=False,
    ),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("record_id", sa.BigInteger, nullable=False),
    _ts("at", nullable=False, index=True),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
    sa.Index("ix_ledger_entries_kind_record", "kind", "record_id"),
)

# The chain's head: one row (id 1) that every append locks, so appends of several processes
# take turns and each extends the head the previous one left (PostgreSQL: FOR UPDATE).
ledger_head = sa.Table(
    "ledger_head",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
    _ts("at", nullable=True),  # the last entry's
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


# --- integration (issue 14): the changes feed and webhooks (backend/changes.py, webhooks.py) ---

# One row per created/updated/cancelled record, written by database triggers (backend/changes.py
# TRACKED). seq is the feed's position: SQLite's id; on PostgreSQL assigned in commit order by
# changes.publish() once no older transaction is in flight (txid below pg_snapshot_xmin).
changes = sa.Table(
    "changes",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
    sa.Column("seq", sa.BigInteger, nullable=True),
    sa.Column("txid", sa.BigInteger, nullable=True),
    sa.Column("type", sa.String(32), nullable=False),
    sa.Column("record_id", sa.String(40), nullable=False),
    sa.Column("action", sa.String(16), nullable=False),
    _ts("at", nullable=False),
    sa.Index("ix_changes_seq", "seq", unique=True),
    sa.Index("ix_changes_at", "at"),
    sa.Index(
        "ix_changes_unpublished",
        "txid",
        "id",
        postgresql_where=sa.text("seq IS NULL"),
        sqlite_where=sa.text("seq IS NULL"),
    ),
    sqlite_autoincrement=True,
)

webhooks = sa.Table(
    "webhooks",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("url", sa.String(2000), nullable=False),
    sa.Column("events", sa.String(2000), nullable=False),  # comma-separated, "*" for all
    sa.Column("secret", sa.String(100), nullable=False),  # whsec_...: needed to sign
    sa.Column("agency_id", sa.Integer, sa.ForeignKey("agencies.id"), nullable=True),
    sa.Column("unit_id", sa.Integer, sa.ForeignKey("units.id"), nullable=True),
    sa.Column("cursor", sa.BigInteger, nullable=False, server_default="0"),  # last seq queued
    sa.Column("created_by", sa.String(100), nullable=False),
    _ts("created_at", nullable=False),
    _ts("paused_at", nullable=True),
    sa.Column("paused_reason", sa.String(500), nullable=False, server_default=""),
    _ts("deleted_at", nullable=True),
)

webhook_deliveries = sa.Table(
    "webhook_deliveries",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("webhook_id", sa.Integer, sa.ForeignKey("webhooks.id"), nullable=False, index=True),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("msg_id", sa.String(64), nullable=False),  # webhook-id: the same on every retry
    sa.Column("event", sa.String(64), nullable=False),
    sa.Column("record", sa.String(80), nullable=False),  # type:id, for order per record
    sa.Column("payload", sa.Text, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # pending / delivered
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("response_code", sa.Integer, nullable=True),
    sa.Column("latency_ms", sa.Integer, nullable=True),
    sa.Column("last_error", sa.String(500), nullable=False, server_default=""),
    _ts("created_at", nullable=False),
    _ts("next_attempt_at", nullable=True),
    _ts("delivered_at", nullable=True),
    sa.UniqueConstraint("webhook_id", "seq", name="uq_webhook_deliveries_webhook_seq"),
    sa.Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
)


def utcnow() -> datetime:
    return clock.now()


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


class _WriteTransaction(SQLiteTransaction):
    """A root transaction is a write transaction from its first statement: ``BEGIN IMMEDIATE``.

    A deferred ``BEGIN`` that reads and then writes cannot be upgraded in WAL mode once another
    connection has committed meanwhile: SQLite answers "database is locked" at once, whatever
    ``busy_timeout`` says. ``BEGIN IMMEDIATE`` takes the write lock before the first read, so
    writers queue within the busy timeout and each sees the state it changes; readers are never
    blocked (WAL). Within one process the writers also queue on an ``asyncio.Lock`` first, in
    arrival order, so at most one connection per process waits in SQLite's busy handler.
    ``db.transaction(readonly=True)`` keeps a deferred ``BEGIN`` for a long read (an export).
    Nested transactions stay savepoints.
    """

    def __init__(self, connection: _WriteFirstConnection) -> None:
        super().__init__(connection)
        self._backend = connection.backend
        self._holds_lock = False

    async def start(self, is_root: bool, extra_options: dict[Any, Any]) -> None:
        readonly = bool(extra_options.get("readonly"))
        if not is_root or readonly:
            await super().start(is_root, extra_options)
            return
        self._is_root = True
        raw = self._connection._connection
        assert raw is not None, "Connection is not acquired"
        lock = self._backend.write_lock()
        try:
            async with asyncio.timeout(self._backend.busy_timeout):
                await lock.acquire()
        except TimeoutError:
            # The same error SQLite gives when its own busy timeout runs out.
            raise sqlite3.OperationalError("database is locked") from None
        try:
            async with raw.execute("BEGIN IMMEDIATE") as cursor:
                await cursor.close()
        except BaseException:
            lock.release()
            raise
        self._holds_lock = True

    async def _end(self, sql: str) -> None:
        raw = self._connection._connection
        assert raw is not None, "Connection is not acquired"
        try:
            async with raw.execute(sql) as cursor:
                await cursor.close()
        except BaseException:
            # A failed COMMIT (a full disk) leaves the transaction open: end it here, so the
            # connection goes back to the pool clean and the lock is free for the next writer.
            if raw.in_transaction:
                async with raw.execute("ROLLBACK") as cursor:
                    await cursor.close()
            raise
        finally:
            self._release()

    def _release(self) -> None:
        if self._holds_lock:
            self._holds_lock = False
            self._backend.write_lock().release()

    async def commit(self) -> None:
        if not self._holds_lock:
            await super().commit()
        else:
            await self._end("COMMIT")

    async def rollback(self) -> None:
        if not self._holds_lock:
            await super().rollback()
        else:
            await self._end("ROLLBACK")


class _WriteFirstConnection(SQLiteConnection):
    def __init__(self, backend: PooledSQLiteBackend) -> None:
        super().__init__(backend._pool, backend._dialect)
        self.backend = backend

    def transaction(self) -> TransactionBackend:
        return _WriteTransaction(self)


class PooledSQLiteBackend(SQLiteBackend):
    def __init__(self, database_url: DatabaseURL | str, **options: Any) -> None:
        super().__init__(database_url, **options)
        self._pool = _ReusingSQLitePool(self._database_url, **self._options)
        self.busy_timeout = float(options.get("timeout", 5.0))
        self._locks: dict[asyncio.AbstractEventLoop, asyncio.Lock] = {}

    def write_lock(self) -> asyncio.Lock:
        """This process's queue of writers (one per event loop: tests run several)."""
        loop = asyncio.get_running_loop()
        lock = self._locks.get(loop)
        if lock is None:
            self._locks = {k: v for k, v in self._locks.items() if not k.is_closed()}
            lock = self._locks[loop] = asyncio.Lock()
        return lock

    def connection(self) -> SQLiteConnection:
        return _WriteFirstConnection(self)

    async def disconnect(self) -> None:
        assert isinstance(self._pool, _ReusingSQLitePool)
        await self._pool.close()
        await super().disconnect()


class _SafeTransaction(Transaction):
    """`databases`' transaction, except that a failed BEGIN (the lock not had within the busy
    timeout, a cancelled request) gives its connection back instead of leaking it."""

    async def start(self) -> Transaction:
        connection = self._connection
        self._transaction = connection._connection.transaction()
        async with connection._transaction_lock:
            is_root = not connection._transaction_stack
            await connection.__aenter__()
            try:
                await self._transaction.start(is_root=is_root, extra_options=self._extra_options)
            except BaseException:
                self._transaction = None
                await connection.__aexit__()
                raise
            connection._transaction_stack.append(self)
        return self


class _ReadIteratingConnection(Connection):
    """``db.iterate`` streams inside a read-only transaction (an export must not hold SQLite's
    write lock while it streams)."""

    def transaction(self, *, force_rollback: bool = False, **kwargs: Any) -> Transaction:
        def connection_callable() -> Connection:
            return self

        return _SafeTransaction(connection_callable, force_rollback, **kwargs)

    async def iterate(self, query: Any, values: dict[str, Any] | None = None) -> Any:
        built_query = self._build_query(query, values)
        async with self.transaction(readonly=True), self._query_lock:
            async for record in self._connection.iterate(built_query):
                yield record


class PresensiDatabase(Database):
    """``databases.Database`` with one write discipline: every ``db.transaction()`` may write.

    On SQLite it begins with ``BEGIN IMMEDIATE`` (see ``_WriteTransaction``); on PostgreSQL it is
    the usual READ COMMITTED transaction, where code that decides on what it read locks the
    rows it decides on (``SELECT ... FOR UPDATE``) or claims them with a guarded ``UPDATE``.
    ``db.transaction(readonly=True)`` is a read-only one on both.
    """

    SUPPORTED_BACKENDS = {  # noqa: RUF012 - the base class declares it a plain attribute
        **Database.SUPPORTED_BACKENDS,
        "sqlite": "backend.db:PooledSQLiteBackend",
        "sqlite+aiosqlite": "backend.db:PooledSQLiteBackend",
    }

    def connection(self) -> Connection:
        if self._global_connection is not None:
            return self._global_connection
        if not self._connection:
            self._connection = _ReadIteratingConnection(self, self._backend)
        return self._connection

    def transaction(self, *, force_rollback: bool = False, **kwargs: Any) -> Transaction:
        return _SafeTransaction(self.connection, force_rollback=force_rollback, **kwargs)


def make_database(url: str) -> Database:
    if url.startswith("sqlite"):
        # timeout: how long a writer waits for SQLite's lock before failing (busy_timeout).
        return PresensiDatabase(url, timeout=30)
    return PresensiDatabase(url, min_size=2, max_size=20)


# -- races: upserts and the errors a lost race raises -------------------------------------------


def dialect_insert(db: Database, table: sa.Table) -> Any:
    """``INSERT`` in the database's dialect, for ``on_conflict_do_nothing/_do_update``."""
    if db.url.dialect == "postgresql":
        return pg_dialect.insert(table)
    return sqlite_dialect.insert(table)


async def insert_or_lock(
    db: Database, table: sa.Table, key: dict[str, Any], values: dict[str, Any]
) -> tuple[bool, Any]:
    """In a transaction: insert ``key | values`` unless a row with ``key`` (a unique
    constraint's columns) exists. Returns (True, the new row) or (False, the existing row,
    locked until the transaction ends on PostgreSQL), so two racing upserts never both insert.
    """
    where = [table.c[k] == v for k, v in key.items()]
    query = table.select().where(*where).with_for_update()
    row = await db.fetch_one(query)
    if row is not None:
        return False, row
    inserted = await db.fetch_one(
        dialect_insert(db, table)
        .values(**key, **values)
        .on_conflict_do_nothing(index_elements=list(key))
        .returning(*table.c)
    )
    if inserted is not None:
        return True, inserted
    # Another transaction inserted it meanwhile (PostgreSQL, READ COMMITTED): now it is visible.
    row = await db.fetch_one(query)
    assert row is not None
    return False, row


def is_unique_violation(exc: BaseException) -> bool:
    if isinstance(exc, asyncpg.exceptions.UniqueViolationError):
        return True
    return isinstance(exc, sqlite3.IntegrityError) and "UNIQUE" in str(exc)


# Errors that mean another transaction won a race: answered 409 ``write_conflict``, never 500
# (backend/app.py registers the handler). Code that can lose a race on purpose catches them
# itself and answers its own 4xx.
CONFLICT_ERRORS: tuple[type[Exception], ...] = (
    sqlite3.IntegrityError,
    asyncpg.exceptions.IntegrityConstraintViolationError,
    asyncpg.exceptions.TransactionRollbackError,  # serialization_failure, deadlock_detected
)


# Fraud patterns (backend/fraud.py): a cluster of scans that together look like one, per
# agency, pattern and key (e.g. the client, the coordinates); a reviewer confirms or dismisses
# it and the decision is kept. Flags never change a verdict.
fraud_clusters = sa.Table(
    "fraud_clusters",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("agency_id", sa.Integer, sa.ForeignKey("agencies.id"), nullable=False),
    sa.Column("pattern", sa.String(32), nullable=False),
    sa.Column("key", sa.String(200), nullable=False),
    _ts("first_at", nullable=False),
    _ts("last_at", nullable=False),
    # open / confirmed / dismissed
    sa.Column("status", sa.String(16), nullable=False, server_default="open"),
    sa.Column("decided_by", sa.String(100), nullable=True),
    _ts("decided_at", nullable=True),
    sa.Column("note", sa.String(500), nullable=False, server_default=""),
    _ts("created_at", nullable=False),
    sa.UniqueConstraint("agency_id", "pattern", "key", name="uq_fraud_clusters_key"),
    sa.Index("ix_fraud_clusters_agency_status", "agency_id", "status"),
)

fraud_cluster_scans = sa.Table(
    "fraud_cluster_scans",
    metadata,
    sa.Column("cluster_id", sa.Integer, sa.ForeignKey("fraud_clusters.id"), primary_key=True),
    sa.Column("checkin_id", sa.Integer, sa.ForeignKey("checkins.id"), primary_key=True),
    sa.Index("ix_fraud_cluster_scans_checkin", "checkin_id"),
)
