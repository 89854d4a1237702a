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

Apel sessions (backend/apel.py) are due on a day that is ``present``, ``absent`` or ``upcoming``
for an employee of a unit called to them (a day off, a holiday or an absence entry excuses); a
session is attended when a counted scan of the day is that session's apel scan, missed once it
has ended without one.
"""

from __future__ import annotations

import contextlib
import gc
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from databases import Database

from backend import absences as absence_entries
from backend import apel
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


class ApelMark(NamedTuple):
    """One apel session due on a day: ``attended`` (``ref`` the scan), ``missed`` or
    ``upcoming`` (not over yet)."""

    session_id: int
    name: str
    status: str
    ref: str | None = None
    at: datetime | None = None  # UTC


class Entry(NamedTuple):
    """A counted scan (``scan:<id>``) or correction (``correction:<id>``).

    A tuple of plain values, so the garbage collector stops tracking the hundreds of thousands
    a recap holds."""

    ref: str
    at: datetime  # UTC
    kind: str | None = None  # only corrections say in/out; a scan's kind follows from its time

    def local(self, tz: Any) -> datetime:
        return self.at.astimezone(tz)


@dataclass(slots=True)
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
    apel: tuple[ApelMark, ...] = ()

    @property
    def scheduled(self) -> bool:
        return self.schedule is not None

    @property
    def in_at(self) -> datetime | None:
        """The day's check-in in the office's zone."""
        if self.first_in is None or self.schedule is None:
            return None
        return self.first_in.local(self.schedule.start.tzinfo)

    @property
    def out_at(self) -> datetime | None:
        if self.last_out is None or self.schedule is None:
            return None
        return self.last_out.local(self.schedule.start.tzinfo)

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
        for mark in self.apel:
            if mark.status == "missed":
                found.append(("apel_absent", (f"apel:{mark.session_id}",)))
        return found


def _late(at: datetime, since: datetime) -> int:
    """Whole minutes from ``since`` to ``at`` as a clock shows them (seconds of ``at`` dropped)."""
    seconds = (at - since).total_seconds() - at.second - at.microsecond / 1e6
    return int(seconds // 60) if seconds > 0 else 0


def _early(at: datetime, until: datetime) -> int:
    seconds = (until - at).total_seconds() + at.second + at.microsecond / 1e6
    return int(seconds // 60) if seconds > 0 else 0


Bounds = tuple[
    datetime, datetime, datetime, datetime, datetime
]  # start, end, opens, middle, closes


def bounds(schedule: DaySchedule, next_schedule: DaySchedule | None) -> Bounds:
    """The schedule's instants in UTC: comparing datetimes of one zone object is much cheaper
    than across zones, and the recap compares every scan with them."""
    return (
        schedule.start.astimezone(UTC),
        schedule.end.astimezone(UTC),
        schedule.in_opens.astimezone(UTC),
        schedule.middle.astimezone(UTC),
        out_closes(schedule, next_schedule).astimezone(UTC),
    )


def evaluate_day(
    day: date,
    schedule: DaySchedule | None,
    entries: Sequence[Entry],
    *,
    now: datetime,
    next_schedule: DaySchedule | None = None,
    holiday: str | None = None,
    absence: tuple[str, int] | None = None,
    limits: Bounds | None = None,
) -> Day:
    """One employee's day; ``entries`` in UTC, ``limits`` precomputed by ``bounds`` or not."""
    if schedule is None:
        return Day(day, "holiday" if holiday else "off", holiday=holiday)
    start, end, opens, middle, closes = limits or bounds(schedule, next_schedule)
    first_in = last_out = None
    for e in entries:
        at, kind = e.at, e.kind
        if kind == "in" or (kind is None and opens <= at < middle):
            if first_in is None or at < first_in.at:
                first_in = e
        elif kind == "out" or (kind is None and middle <= at < closes):
            if last_out is None or at > last_out.at:
                last_out = e
    if absence is not None:
        return Day(
            day, absence[0], schedule, holiday, absence[1], first_in=first_in, last_out=last_out
        )
    over = now >= closes
    if first_in is None and last_out is None:
        return Day(day, "absent" if over else "upcoming", schedule, holiday)
    late = 0 if first_in is None else _late(first_in.at, start)
    early = 0 if last_out is None else _early(last_out.at, end)
    return Day(
        day,
        "present",
        schedule,
        holiday,
        first_in=first_in,
        last_out=last_out,
        late_minutes=late,
        late=category_for(late, "TL") if late else None,
        early_minutes=early,
        early=category_for(early, "PSW") if early else None,
        missing_in=first_in is None,
        missing_out=last_out is None and over,
    )


