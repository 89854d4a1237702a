"""Apel (morning assembly) sessions: scheduled per office for some units, attended by scanning
the apel QR the office's displays show while a session is held.

A session is held every ``weekday`` (0 = Monday) or on one ``date``, from ``start`` to ``end`` in
the office's local time. A display shows the apel token (backend/tokens.py, ``a1.…``) for every
QR window that *starts* inside a session; the check-in counts the scan as the session's
attendance when the token's window lies in that same session of the display's office and the
employee's unit was called to it. Nothing else ever counts: a daily token carries no session,
and an apel token's MAC covers its session and display.

The sessions are few and change rarely: each process keeps them in memory (``Schedule``) and
reads them again every few seconds, so neither the display rotation nor the check-in queries the
database for them.
"""

from __future__ import annotations

import asyncio
import re
import time as monotonic
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from databases import Database

from backend import audit
from backend.db import (
    apel_session_units,
    apel_sessions,
    as_utc,
    checkins,
    offices,
    units,
    utcnow,
)
from backend.errors import ApiError

SCHEDULE_TTL = 5.0  # seconds a process keeps the sessions before reading them again
MAX_UNITS = 1000
_HHMM = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")


_Date = date  # the Session's field ``date`` hides the type inside the class


@dataclass(frozen=True)
class Session:
    id: int
    office_id: int
    name: str
    weekday: int | None
    date: date | None
    start: time
    end: time
    tz: ZoneInfo
    unit_ids: frozenset[int]
    created_at: datetime  # UTC
    deleted_at: datetime | None  # UTC

    def occurs_on(self, day: _Date) -> bool:
        return self.date == day if self.date is not None else day.weekday() == self.weekday

    def bounds(self, day: _Date) -> tuple[datetime, datetime]:
        """The occurrence on ``day`` as UTC instants (start, end)."""
        return (
            datetime.combine(day, self.start, self.tz).astimezone(UTC),
            datetime.combine(day, self.end, self.tz).astimezone(UTC),
        )

    def holds_at(self, instant: datetime) -> bool:
        """Whether the session is being held at ``instant`` (any zone)."""
        local = instant.astimezone(self.tz)
        if not self.occurs_on(local.date()) or not self.start <= local.time() < self.end:
            return False
        # No check of created_at: a session's code cannot be shown before it exists, and one
        # scheduled for now is shown from the current code on.
        return self.deleted_at is None or instant.astimezone(UTC) < self.deleted_at

    def due_on(self, day: _Date) -> bool:
        """Whether the occurrence on ``day`` counts in recaps: scheduled for that day, and the
        session existed when it began (a session ended later keeps its past occurrences)."""
        if not self.occurs_on(day):
            return False
        # Created during the occurrence still counts that day: the displays switched at once.
        start, end = self.bounds(day)
        return self.created_at < end and (self.deleted_at is None or start < self.deleted_at)


def parse_hhmm(value: Any, name: str) -> time:
    if not isinstance(value, str) or not _HHMM.match(value):
        raise ApiError("validation_failed", detail=f"{name}: a time HH:MM")
    return time(int(value[:2]), int(value[3:]))


def _session(row: Any, unit_ids: Iterable[int]) -> Session:
    return Session(
        id=row["id"],
        office_id=row["office_id"],
        name=row["name"],
        weekday=row["weekday"],
        date=row["date"],
        start=parse_hhmm(row["start"], "start"),
        end=parse_hhmm(row["end"], "end"),
        tz=ZoneInfo(row["timezone"]),
        unit_ids=frozenset(unit_ids),
        created_at=as_utc(row["created_at"]),
        deleted_at=None if row["deleted_at"] is None else as_utc(row["deleted_at"]),
    )


