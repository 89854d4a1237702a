"""PP 94/2021 discipline: working days absent without a valid reason, per calendar year.

A day counts when the recap engine (``backend.recaps``) finds it ``absent``: it was a working
day of the employee (weekday schedule or rostered shift, not a holiday), no absence entry
covers it (an approved request is one), and no counted scan or correction falls in its windows
(reviews and corrections included). So the count is the recap's own, day by day, and the TPP
table's ``absent`` deductions are the same days. Days before the employee or the agency was
added to Presensi are not counted: nobody could scan then.

Counting a year for a whole agency runs the recap month by month, which takes a while for
thousands of staff, so it is a pass (``presensi discipline``, daily from a timer) that stores
the absent days (``discipline_days``) and records each level the day it is first seen
(``discipline_events``, the supervisor's inbox item). The report reads what the last pass
stored and says when that was.

The thresholds are data (``discipline_levels``): the defaults of PP 94/2021, or an agency's own
rows. A level is reached on the day of the absence that takes the count to its ``min_days``;
a ``consecutive`` rule on the day the streak of absent working days reaches it (a present or
excused working day ends a streak; weekends and holidays do not).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from databases import Database

from backend import organisation, recaps
from backend.db import (
    agencies,
    discipline_counts,
    discipline_days,
    discipline_events,
    discipline_levels,
    employees,
    insert_or_lock,
    units,
    utcnow,
)

TZ = ZoneInfo(recaps.DEFAULT_TZ)
BATCH = 500


@dataclass(frozen=True)
class Level:
    code: str
    min_days: int
    consecutive: bool
    severity: int
    sanction: str


@dataclass(frozen=True)
class Reached:
    level: Level
    on: date
    days: int  # the year's count on that day


@dataclass
class Standing:
    """One employee's year: the absent days, the longest streak, every level reached."""

    employee_id: int
    days: list[date] = field(default_factory=list)
    longest_run: int = 0
    reached: list[Reached] = field(default_factory=list)

    @property
    def level(self) -> Reached | None:
        """The heaviest level reached; of equal ones, the earliest."""
        if not self.reached:
            return None
        return min(self.reached, key=lambda r: (-r.level.severity, r.on))


# PP 94/2021 (Pasal 9-11), as migration 0012 seeds them into ``discipline_levels``; used as they
# are when that table holds no defaults at all.
DEFAULT_LEVELS = (
    Level("teguran_lisan", 3, False, 1, "Teguran lisan"),
    Level("teguran_tertulis", 4, False, 2, "Teguran tertulis"),
    Level("pernyataan_tidak_puas", 7, False, 3, "Pernyataan tidak puas secara tertulis"),
    Level("tukin_25_6", 11, False, 4, "Pemotongan tunjangan kinerja 25% selama 6 bulan"),
    Level("tukin_25_9", 14, False, 5, "Pemotongan tunjangan kinerja 25% selama 9 bulan"),
    Level("tukin_25_12", 17, False, 6, "Pemotongan tunjangan kinerja 25% selama 12 bulan"),
    Level(
        "penurunan_jabatan",
        21,
        False,
        7,
        "Penurunan jabatan setingkat lebih rendah selama 12 bulan",
    ),
    Level(
        "pembebasan_jabatan",
        25,
        False,
        8,
        "Pembebasan dari jabatannya menjadi jabatan pelaksana selama 12 bulan",
    ),
    Level(
        "pemberhentian", 28, False, 9, "Pemberhentian dengan hormat tidak atas permintaan sendiri"
    ),
    Level(
        "pemberhentian_berturut",
        10,
        True,
        9,
        "Pemberhentian dengan hormat tidak atas permintaan sendiri (10 hari kerja berturut-turut)",
    ),
)


async def levels_for(db: Any, agency_id: int | None) -> list[Level]:
    """The agency's own thresholds when it has any, else the defaults, lightest first."""
    query = sa.select(discipline_levels).order_by(
        discipline_levels.c.severity, discipline_levels.c.min_days
    )
    rows = []
    if agency_id is not None:
        rows = await db.fetch_all(query.where(discipline_levels.c.agency_id == agency_id))
    if not rows:
        rows = await db.fetch_all(query.where(discipline_levels.c.agency_id.is_(None)))
    if not rows:
        return list(DEFAULT_LEVELS)
    return [
        Level(r["code"], r["min_days"], bool(r["consecutive"]), r["severity"], r["sanction"])
        for r in rows
    ]


