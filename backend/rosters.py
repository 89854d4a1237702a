"""Shifts, the monthly roster, and which schedule (if any) binds an employee on a given day.

A day's schedule comes from, in order: the employee's roster entry for that day (a shift, or a
rostered day off), then the agency's holiday calendar (a day off for weekday staff), then the
weekday work schedule of ``backend.schedules`` (Ramadan and other dated rules included).
A rostered shift on a holiday is worked: services that never close roster people on purpose.

A night shift starts on one date and ends on the next; its scans count for the day it started.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from databases import Database

from backend import audit
from backend.db import (
    dialect_insert,
    employees,
    holidays,
    roster_entries,
    shifts,
    units,
    utcnow,
    work_schedules,
)
from backend.errors import ApiError
from backend.schedules import DaySchedule, pick_rule

# A day's out window closes when the same schedule's in window would open the next day.
OUT_WINDOW = timedelta(hours=21)


def span(day: date, start: time, end: time, tz: ZoneInfo) -> DaySchedule:
    """The schedule from ``start`` to ``end`` on ``day``; an end at or before the start is the
    next morning (a night shift)."""
    begins = datetime.combine(day, start, tz)
    ends = datetime.combine(day, end, tz)
    if ends <= begins:
        ends = datetime.combine(day + timedelta(days=1), end, tz)
    return DaySchedule(begins, ends)


def out_closes(schedule: DaySchedule, next_schedule: DaySchedule | None = None) -> datetime:
    """When scans stop counting as this day's check-out."""
    closes = schedule.start + OUT_WINDOW
    if next_schedule is not None:
        closes = min(closes, next_schedule.in_opens)
    return closes


@dataclass
class Calendar:
    """Everything needed to tell an employee's schedule on any day of a period, loaded at once.

    ``roster`` maps (employee_id, day) to a (start, end) pair or None for a rostered day off.
    """

    rules: Sequence[Any]
    holidays: dict[int, dict[date, str]]  # agency_id -> day -> name
    roster: dict[tuple[int, date], tuple[time, time] | None]
    _rules_by_day: dict[tuple[int, int, date], Any] = field(default_factory=dict, repr=False)
    _shared: dict[tuple[int, int, date, ZoneInfo], DaySchedule | None] = field(
        default_factory=dict, repr=False
    )

    def schedule(
        self, employee_id: int, agency_id: int, unit_id: int, day: date, tz: ZoneInfo
    ) -> DaySchedule | None:
        key = (employee_id, day)
        if key in self.roster:
            hours = self.roster[key]
            return None if hours is None else span(day, hours[0], hours[1], tz)
        # Everyone of a unit shares the day's schedule: build it once per unit, day and zone.
        shared = (agency_id, unit_id, day, tz)
        if shared not in self._shared:
            if day in self.holidays.get(agency_id, {}):
                self._shared[shared] = None
            else:
                rule = self._rule(agency_id, unit_id, day)
                self._shared[shared] = (
                    None if rule is None else span(day, rule["start_time"], rule["end_time"], tz)
                )
        return self._shared[shared]

    def holiday(self, agency_id: int, day: date) -> str | None:
        return self.holidays.get(agency_id, {}).get(day)

    def _rule(self, agency_id: int, unit_id: int, day: date) -> Any | None:
        cache = self._rules_by_day
        key = (agency_id, unit_id, day)
        if key not in cache:
            rows = [
                r
                for r in self.rules
                if r["weekday"] == day.weekday()
                and r["agency_id"] in (None, agency_id)
                and r["unit_id"] in (None, unit_id)
            ]
            cache[key] = pick_rule(rows, unit_id, day)
        return cache[key]


def _calendar_statements(agencies: Any, employee_ids: Any, start: Any, end: Any) -> list[Any]:
    """Rules, holidays and roster entries; the arguments are values or bind parameters."""
    rules = work_schedules.select().where(
        sa.or_(work_schedules.c.agency_id.is_(None), work_schedules.c.agency_id.in_(agencies))
    )
    off_days = (
        sa.select(holidays.c.agency_id, holidays.c.day, holidays.c.name)
        .where(holidays.c.agency_id.in_(agencies))
        .where(holidays.c.active.is_(True))
        .where(holidays.c.day.between(start, end))
    )
    entries = (
        sa.select(
            roster_entries.c.employee_id,
            roster_entries.c.day,
            shifts.c.start_time,
            shifts.c.end_time,
        )
        .select_from(roster_entries.outerjoin(shifts))
        .where(roster_entries.c.day.between(start, end))
    )
    if employee_ids is not None:
        entries = entries.where(roster_entries.c.employee_id.in_(employee_ids))
    else:
        entries = entries.where(
            roster_entries.c.employee_id.in_(
                sa.select(employees.c.id)
                .join(units)
                .where(units.c.agency_id.in_(agencies))
                .scalar_subquery()
            )
        )
    return [rules, off_days, entries]