def _tally(days: Sequence[Day]) -> Counter[str]:
    c: dict[str, int] = {
        "scheduled": 0,
        "missing_in": 0,
        "missing_out": 0,
        "apel_due": 0,
        "apel_attended": 0,
        "apel_missed": 0,
    }
    for d in days:
        c[d.status] = c.get(d.status, 0) + 1
        for mark in d.apel:
            if mark.status != "upcoming":
                c["apel_due"] += 1
                c["apel_" + mark.status] += 1
        if d.schedule is not None:
            c["scheduled"] += 1
            if d.late:
                c[d.late] = c.get(d.late, 0) + 1
            if d.early:
                c[d.early] = c.get(d.early, 0) + 1
            if d.missing_in:
                c["missing_in"] += 1
            if d.missing_out:
                c["missing_out"] += 1
    return Counter(c)


@dataclass
class EmployeeRecap:
    employee_id: int
    nip: str
    name: str
    unit_id: int
    unit_name: str
    days: list[Day] = field(default_factory=list)
    # The diary's summary for the period (backend/activity_recap.py), when attached.
    activity: Any = None

    def counts(self) -> Counter[str]:
        """Per status, per TL/PSW category, missing_in/missing_out, ``scheduled``, and
        ``apel_due`` / ``apel_attended`` / ``apel_missed``."""
        return _tally(self.days)

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
        index = (day - self.start).days
        by_unit: dict[int, list[Day]] = {}
        for emp in self.employees:
            by_unit.setdefault(emp.unit_id, []).append(emp.days[index])
        return {unit_id: _tally(days) for unit_id, days in by_unit.items()}

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
    # Plain dicts: the recap reads these fields for every day of every employee.
    return [dict(r._mapping) for r in await db.fetch_all(query)]


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
) -> dict[int, dict[date, list[Entry]]]:
    """employee -> working day -> the entries that count (times in UTC): accepted scans and
    approved pending ones not replaced by a correction, and the corrections."""
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
    out: dict[int, dict[date, list[Entry]]] = {}
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
    # The loop below runs once per scan of the period: kept lean on purpose.
    dates: dict[Any, date] = {}
    make = tuple.__new__
    for scan_id, emp, day, at, status in await _rows(db, scans):
        if decided or replaced:
            decision = decided.get(scan_id)
            counts = (status == "accepted" and decision != "rejected") or decision == "approved"
            if not counts or scan_id in replaced:
                continue
        elif status != "accepted":
            continue
        days = out.get(emp)
        if days is None:
            days = out[emp] = {}
        working = dates.get(day)
        if working is None:
            working = dates[day] = _day(day)
        entry = make(Entry, (f"scan:{scan_id}", _utc(at), None))
        if working in days:
            days[working].append(entry)
        else:
            days[working] = [entry]
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
            Entry(f"correction:{fix_id}", _utc(at), kind)
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
    if isinstance(value, datetime):
        return as_utc(value)
    if len(value) <= 26:  # stored without an offset, in UTC; parsing the suffix is the cheap way
        return datetime.fromisoformat(value + "+00:00")
    return as_utc(datetime.fromisoformat(value))


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
    with _collector_paused():
        return await _compute(db, agency_id, start, end, now, unit_id, employee_id)


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """A month for thousands of staff allocates millions of short-lived objects; the cyclic
    collector would rescan them again and again (a third of the time). Reference counting still
    frees everything; the collector resumes afterwards."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


async def _compute(
    db: Database,
    agency_id: int,
    start: date,
    end: date,
    now: datetime,
    unit_id: int | None,
    employee_id: int | None,
) -> Recap:
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
    result = evaluate(people, agency_id, start, end, now, zones, calendar, excused, entries)
    await _mark_apel(db, result, agency_id, start, end, now, entries, scoped=ids is not None)
    return Recap(agency_name or "", unit_name, start, end, result)


def evaluate(
    people: Sequence[Any],
    agency_id: int,
    start: date,
    end: date,
    now: datetime,
    zones: dict[int, ZoneInfo],
    calendar: Calendar,
    excused: dict[tuple[int, date], tuple[str, int]],
    entries: dict[int, dict[date, list[Entry]]],
) -> list[EmployeeRecap]:
    dates = [start + timedelta(days=i) for i in range((end - start).days + 2)]
    holidays = [calendar.holiday(agency_id, d) for d in dates]
    fallback = ZoneInfo(DEFAULT_TZ)
    now = now.astimezone(UTC)
    # id() keys are safe: the value holds the schedules, so their ids are not reused meanwhile.
    shared: dict[tuple[int, int], tuple[Bounds, DaySchedule, DaySchedule | None]] = {}
    result = []
    for p in people:
        employee_id, unit_id = p["id"], p["unit_id"]
        tz = zones.get(p["office_id"]) or zones.get(-unit_id) or fallback
        emp = EmployeeRecap(employee_id, p["nip"], p["name"], unit_id, p["unit_name"])
        mine = entries.get(employee_id, {})
        schedules = [calendar.schedule(employee_id, agency_id, unit_id, d, tz) for d in dates]
        days = []
        for i, day in enumerate(dates[:-1]):
            schedule, following = schedules[i], schedules[i + 1]
            limits = None
            if schedule is not None:
                # Most employees share their unit's schedules: their bounds once per pair.
                key = (id(schedule), id(following))
                if key not in shared:
                    shared[key] = (bounds(schedule, following), schedule, following)
                limits = shared[key][0]
            days.append(
                evaluate_day(
                    day,
                    schedule,
                    mine.get(day, ()),
                    now=now,
                    next_schedule=following,
                    holiday=holidays[i],
                    absence=excused.get((employee_id, day)) if excused else None,
                    limits=limits,
                )
            )
        emp.days = days
        result.append(emp)
    return result


APEL_DUE = frozenset({"present", "absent", "upcoming"})


async def _mark_apel(
    db: Database,
    result: list[EmployeeRecap],
    agency_id: int,
    start: date,
    end: date,
    now: datetime,
    entries: dict[int, dict[date, list[Entry]]],
    *,
    scoped: bool,
) -> None:
    """Set each day's ``apel`` marks (see the module's docstring)."""
    sessions = await apel.load_sessions(db, agency_id=agency_id, include_deleted=True)
    if not sessions or not result:
        return
    found = await apel.scans(
        db,
        start=start,
        end=end,
        session_ids=[s.id for s in sessions],
        employee_ids=[e.employee_id for e in result] if scoped else None,
    )
    now = now.astimezone(UTC)
    # Once per session, not per employee: the days it is due on, with the instant it ends.
    dates = [start + timedelta(days=i) for i in range((end - start).days + 1)]
    due = {s.id: {day: s.bounds(day)[1] for day in dates if s.due_on(day)} for s in sessions}
    by_unit: dict[int, list[apel.Session]] = {}
    for emp in result:
        called = by_unit.get(emp.unit_id)
        if called is None:
            called = by_unit[emp.unit_id] = [s for s in sessions if emp.unit_id in s.unit_ids]
        if not called:
            continue
        mine = entries.get(emp.employee_id, {})
        for day in emp.days:
            if day.status not in APEL_DUE:
                continue
            marks = []
            for s in called:
                ends = due[s.id].get(day.day)
                if ends is None:
                    continue
                ref = found.get((s.id, emp.employee_id, day.day))
                counted = (
                    next((e for e in mine.get(day.day, ()) if e.ref == ref), None) if ref else None
                )
                if counted is not None:
                    marks.append(ApelMark(s.id, s.name, "attended", ref, counted.at))
                elif now >= ends:
                    marks.append(ApelMark(s.id, s.name, "missed"))
                else:
                    marks.append(ApelMark(s.id, s.name, "upcoming"))
            if marks:
                day.apel = tuple(marks)


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