def standing(
    employee_id: int, days: Sequence[tuple[date, int]], levels: Iterable[Level]
) -> Standing:
    """The levels reached by the absent ``days`` (each with its streak length), in date order."""
    ordered = sorted(days)
    result = Standing(employee_id, [d for d, _ in ordered])
    result.longest_run = longest = max((run for _, run in ordered), default=0)
    count = len(ordered)
    for level in levels:
        if level.consecutive:
            if longest >= level.min_days:  # else no day can reach it: skip the walk
                i = next(i for i, (_d, run) in enumerate(ordered) if run >= level.min_days)
                result.reached.append(Reached(level, ordered[i][0], i + 1))
        elif 1 <= level.min_days <= count:
            result.reached.append(Reached(level, ordered[level.min_days - 1][0], level.min_days))
    return result


# -- counting ---------------------------------------------------------------------------------


def _local_date(value: datetime | None) -> date | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(TZ).date()


async def absent_days(
    db: Database, agency_id: int, year: int, now: datetime
) -> tuple[dict[int, list[tuple[date, int]]], date]:
    """employee -> [(day, streak length)] of the year through today, and the last day
    counted. Month by month through the recap engine, keeping each streak across months."""
    first, last = date(year, 1, 1), date(year, 12, 31)
    today = now.astimezone(TZ).date()
    through = min(last, today)
    found: dict[int, list[tuple[date, int]]] = {}
    if through < first:
        return found, through
    agency_start = _local_date(
        await db.fetch_val(sa.select(agencies.c.created_at).where(agencies.c.id == agency_id))
    )
    starts = {
        r["id"]: _local_date(r["created_at"])
        for r in await db.fetch_all(
            sa.select(employees.c.id, employees.c.created_at)
            .select_from(employees.join(units))
            .where(units.c.agency_id == agency_id)
        )
    }
    runs: dict[int, int] = {}
    for month in range(1, through.month + 1):
        start, end = recaps.month_bounds(year, month)
        end = min(end, through)
        recap = await recaps.compute(db, agency_id=agency_id, start=start, end=end, now=now)
        for emp in recap.employees:
            since = max(d for d in (starts.get(emp.employee_id), agency_start, first) if d)
            run = runs.get(emp.employee_id, 0)
            for day in emp.days:
                if day.schedule is None or day.day < since:
                    continue  # not a working day (or before they were in Presensi)
                if day.status == "absent":
                    run += 1
                    found.setdefault(emp.employee_id, []).append((day.day, run))
                elif day.status != "upcoming":
                    run = 0
            runs[emp.employee_id] = run
    return found, through


async def count(db: Database, agency_id: int, year: int, now: datetime | None = None) -> int:
    """Count the agency's year and store it; record the levels reached for the first time.
    Returns how many new levels were recorded."""
    now = now or utcnow()
    found, through = await absent_days(db, agency_id, year, now)
    levels = await levels_for(db, agency_id)
    in_agency = sa.select(employees.c.id).join(units).where(units.c.agency_id == agency_id)
    first, last = date(year, 1, 1), date(year, 12, 31)
    async with db.transaction():
        await _claim_count(db, agency_id, year, through, now)
        await db.execute(
            discipline_days.delete()
            .where(discipline_days.c.employee_id.in_(in_agency))
            .where(discipline_days.c.day.between(first, last))
        )
        rows = [
            {"employee_id": emp, "day": d, "run": run}
            for emp, days in found.items()
            for d, run in days
        ]
        for start in range(0, len(rows), BATCH):
            await db.execute_many(discipline_days.insert(), rows[start : start + BATCH])
        return await _record_events(db, agency_id, year, found, levels, now)


async def _claim_count(
    db: Database, agency_id: int, year: int, through: date, now: datetime
) -> None:
    """First in the pass's write transaction: the agency-year's row, locked (PostgreSQL), so
    two passes of the same year take turns instead of colliding on the rows they replace."""
    key = {"agency_id": agency_id, "year": year}
    created, _row = await insert_or_lock(
        db, discipline_counts, key, {"through": through, "counted_at": now}
    )
    if not created:
        await db.execute(
            discipline_counts.update()
            .where(discipline_counts.c.agency_id == agency_id, discipline_counts.c.year == year)
            .values(through=through, counted_at=now)
        )