async def load_sessions(
    db: Database,
    *,
    office_ids: Sequence[int] | None = None,
    agency_id: int | None = None,
    include_deleted: bool = False,
) -> list[Session]:
    query = (
        sa.select(apel_sessions, offices.c.timezone)
        .select_from(apel_sessions.join(offices))
        .order_by(apel_sessions.c.id)
    )
    if not include_deleted:
        query = query.where(apel_sessions.c.deleted_at.is_(None))
    if office_ids is not None:
        query = query.where(apel_sessions.c.office_id.in_(office_ids))
    if agency_id is not None:
        query = query.where(offices.c.agency_id == agency_id)
    rows = await db.fetch_all(query)
    members: dict[int, list[int]] = {}
    if rows:
        for m in await db.fetch_all(
            sa.select(apel_session_units.c.session_id, apel_session_units.c.unit_id).where(
                apel_session_units.c.session_id.in_([r["id"] for r in rows])
            )
        ):
            members.setdefault(m["session_id"], []).append(m["unit_id"])
    return [_session(r, members.get(r["id"], ())) for r in rows]


class Schedule:
    """The sessions held now or later, kept in memory by one process (``HotPath.apel``)."""

    def __init__(self, db: Database, ttl: float = SCHEDULE_TTL) -> None:
        self.db = db
        self.ttl = ttl
        self._by_id: dict[int, Session] = {}
        self._by_office: dict[int, tuple[Session, ...]] = {}
        self._loaded_at = -1e18
        self._lock = asyncio.Lock()

    def _stale(self) -> bool:
        return monotonic.monotonic() - self._loaded_at > self.ttl

    async def refresh(self, *, force: bool = False) -> None:
        async with self._lock:
            if not force and not self._stale():
                return
            sessions = await load_sessions(self.db)
            by_office: dict[int, list[Session]] = {}
            for s in sessions:
                by_office.setdefault(s.office_id, []).append(s)
            self._by_id = {s.id: s for s in sessions}
            self._by_office = {k: tuple(v) for k, v in by_office.items()}
            self._loaded_at = monotonic.monotonic()

    async def fresh(self) -> Schedule:
        if self._stale():
            await self.refresh()
        return self

    def invalidate(self) -> None:
        self._loaded_at = -1e18

    def held_at(self, office_id: int, instant: datetime) -> Session | None:
        """The office's session held at ``instant``, from what was last read (no query)."""
        for s in self._by_office.get(office_id, ()):
            if s.holds_at(instant):
                return s
        return None

    def get(self, session_id: int) -> Session | None:
        return self._by_id.get(session_id)


def window_start(window: int, period: int) -> datetime:
    return datetime.fromtimestamp(window * period, UTC)


async def attended(
    schedule: Schedule,
    *,
    session_id: int,
    office_id: int,
    unit_id: int,
    window: int,
    period: int,
) -> int | None:
    """The session an apel token's scan attends, or None: the session must be the display's
    office's, held when the token's window began, and have called the employee's unit."""
    await schedule.fresh()
    session = schedule.get(session_id)
    if session is None:
        return None
    if session.office_id != office_id or unit_id not in session.unit_ids:
        return None
    if not session.holds_at(window_start(window, period)):
        return None
    return session.id


# -- operator's scheduling ------------------------------------------------------------------------


@dataclass(frozen=True)
class NewSession:
    office_id: int
    name: str
    weekday: int | None
    date: date | None
    start: time
    end: time
    unit_ids: tuple[int, ...]


