"""Daily and monthly recaps: what each scheduled day of each employee comes to, and why.

For a day with a schedule (weekday hours, Ramadan hours or a rostered shift):

- the day's ``in`` is the earliest counted scan from 3 hours before the start until the middle,
  its ``out`` the latest counted scan from the middle until the out window closes (21 hours after
  the start, or earlier when the next day's in window opens); corrections count with the kind an
  admin gave them;
- lateness (TL1–TL4) is measured from the start to the ``in``, leaving early (PSW1–PSW4) from the
  ``out`` to the end, on whole minutes as a clock shows them;
- an absence entry excuses the day; with no counted scan the day is ``absent`` once its out
  window has closed (``upcoming`` before); with only one of in/out the other is missing.

A day without a schedule is ``holiday`` (an active holiday of the agency) or ``off``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from databases import Database

from backend import absences as absence_entries
from backend.db import (
    agencies,
    as_utc,
    checkin_reviews,
    checkins,
    corrections,
    employees,
    offices,
    units,
)
from backend.rosters import Calendar, load_calendar, out_closes
from backend.schedules import DaySchedule, category_for

LATE = ("TL1", "TL2", "TL3", "TL4")
EARLY = ("PSW1", "PSW2", "PSW3", "PSW4")
ABSENCE_KINDS = tuple(absence_entries.KINDS)
DEFAULT_TZ = "Asia/Jakarta"


@dataclass(frozen=True)
class Entry:
    """A counted scan (``scan:<id>``) or correction (``correction:<id>``) at a local time."""

    ref: str
    at: datetime
    kind: str | None = None  # only corrections say in/out; a scan's kind follows from its time


@dataclass(frozen=True)
class Day:
    day: date
    status: str  # present / absent / upcoming / holiday / off / an absence kind
    schedule: DaySchedule | None = None
    holiday: str | None = None
    absence_id: int | None = None
    first_in: Entry | None = None
    last_out: Entry | None = None
    late_minutes: int = 0
    late: str | None = None
    early_minutes: int = 0
    early: str | None = None
    missing_in: bool = False
    missing_out: bool = False

    @property
    def scheduled(self) -> bool:
        return self.schedule is not None

    def events(self) -> list[tuple[str, tuple[str, ...]]]:
        """What a TPP rule may deduct for, each with the entries behind it."""
        found: list[tuple[str, tuple[str, ...]]] = []
        refs = tuple(e.ref for e in (self.first_in, self.last_out) if e is not None)
        if self.status == "absent":
            found.append(("absent", ()))
        if self.late and self.first_in:
            found.append((self.late, (self.first_in.ref,)))
        if self.early and self.last_out:
            found.append((self.early, (self.last_out.ref,)))
        if self.missing_in:
            found.append(("missing_in", refs))
        if self.missing_out:
            found.append(("missing_out", refs))
        return found


def _minutes(later: datetime, earlier: datetime) -> int:
    return max(0, int((later - earlier).total_seconds() // 60))


def evaluate_day(
    day: date,
    schedule: DaySchedule | None,
    entries: Sequence[Entry],
    *,
    now: datetime,
    next_schedule: DaySchedule | None = None,
    holiday: str | None = None,
    absence: tuple[str, int] | None = None,
) -> Day:
    if schedule is None:
        return Day(day, "holiday" if holiday else "off", holiday=holiday)
    closes = out_closes(schedule, next_schedule)
    first_in = last_out = None
    for e in entries:
        if e.kind == "in" or (e.kind is None and schedule.in_opens <= e.at < schedule.middle):
            if first_in is None or e.at < first_in.at:
                first_in = e
        elif e.kind == "out" or (e.kind is None and schedule.middle <= e.at < closes):
            if last_out is None or e.at > last_out.at:
                last_out = e
    if absence is not None:
        return Day(
            day, absence[0], schedule, holiday, absence[1], first_in=first_in, last_out=last_out
        )
    if first_in is None and last_out is None:
        return Day(day, "absent" if now >= closes else "upcoming", schedule, holiday)
    late = early = 0
    if first_in is not None:
        late = _minutes(first_in.at.replace(second=0, microsecond=0), schedule.start)
    if last_out is not None:
        early = _minutes(schedule.end, last_out.at.replace(second=0, microsecond=0))
    return Day(
        day,
        "present",
        schedule,
        holiday,
        first_in=first_in,
        last_out=last_out,
        late_minutes=late,
        late=category_for(late, "TL"),
        early_minutes=early,
        early=category_for(early, "PSW"),
        missing_in=first_in is None,
        missing_out=last_out is None and now >= closes,
    )


@dataclass
class EmployeeRecap:
    employee_id: int
    nip: str
    name: str
    unit_id: int
    unit_name: str
    days: list[Day] = field(default_factory=list)

    def counts(self) -> Counter[str]:
        """Per status, per TL/PSW category, missing_in/missing_out, and ``scheduled``."""
        c: Counter[str] = Counter()
        for d in self.days:
            c[d.status] += 1
            c["scheduled"] += d.scheduled
            if d.late:
                c[d.late] += 1
            if d.early:
                c[d.early] += 1
            c["missing_in"] += d.missing_in
            c["missing_out"] += d.missing_out
        return c

    def rate(self) -> float | None:
        """Present over the days that were due (present or absent); excused days do not count."""
        c = self.counts()
        due = c["present"] + c["absent"]
        return c["present"] / due if due else None


@dataclass
class Recap:
    agency_name: str
    unit_name: str | None
    start: date
    end: date
    employees: list[EmployeeRecap]

    def daily(self, day: date) -> dict[int, Counter[str]]:
        """Per unit, the counts of ``day``: statuses, TL/PSW categories, missing scans."""
        units_: dict[int, Counter[str]] = {}
        for emp in self.employees:
            c = units_.setdefault(emp.unit_id, Counter())
            d = emp.days[(day - self.start).days]
            c[d.status] += 1
            c["scheduled"] += d.scheduled
            if d.late:
                c[d.late] += 1
            if d.early:
                c[d.early] += 1
            c["missing_in"] += d.missing_in
            c["missing_out"] += d.missing_out
        return units_

    @property
    def days(self) -> list[date]:
        return [self.start + timedelta(days=i) for i in range((self.end - self.start).days + 1)]


def daily_rate(counts: Counter[str]) -> float | None:
    """Present over staff expected that day: scheduled, not excused by an absence."""
    due = counts["present"] + counts["absent"] + counts["upcoming"]
    return counts["present"] / due if due else None


async def _people(
    db: Database, agency_id: int, unit_id: int | None, employee_id: int | None
) -> list[Any]:
    query = (
        sa.select(
            employees.c.id,
            employees.c.nip,
            employees.c.name,
            employees.c.unit_id,
            employees.c.office_id,
            units.c.name.label("unit_name"),
        )
        .select_from(employees.join(units))
        .where(units.c.agency_id == agency_id)
        .where(employees.c.active.is_(True))
        .order_by(units.c.name, employees.c.name, employees.c.nip)
    )
    if unit_id is not None:
        query = query.where(employees.c.unit_id == unit_id)
    if employee_id is not None:
        query = query.where(employees.c.id == employee_id)
    return list(await db.fetch_all(query))


def _scope(query: Any, agency_id: int, unit_id: int | None, employee_id: int | None) -> Any:
    if employee_id is not None:
        return query.where(employees.c.id == employee_id)
    if unit_id is not None:
        return query.where(employees.c.unit_id == unit_id)
    return query.where(
        employees.c.unit_id.in_(sa.select(units.c.id).where(units.c.agency_id == agency_id))
    )


async def counted_entries(
    db: Database,
    *,
    agency_id: int,
    start: date,
    end: date,
    unit_id: int | None = None,
    employee_id: int | None = None,
) -> dict[int, dict[date, list[tuple[str, datetime, str | None]]]]:
    """employee -> working day -> (ref, UTC time, kind or None) of what counts: accepted scans
    and approved pending ones not replaced by a correction, and the corrections."""
    decided = {
        r["checkin_id"]: r["decision"]
        for r in await db.fetch_all(
            _scope(
                sa.select(checkin_reviews.c.checkin_id, checkin_reviews.c.decision)
                .select_from(checkin_reviews.join(checkins).join(employees))
                .where(checkins.c.local_date.between(start, end)),
                agency_id,
                unit_id,
                employee_id,
            )
        )
    }
    replaced = {
        r[0]
        for r in await db.fetch_all(
            _scope(
                sa.select(corrections.c.replaces_checkin_id)
                .select_from(
                    corrections.join(
                        checkins, checkins.c.id == corrections.c.replaces_checkin_id
                    ).join(employees, employees.c.id == checkins.c.employee_id)
                )
                .where(checkins.c.local_date.between(start, end)),
                agency_id,
                unit_id,
                employee_id,
            )
        )
    }
    out: dict[int, dict[date, list[tuple[str, datetime, str | None]]]] = {}
    scans = _scope(
        sa.select(
            checkins.c.id,
            checkins.c.employee_id,
            checkins.c.local_date,
            checkins.c.at,
            checkins.c.status,
        )
        .select_from(checkins.join(employees))
        .where(checkins.c.local_date.between(start, end)),
        agency_id,
        unit_id,
        employee_id,
    )
    for scan_id, emp, day, at, status in await _rows(db, scans):
        decision = decided.get(scan_id)
        counts = (status == "accepted" and decision != "rejected") or decision == "approved"
        if counts and scan_id not in replaced:
            out.setdefault(emp, {}).setdefault(_day(day), []).append(
                (f"scan:{scan_id}", _utc(at), None)
            )
    fixes = _scope(
        sa.select(
            corrections.c.id,
            corrections.c.employee_id,
            corrections.c.local_date,
            corrections.c.at,
            corrections.c.kind,
        )
        .select_from(corrections.join(employees))
        .where(corrections.c.local_date.between(start, end)),
        agency_id,
        unit_id,
        employee_id,
    )
    for fix_id, emp, day, at, kind in await _rows(db, fixes):
        out.setdefault(emp, {}).setdefault(_day(day), []).append(
            (f"correction:{fix_id}", _utc(at), kind)
        )
    return out


async def _rows(db: Database, query: Any) -> list[Sequence[Any]]:
    """Rows straight from the driver: the recap reads hundreds of thousands of scans, and
    per-row result objects would cost more than everything else it does."""
    pg = db.url.dialect == "postgresql"
    compiled = query.compile(dialect=_pg_dialect() if pg else _sqlite_dialect())
    params = [compiled.params[name] for name in compiled.positiontup]
    async with db.connection() as conn:
        raw = conn.raw_connection
        if pg:
            return list(await raw.fetch(str(compiled), *params))
        # SQLAlchemy stores SQLite dates as ISO text; compare with the same text.
        params = [p.isoformat() if isinstance(p, date) else p for p in params]
        return list(await raw.execute_fetchall(str(compiled), params))


def _day(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(value)


def _utc(value: Any) -> datetime:
    return as_utc(value if isinstance(value, datetime) else datetime.fromisoformat(value))


def _pg_dialect() -> Any:
    from sqlalchemy.dialects.postgresql import asyncpg

    return asyncpg.dialect(paramstyle="numeric_dollar")


def _sqlite_dialect() -> Any:
    from sqlalchemy.dialects.sqlite import aiosqlite

    return aiosqlite.dialect(paramstyle="qmark")


async def compute(
    db: Database,
    *,
    agency_id: int,
    start: date,
    end: date,
    now: datetime,
    unit_id: int | None = None,
    employee_id: int | None = None,
) -> Recap:
    """The recap of every active employee in scope, one ``Day`` per date from start to end."""
    agency_name = await db.fetch_val(sa.select(agencies.c.name).where(agencies.c.id == agency_id))
    unit_name = None
    if unit_id is not None:
        unit_name = await db.fetch_val(sa.select(units.c.name).where(units.c.id == unit_id))
    people = await _people(db, agency_id, unit_id, employee_id)
    zones = await _zones(db, agency_id)
    ids = [p["id"] for p in people] if (unit_id or employee_id) else None
    calendar = await load_calendar(
        db, agency_ids=[agency_id], employee_ids=ids, start=start, end=end + timedelta(days=1)
    )
    excused = await absence_entries.covering(
        db,
        start=start,
        end=end,
        agency_ids=[agency_id],
        unit_id=unit_id,
        employee_ids=[employee_id] if employee_id is not None else None,
    )
    entries = await counted_entries(
        db, agency_id=agency_id, start=start, end=end, unit_id=unit_id, employee_id=employee_id
    )
    dates = [start + timedelta(days=i) for i in range((end - start).days + 2)]
    result = []
    for p in people:
        tz = zones.get(p["office_id"]) or zones.get(-p["unit_id"]) or ZoneInfo(DEFAULT_TZ)
        emp = EmployeeRecap(p["id"], p["nip"], p["name"], p["unit_id"], p["unit_name"])
        mine = entries.get(p["id"], {})
        schedules = [_schedule(calendar, p, agency_id, d, tz) for d in dates]
        for i, day in enumerate(dates[:-1]):
            raw = mine.get(day, ())
            emp.days.append(
                evaluate_day(
                    day,
                    schedules[i],
                    [Entry(ref, at.astimezone(tz), kind) for ref, at, kind in raw],
                    now=now,
                    next_schedule=schedules[i + 1],
                    holiday=calendar.holiday(agency_id, day),
                    absence=excused.get((p["id"], day)),
                )
            )
        result.append(emp)
    return Recap(agency_name or "", unit_name, start, end, result)


def _schedule(
    calendar: Calendar, person: Any, agency_id: int, day: date, tz: ZoneInfo
) -> DaySchedule | None:
    return calendar.schedule(person["id"], agency_id, person["unit_id"], day, tz)


async def _zones(db: Database, agency_id: int) -> dict[int, ZoneInfo]:
    """office id -> zone, and -unit id -> the zone of the unit's first office."""
    zones: dict[int, ZoneInfo] = {}
    for row in await db.fetch_all(
        sa.select(offices.c.id, offices.c.unit_id, offices.c.timezone)
        .where(offices.c.agency_id == agency_id)
        .order_by(offices.c.id)
    ):
        zone = ZoneInfo(row["timezone"])
        zones[row["id"]] = zone
        if row["unit_id"] is not None:
            zones.setdefault(-row["unit_id"], zone)
    return zones


def month_bounds(year: int, month: int) -> tuple[date, date]:
    first = date(year, month, 1)
    following = date(year + (month == 12), month % 12 + 1, 1)
    return first, following - timedelta(days=1)