async def _record_events(
    db: Database,
    agency_id: int,
    year: int,
    found: Mapping[int, list[tuple[date, int]]],
    levels: list[Level],
    now: datetime,
) -> int:
    events = discipline_events.c
    existing = {
        (r["employee_id"], r["level_code"]): r
        for r in await db.fetch_all(
            sa.select(discipline_events)
            .select_from(discipline_events.join(employees, employees.c.id == events.employee_id))
            .join(units, units.c.id == employees.c.unit_id)
            .where(units.c.agency_id == agency_id, events.year == year)
        )
    }
    supervisors = {
        r["id"]: r["supervisor_id"]
        for r in await db.fetch_all(
            sa.select(employees.c.id, employees.c.supervisor_id)
            .join(units)
            .where(units.c.agency_id == agency_id)
        )
    }
    reached_now: set[tuple[int, str]] = set()
    new: list[dict[str, Any]] = []
    for employee_id, days in found.items():
        for hit in standing(employee_id, days, levels).reached:
            key = (employee_id, hit.level.code)
            reached_now.add(key)
            old = existing.get(key)
            values = {
                "severity": hit.level.severity,
                "sanction": hit.level.sanction,
                "reached_on": hit.on,
                "days": hit.days,
            }
            if old is None:
                new.append(
                    {
                        "employee_id": employee_id,
                        "year": year,
                        "level_code": hit.level.code,
                        "supervisor_id": supervisors.get(employee_id),
                        "recorded_at": now,
                        **values,
                    }
                )
            elif old["withdrawn_at"] is not None:  # reached again after being withdrawn
                await db.execute(
                    discipline_events.update()
                    .where(events.id == old["id"])
                    .values(withdrawn_at=None, recorded_at=now, **values)
                )
    for start in range(0, len(new), BATCH):
        await db.execute_many(discipline_events.insert(), new[start : start + BATCH])
    gone = [
        r["id"]
        for key, r in existing.items()
        if key not in reached_now and r["withdrawn_at"] is None
    ]
    for start in range(0, len(gone), BATCH):
        await db.execute(
            discipline_events.update()
            .where(events.id.in_(gone[start : start + BATCH]))
            .values(withdrawn_at=now)
        )
    return len(new)


async def count_all(
    db: Database, year: int | None = None, now: datetime | None = None
) -> dict[int, int]:
    """Every agency's year (default: this year): agency id -> new levels recorded."""
    now = now or utcnow()
    year = year or now.astimezone(TZ).year
    ids = [r["id"] for r in await db.fetch_all(sa.select(agencies.c.id).order_by(agencies.c.id))]
    return {agency_id: await count(db, agency_id, year, now) for agency_id in ids}


# -- reading ----------------------------------------------------------------------------------


@dataclass
class ReportRow:
    employee_id: int
    nip: str
    name: str
    unit: str
    supervisor_nip: str | None
    supervisor_name: str | None
    standing: Standing


@dataclass
class Report:
    year: int
    levels: list[Level]
    rows: list[ReportRow]
    through: date | None
    counted_at: datetime | None