# Built once with parameters, for callers that execute through SQLAlchemy (its compiled cache
# then serves every batch of scans): see ``calendar_queries``.
_PREPARED = {
    by_employee: _calendar_statements(
        sa.bindparam("agencies", expanding=True),
        sa.bindparam("employees", expanding=True) if by_employee else None,
        sa.bindparam("start"),
        sa.bindparam("end"),
    )
    for by_employee in (False, True)
}


def calendar_queries(
    *, agency_ids: Iterable[int], employee_ids: Sequence[int] | None, start: date, end: date
) -> tuple[list[Any], dict[str, Any]]:
    """``load_calendar``'s statements (prepared once) and their parameters, for
    ``Connection.execute``; ``calendar_from`` turns the rows into a ``Calendar``."""
    params: dict[str, Any] = {"agencies": sorted(set(agency_ids)), "start": start, "end": end}
    if employee_ids is not None:
        params["employees"] = list(employee_ids)
    return _PREPARED[employee_ids is not None], params


def calendar_from(
    rules: Sequence[Any], off_days: Iterable[Any], entries: Iterable[Any]
) -> Calendar:
    """A ``Calendar`` from the rows of those statements (any rows indexable by column)."""
    off: dict[int, dict[date, str]] = {}
    for row in off_days:
        off.setdefault(row["agency_id"], {})[row["day"]] = row["name"]
    roster: dict[tuple[int, date], tuple[time, time] | None] = {}
    for row in entries:
        hours = None if row["start_time"] is None else (row["start_time"], row["end_time"])
        roster[(row["employee_id"], row["day"])] = hours
    return Calendar(rules, off, roster)


async def load_calendar(
    db: Database,
    *,
    agency_ids: Iterable[int],
    employee_ids: Sequence[int] | None,
    start: date,
    end: date,
) -> Calendar:
    """The schedules of ``employee_ids`` (None: everyone of the agencies) from start to end."""
    statements = _calendar_statements(sorted(set(agency_ids)), employee_ids, start, end)
    rules, off_days, entries = [await db.fetch_all(q) for q in statements]
    return calendar_from(rules, off_days, entries)


def working_day_on(
    calendar: Calendar, *, employee_id: int, agency_id: int, unit_id: int, local: datetime
) -> tuple[date, DaySchedule | None]:
    """The working day a scan at local time ``local`` counts for, and that day's schedule.

    Normally the scan's own date; a scan in the previous day's out window (the end of a night
    shift, or a very late check-out) counts for the previous day, unless today's in window has
    already opened. ``calendar`` must cover the day before ``local`` and its day.
    """
    assert local.tzinfo is not None
    tz = local.tzinfo if isinstance(local.tzinfo, ZoneInfo) else ZoneInfo(str(local.tzinfo))
    today = local.date()
    yesterday = today - timedelta(days=1)
    current = calendar.schedule(employee_id, agency_id, unit_id, today, tz)
    if current is not None and local >= current.in_opens:
        return today, current
    previous = calendar.schedule(employee_id, agency_id, unit_id, yesterday, tz)
    if previous is not None and previous.middle <= local < out_closes(previous, current):
        return yesterday, previous
    return today, current


async def working_day(
    db: Database, *, employee_id: int, agency_id: int, unit_id: int, local: datetime
) -> tuple[date, DaySchedule | None]:
    """``working_day_on`` with the calendar read for this one scan."""
    calendar = await load_calendar(
        db,
        agency_ids=[agency_id],
        employee_ids=[employee_id],
        start=local.date() - timedelta(days=1),
        end=local.date(),
    )
    return working_day_on(
        calendar, employee_id=employee_id, agency_id=agency_id, unit_id=unit_id, local=local
    )


# --- shifts and roster entries (admin operations) ---


def parse_hhmm(value: str, field: str) -> time:
    try:
        parsed = time.fromisoformat(value.strip())
    except (ValueError, AttributeError):
        raise ApiError("validation_failed", detail=f"{field}: expected HH:MM") from None
    return parsed.replace(second=0, microsecond=0)


async def create_shift(
    db: Database,
    *,
    agency_id: int,
    unit_id: int | None,
    code: str,
    name: str,
    start: time,
    end: time,
    actor: str,
) -> int:
    code, name = code.strip(), name.strip()
    if not code or len(code) > 16:
        raise ApiError("validation_failed", detail="code: 1–16 characters")
    if not name or len(name) > 100:
        raise ApiError("validation_failed", detail="name: 1–100 characters")
    if start == end:
        raise ApiError("validation_failed", detail="a shift must not start when it ends")
    shift_id: int = await db.fetch_val(
        shifts.insert()
        .values(
            agency_id=agency_id,
            unit_id=unit_id,
            code=code,
            name=name,
            start_time=start,
            end_time=end,
            created_at=utcnow(),
        )
        .returning(shifts.c.id)
    )
    await audit.record(
        db,
        actor=actor,
        action="shift.create",
        target=f"shift:{shift_id}",
        detail={"code": code, "start": start, "end": end},
    )
    return shift_id


