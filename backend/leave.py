"""Leave balances (cuti tahunan) and the working days a date range covers for one employee.

The rules are data, one per employment kind (``employees.kind``). The defaults for PNS follow
Peraturan BKN 24/2017: 12 working days a year; what is left over may be taken the next year up
to 18 days in all (the year's 12 included), or 24 after two whole years without annual leave.
Cuti bersama is a holiday in the agency's calendar, so it is not a working day and takes
nothing from the balance (Keppres 7/2021 onward). PPPK: 12 days, nothing carried over.

Days are counted in the employee's own working days: their roster, else the weekday schedule,
with the agency's active holidays left out. The years are walked from the year the employee was
added (Presensi knows nothing of leave taken before).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa

from backend.db import absences, employees, units
from backend.errors import ApiError
from backend.review import employee_timezone
from backend.rosters import load_calendar

ANNUAL = "cuti_tahunan"


@dataclass(frozen=True)
class AnnualRule:
    per_year: int
    carry_cap: int  # the most a year may hold with what is carried over; per_year: no carry
    long_unused_cap: int  # the most after ``long_unused_years`` whole years without leave
    long_unused_years: int = 2


# employees.kind -> its rule. Contract staff (non-ASN) get PPPK's until an agency says otherwise.
RULES: dict[str, AnnualRule] = {
    "asn": AnnualRule(per_year=12, carry_cap=18, long_unused_cap=24),
    "pppk": AnnualRule(per_year=12, carry_cap=12, long_unused_cap=12),
    "contract": AnnualRule(per_year=12, carry_cap=12, long_unused_cap=12),
}


@dataclass(frozen=True)
class Balance:
    year: int
    entitled: int
    used: int

    @property
    def remaining(self) -> int:
        return max(0, self.entitled - self.used)

    def as_json(self) -> dict[str, int]:
        return {"entitled": self.entitled, "used": self.used, "remaining": self.remaining}


def entitlements(rule: AnnualRule, first_year: int, used: dict[int, int], year: int) -> Balance:
    """The balance of ``year`` from the days used in each year since ``first_year``."""
    entitled = rule.per_year
    unused_run = 0  # whole years in a row without any annual leave, before the current one
    for y in range(first_year, year + 1):
        if y > first_year:
            left = max(0, entitled - used.get(y - 1, 0))
            unused_run = unused_run + 1 if used.get(y - 1, 0) == 0 else 0
            cap = rule.long_unused_cap if unused_run >= rule.long_unused_years else rule.carry_cap
            entitled = min(cap, rule.per_year + left)
        if y == year:
            return Balance(year, entitled, used.get(year, 0))
    return Balance(year, rule.per_year, used.get(year, 0))


async def _person(db: Any, employee_id: int) -> Any:
    row = await db.fetch_one(
        sa.select(
            employees.c.id,
            employees.c.kind,
            employees.c.unit_id,
            employees.c.created_at,
            units.c.agency_id,
        )
        .select_from(employees.join(units))
        .where(employees.c.id == employee_id)
    )
    if row is None:
        raise ApiError("not_found", detail="employee")
    return row


async def working_days(db: Any, employee_id: int, start: date, end: date) -> list[date]:
    """The dates from start to end on which ``employee_id`` has a schedule."""
    person = await _person(db, employee_id)
    tz = await employee_timezone(db, employee_id)
    calendar = await load_calendar(
        db, agency_ids=[person["agency_id"]], employee_ids=[employee_id], start=start, end=end
    )
    days = []
    day = start
    while day <= end:
        if calendar.schedule(employee_id, person["agency_id"], person["unit_id"], day, tz):
            days.append(day)
        day += timedelta(days=1)
    return days


async def used_by_year(
    db: Any, employee_id: int, first_year: int, last_year: int
) -> dict[int, int]:
    """Working days of active annual-leave entries, per calendar year."""
    start, end = date(first_year, 1, 1), date(last_year, 12, 31)
    rows = await db.fetch_all(
        sa.select(absences.c.start_date, absences.c.end_date)
        .where(absences.c.employee_id == employee_id, absences.c.kind == ANNUAL)
        .where(absences.c.cancelled_at.is_(None))
        .where(absences.c.start_date <= end, absences.c.end_date >= start)
    )
    covered: set[date] = set()
    for r in rows:
        day, last = max(r["start_date"], start), min(r["end_date"], end)
        while day <= last:
            covered.add(day)
            day += timedelta(days=1)
    if not covered:
        return {}
    worked = set(await working_days(db, employee_id, min(covered), max(covered)))
    used: dict[int, int] = {}
    for day in covered & worked:
        used[day.year] = used.get(day.year, 0) + 1
    return used


async def annual_balance(db: Any, employee_id: int, year: int) -> Balance:
    person = await _person(db, employee_id)
    rule = RULES.get(person["kind"], RULES["pppk"])
    created = person["created_at"]
    first_year = min(year, created.year if created is not None else year)
    used = await used_by_year(db, employee_id, first_year, year)
    return entitlements(rule, first_year, used, year)