def parse_new(data: Any) -> NewSession:
    """Validate a ``POST /api/v1/admin/apel`` body (or the console form's equivalent)."""
    if not isinstance(data, dict):
        raise ApiError("invalid_request", detail="expected a JSON object")
    office_id = data.get("office_id")
    if isinstance(office_id, bool) or not isinstance(office_id, int) or office_id <= 0:
        raise ApiError("validation_failed", detail="office_id: an office id")
    name = data.get("name")
    if not isinstance(name, str) or not name.strip() or len(name.strip()) > 100:
        raise ApiError("validation_failed", detail="name: 1 to 100 characters")
    weekday, day = data.get("weekday"), data.get("date")
    if (weekday is None) == (day is None):
        raise ApiError("validation_failed", detail="give either weekday (0-6) or date")
    if weekday is not None and (
        isinstance(weekday, bool) or not isinstance(weekday, int) or not 0 <= weekday <= 6
    ):
        raise ApiError("validation_failed", detail="weekday: 0 (Monday) to 6 (Sunday)")
    parsed_day = None
    if day is not None:
        try:
            if not isinstance(day, str) or len(day) != 10:
                raise ValueError(day)
            parsed_day = date.fromisoformat(day)
        except ValueError as exc:
            raise ApiError("validation_failed", detail="date: YYYY-MM-DD") from exc
    start = parse_hhmm(data.get("start"), "start")
    end = parse_hhmm(data.get("end"), "end")
    if end <= start:
        raise ApiError("validation_failed", detail="end: after start")
    unit_ids = data.get("unit_ids")
    if (
        not isinstance(unit_ids, list)
        or not unit_ids
        or len(unit_ids) > MAX_UNITS
        or any(isinstance(u, bool) or not isinstance(u, int) or u <= 0 for u in unit_ids)
    ):
        raise ApiError("validation_failed", detail="unit_ids: a list of unit ids")
    return NewSession(
        office_id, name.strip(), weekday, parsed_day, start, end, tuple(dict.fromkeys(unit_ids))
    )


def _may_meet(a: NewSession | Session, b: Session) -> bool:
    """Whether two sessions of one office can be held on the same day at the same time."""
    if not (a.start < b.end and b.start < a.end):
        return False
    if a.date is not None and b.date is not None:
        return a.date == b.date
    if a.date is not None:
        return a.date.weekday() == b.weekday
    if b.date is not None:
        return b.date.weekday() == a.weekday
    return a.weekday == b.weekday


def hhmm(value: time) -> str:
    return value.strftime("%H:%M")


async def create(
    db: Database,
    new: NewSession,
    *,
    allowed_units: sa.ColumnElement[bool],
    actor: str,
    ip: str = "",
    now: datetime | None = None,
) -> int:
    """Store a session; ``allowed_units`` is the scope the caller may schedule units in.
    Raises ``apel_overlaps`` when the office already holds a session at an overlapping time."""
    async with db.transaction():
        # FOR UPDATE (PostgreSQL): one office's sessions are scheduled one at a time, so two
        # overlapping ones saved at once cannot both pass the check below.
        office = await db.fetch_one(
            sa.select(offices.c.id, offices.c.agency_id)
            .where(offices.c.id == new.office_id)
            .with_for_update()
        )
        if office is None:
            raise ApiError("validation_failed", detail="office_id: choose an office")
        found = {
            r[0]
            for r in await db.fetch_all(
                sa.select(units.c.id)
                .where(units.c.id.in_(new.unit_ids))
                .where(units.c.agency_id == office["agency_id"])
                .where(allowed_units)
            )
        }
        unknown = [u for u in new.unit_ids if u not in found]
        if unknown:
            raise ApiError(
                "validation_failed",
                detail=f"unit_ids: not units of the office's agency: {unknown[:10]}",
            )
        for other in await load_sessions(db, office_ids=[new.office_id]):
            if _may_meet(new, other):
                raise ApiError("apel_overlaps", detail=f"apel:{other.id}")
        session_id: int = await db.fetch_val(
            apel_sessions.insert()
            .values(
                office_id=new.office_id,
                name=new.name,
                weekday=new.weekday,
                date=new.date,
                start=hhmm(new.start),
                end=hhmm(new.end),
                created_by=actor,
                created_at=now or utcnow(),
            )
            .returning(apel_sessions.c.id)
        )
        await db.execute_many(
            apel_session_units.insert(),
            [{"session_id": session_id, "unit_id": u} for u in new.unit_ids],
        )
        await audit.record(
            db,
            actor=actor,
            action="apel.create",
            target=f"office:{new.office_id}",
            detail={
                "apel_id": session_id,
                "name": new.name,
                "weekday": new.weekday,
                "date": new.date.isoformat() if new.date else None,
                "start": hhmm(new.start),
                "end": hhmm(new.end),
                "unit_ids": list(new.unit_ids),
            },
            ip=ip,
        )
    return session_id