async def set_roster(
    db: Database,
    *,
    employee_id: int,
    days: Iterable[date],
    shift_id: int | None,
    actor: str,
) -> int:
    """Put ``employee_id`` on ``shift_id`` (None: a day off) for each day; returns the count."""
    days = sorted(set(days))
    if not days:
        return 0
    if days[-1] - days[0] > timedelta(days=62):
        raise ApiError("validation_failed", detail="a roster change spans at most two months")
    person = await db.fetch_one(
        sa.select(employees.c.id, units.c.agency_id)
        .select_from(employees.join(units))
        .where(employees.c.id == employee_id)
    )
    if person is None:
        raise ApiError("not_found", detail="employee")
    if shift_id is not None:
        shift_agency = await db.fetch_val(
            sa.select(shifts.c.agency_id).where(shifts.c.id == shift_id)
        )
        if shift_agency != person["agency_id"]:
            raise ApiError("not_found", detail="shift")
    now = utcnow()
    async with db.transaction():
        # One upsert, not delete + insert: two admins rostering the same days at once end
        # with one entry per day (the later save), never a unique violation (PostgreSQL).
        upsert = dialect_insert(db, roster_entries).values(
            [
                {
                    "employee_id": employee_id,
                    "day": d,
                    "shift_id": shift_id,
                    "updated_by": actor,
                    "updated_at": now,
                }
                for d in days
            ]
        )
        await db.execute(
            upsert.on_conflict_do_update(
                index_elements=["employee_id", "day"],
                set_={
                    "shift_id": upsert.excluded.shift_id,
                    "updated_by": upsert.excluded.updated_by,
                    "updated_at": upsert.excluded.updated_at,
                },
            )
        )
        await audit.record(
            db,
            actor=actor,
            action="roster.set",
            target=f"employee:{employee_id}",
            detail={"days": [d.isoformat() for d in days], "shift_id": shift_id},
        )
    return len(days)


async def clear_roster(db: Database, *, employee_id: int, days: Iterable[date], actor: str) -> None:
    """Back to the weekday schedule on these days."""
    days = sorted(set(days))
    async with db.transaction():
        await db.execute(
            roster_entries.delete()
            .where(roster_entries.c.employee_id == employee_id)
            .where(roster_entries.c.day.in_(days))
        )
        await audit.record(
            db,
            actor=actor,
            action="roster.clear",
            target=f"employee:{employee_id}",
            detail={"days": [d.isoformat() for d in days]},
        )


# --- weekday work schedules (weekday hours, Friday hours, Ramadan hours for a date range) ---


async def add_work_rule(
    db: Database,
    *,
    agency_id: int,
    unit_id: int | None,
    weekdays: Iterable[int],
    start: time,
    end: time,
    name: str,
    actor: str,
    valid_from: date | None = None,
    valid_to: date | None = None,
) -> list[int]:
    """One rule per weekday (Monday = 0). A dated range (Ramadan hours) wins over open-ended
    rules on its days; a unit's own rule over the agency's (``backend.schedules.pick_rule``)."""
    days = sorted(set(weekdays))
    if not days or any(not 0 <= d <= 6 for d in days):
        raise ApiError("validation_failed", detail="weekdays: 0 (Monday) to 6")
    if start == end:
        raise ApiError("validation_failed", detail="the hours must not start when they end")
    if (valid_from is None) != (valid_to is None) or (
        valid_from and valid_to and valid_to < valid_from
    ):
        raise ApiError("validation_failed", detail="a dated rule needs a start and an end date")
    name = name.strip() or "Jam kerja"
    ids = []
    async with db.transaction():
        for weekday in days:
            ids.append(
                await db.fetch_val(
                    work_schedules.insert()
                    .values(
                        agency_id=agency_id,
                        unit_id=unit_id,
                        name=name[:100],
                        weekday=weekday,
                        start_time=start,
                        end_time=end,
                        valid_from=valid_from,
                        valid_to=valid_to,
                    )
                    .returning(work_schedules.c.id)
                )
            )
        await audit.record(
            db,
            actor=actor,
            action="schedule.add",
            target=f"unit:{unit_id}" if unit_id else f"agency:{agency_id}",
            detail={"ids": ids, "weekdays": days, "start": start, "end": end,
                    "from": valid_from, "to": valid_to},
        )  # fmt: skip
    return ids


async def remove_work_rule(db: Database, *, rule_id: int, agency_id: int, actor: str) -> None:
    """Remove an agency's (or its unit's) rule; the national default stays."""
    async with db.transaction():
        row = await db.fetch_one(
            work_schedules.select()
            .where(work_schedules.c.id == rule_id)
            .where(work_schedules.c.agency_id == agency_id)
        )
        if row is None:
            raise ApiError("not_found", detail="schedule")
        await db.execute(work_schedules.delete().where(work_schedules.c.id == rule_id))
        await audit.record(
            db, actor=actor, action="schedule.remove", target=f"agency:{agency_id}",
            detail={k: row[k] for k in ("id", "unit_id", "weekday", "start_time", "end_time",
                                        "valid_from", "valid_to")},
        )  # fmt: skip