async def report(
    db: Database, agency_id: int, year: int, where: Any = None, employee_id: int | None = None
) -> Report:
    """Everyone in ``where`` (a scope clause on employees) with at least one counted day,
    heaviest level first, from what the last count stored."""
    levels = await levels_for(db, agency_id)
    first, last = date(year, 1, 1), date(year, 12, 31)
    mine = sa.and_(
        units.c.agency_id == agency_id,
        sa.true() if where is None else where,
        sa.true() if employee_id is None else employees.c.id == employee_id,
    )
    # Plain driver rows: a year of 20,000 staff is tens of thousands of days.
    days_query = (
        sa.select(discipline_days.c.employee_id, discipline_days.c.day, discipline_days.c.run)
        .select_from(
            discipline_days.join(employees, employees.c.id == discipline_days.c.employee_id).join(
                units, units.c.id == employees.c.unit_id
            )
        )
        .where(mine, discipline_days.c.day.between(first, last))
        .order_by(discipline_days.c.employee_id, discipline_days.c.day)
    )
    found: dict[int, list[tuple[date, int]]] = {}
    parse = date.fromisoformat
    for emp, day, run in await recaps._rows(db, days_query):
        found.setdefault(emp, []).append((day if isinstance(day, date) else parse(day), run))
    boss = sa.alias(employees, "boss")
    people_query = (
        sa.select(
            employees.c.id,
            employees.c.nip,
            employees.c.name,
            units.c.name,
            boss.c.nip,
            boss.c.name,
        )
        .select_from(
            employees.join(units, units.c.id == employees.c.unit_id).outerjoin(
                boss, boss.c.id == employees.c.supervisor_id
            )
        )
        .where(
            mine,
            employees.c.id.in_(
                sa.select(discipline_days.c.employee_id).where(
                    discipline_days.c.day.between(first, last)
                )
            ),
        )
    )
    rows = [
        ReportRow(emp, nip, name, unit, boss_nip, boss_name, standing(emp, found[emp], levels))
        for emp, nip, name, unit, boss_nip, boss_name in await recaps._rows(db, people_query)
        if emp in found
    ]
    rows.sort(
        key=lambda r: (
            -(r.standing.level.level.severity if r.standing.level else 0),
            -len(r.standing.days),
            r.name,
        )
    )
    counted = await db.fetch_one(
        sa.select(discipline_counts).where(
            discipline_counts.c.agency_id == agency_id, discipline_counts.c.year == year
        )
    )
    return Report(
        year,
        levels,
        rows,
        counted["through"] if counted else None,
        counted["counted_at"] if counted else None,
    )


def row_view(row: ReportRow) -> dict[str, Any]:
    """One employee of the report as JSON (the admin API)."""
    level = row.standing.level
    return {
        "nip": row.nip,
        "name": row.name,
        "unit": row.unit,
        "supervisor": {"nip": row.supervisor_nip, "name": row.supervisor_name}
        if row.supervisor_nip
        else None,
        "days": len(row.standing.days),
        "longest_run": row.standing.longest_run,
        "level": level.level.code if level else None,
        "sanction": level.level.sanction if level else None,
        "since": level.on.isoformat() if level else None,
        "reached": [
            {"level": r.level.code, "on": r.on.isoformat(), "days": r.days}
            for r in sorted(row.standing.reached, key=lambda r: (r.on, r.level.severity))
        ],
        "dates": [d.isoformat() for d in row.standing.days],
    }


def level_view(level: Level) -> dict[str, Any]:
    return {
        "code": level.code,
        "min_days": level.min_days,
        "consecutive": level.consecutive,
        "severity": level.severity,
        "sanction": level.sanction,
    }


async def inbox_items(conn: Any, supervisor_employee_id: int) -> list[dict[str, Any]]:
    """Discipline levels reached this year by the staff ``supervisor_employee_id`` answers for
    today (their own subordinates and those of anyone they act for), newest first. Withdrawn
    levels are left out. For the supervisor's inbox (phone and console)."""
    now = utcnow()
    today = now.astimezone(TZ).date()
    bosses = await organisation.represented(conn, supervisor_employee_id, today)
    events = discipline_events.c
    rows = await conn.fetch_all(
        sa.select(
            events.id,
            events.year,
            events.level_code,
            events.severity,
            events.sanction,
            events.reached_on,
            events.days,
            events.recorded_at,
            employees.c.id.label("employee_id"),
            employees.c.nip,
            employees.c.name,
        )
        .select_from(discipline_events.join(employees, employees.c.id == events.employee_id))
        .where(employees.c.supervisor_id.in_(bosses))
        .where(employees.c.id != supervisor_employee_id)
        .where(events.year == today.year, events.withdrawn_at.is_(None))
        .order_by(events.recorded_at.desc(), events.severity.desc(), events.id.desc())
    )

    def iso(value: Any) -> str:
        return value.isoformat() if hasattr(value, "isoformat") else str(value)

    return [
        {
            "kind": "discipline_level",
            "id": f"discipline:{r['id']}",
            "event_id": r["id"],
            "employee": {"nip": r["nip"], "name": r["name"]},
            "year": r["year"],
            "level": r["level_code"],
            "severity": r["severity"],
            "sanction": r["sanction"],
            "reached_on": iso(r["reached_on"]),
            "days": r["days"],
            "at": iso(r["recorded_at"]),
        }
        for r in rows
    ]


def year_of(now: datetime) -> int:
    """The calendar year ``now`` falls in, in the agencies' default zone."""
    return now.astimezone(TZ).year