async def delete(
    db: Database, session_id: int, *, actor: str, ip: str = "", now: datetime | None = None
) -> None:
    """End a session: no longer held from now on; its past occurrences stay in recaps."""
    async with db.transaction():
        row = await db.fetch_one(
            apel_sessions.select().where(apel_sessions.c.id == session_id).with_for_update()
        )
        if row is None or row["deleted_at"] is not None:
            raise ApiError("not_found", detail="apel")
        await db.execute(
            apel_sessions.update()
            .where(apel_sessions.c.id == session_id)
            .values(deleted_at=now or utcnow())
        )
        await audit.record(
            db,
            actor=actor,
            action="apel.delete",
            target=f"office:{row['office_id']}",
            detail={"apel_id": session_id},
            ip=ip,
        )


def as_json(s: Session) -> dict[str, Any]:
    return {
        "id": s.id,
        "office_id": s.office_id,
        "name": s.name,
        "weekday": s.weekday,
        "date": s.date.isoformat() if s.date else None,
        "start": hhmm(s.start),
        "end": hhmm(s.end),
        "unit_ids": sorted(s.unit_ids),
        "created_at": s.created_at.isoformat(),
    }


# -- attendance -----------------------------------------------------------------------------------


async def scans(
    db: Database,
    *,
    start: date,
    end: date,
    session_ids: Sequence[int] | None = None,
    employee_ids: Sequence[int] | None = None,
) -> dict[tuple[int, int, date], str]:
    """(session, employee, working day) -> "scan:<id>" of the earliest apel scan stored."""
    query = (
        sa.select(
            checkins.c.id, checkins.c.apel_session_id, checkins.c.employee_id, checkins.c.local_date
        )
        .where(checkins.c.apel_session_id.is_not(None))
        .where(checkins.c.local_date.between(start, end))
        .order_by(checkins.c.id)
    )
    if session_ids is not None:
        query = query.where(checkins.c.apel_session_id.in_(session_ids))
    if employee_ids is not None:
        query = query.where(checkins.c.employee_id.in_(employee_ids))
    found: dict[tuple[int, int, date], str] = {}
    for r in await db.fetch_all(query):
        found.setdefault((r[1], r[2], r[3]), f"scan:{r[0]}")
    return found


@dataclass(frozen=True)
class Attendee:
    employee_id: int
    nip: str
    name: str
    unit_name: str
    status: str  # attended / missed / excused / upcoming / off
    scan_ref: str | None
    at: datetime | None  # local time of the scan


async def attendance(db: Database, session: Session, day: date, *, now: datetime) -> list[Attendee]:
    """Who was called to ``session`` on ``day`` and whether they came, as the recap counts it
    (a day off, a holiday or an absence excuses; the scan must be one the recap counts)."""
    from backend import recaps  # recaps imports this module

    agency_ids = [
        r[0]
        for r in await db.fetch_all(
            sa.select(units.c.agency_id).where(units.c.id.in_(sorted(session.unit_ids))).distinct()
        )
    ]
    result: list[Attendee] = []
    for agency_id in sorted(agency_ids):
        recap = await recaps.compute(db, agency_id=agency_id, start=day, end=day, now=now)
        for emp in recap.employees:
            if emp.unit_id not in session.unit_ids:
                continue
            d = emp.days[0]
            mark = next((m for m in d.apel if m.session_id == session.id), None)
            if mark is None:
                status = "off" if d.status in ("off", "holiday") else "excused"
                ref, at = None, None
            else:
                status, ref = mark.status, mark.ref
                at = mark.at.astimezone(session.tz) if mark.at else None
            result.append(
                Attendee(emp.employee_id, emp.nip, emp.name, emp.unit_name, status, ref, at)
            )
    result.sort(key=lambda a: (a.unit_name, a.name, a.nip))
    return result
