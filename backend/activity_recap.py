"""The diary's part of the monthly recap: days submitted and approved, validated minutes against
the month's effective working minutes, and the TPP shortfall deduction.

Effective working minutes (Perpres 21/2023: 37.5 hours a week) are the scheduled minutes of
each day the employee was due (present, absent or still to come; days excused by an absence,
holidays and days off are out), minus the break: ``ACTIVITY_BREAK_MINUTES`` (60), on Fridays
``ACTIVITY_FRIDAY_BREAK_MINUTES`` (90). Validated minutes are those of approved days (as the
supervisor accepted them) and of days accepted automatically.

``activity_shortfall`` deducts its basis points once per full percentage point that the
validated share falls below the agency's ``activity_threshold`` (a TPP rule too, kept as a
percentage; 0 turns it off), named after the minutes behind it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa
from databases import Database

from backend.activities import VALIDATED, Status
from backend.db import activity_days
from backend.recaps import Day, EmployeeRecap, Recap

DUE = ("present", "absent", "upcoming")
FRIDAY = 4


@dataclass(frozen=True)
class ActivitySummary:
    submitted_days: int
    approved_days: int
    validated_minutes: int
    effective_minutes: int
    last_day: date

    @property
    def percent(self) -> float | None:
        """Validated over effective minutes, in percent with two decimals."""
        if not self.effective_minutes:
            return None
        return round(100 * self.validated_minutes / self.effective_minutes, 2)

    def points_below(self, threshold_bp: int) -> int:
        """Full percentage points below ``threshold_bp`` (basis points: 8000 = 80 %), exactly."""
        if threshold_bp <= 0 or not self.effective_minutes:
            return 0
        deficit = threshold_bp * self.effective_minutes - 10_000 * self.validated_minutes
        return max(0, deficit // (100 * self.effective_minutes))

    @property
    def ref(self) -> str:
        return f"activity:{self.validated_minutes}/{self.effective_minutes}min"


def day_minutes(day: Day, breaks: tuple[int, int]) -> int:
    """A due day's effective working minutes; 0 for a day off or an excused one."""
    if day.schedule is None or day.status not in DUE:
        return 0
    length = int((day.schedule.end - day.schedule.start).total_seconds() // 60)
    rest = breaks[1] if day.day.weekday() == FRIDAY else breaks[0]
    return max(0, length - rest)


async def attach(db: Database, recap: Recap, breaks: tuple[int, int]) -> None:
    """Give each employee of the recap their ``activity`` summary for the recap's period."""
    ids = [e.employee_id for e in recap.employees]
    tally: dict[int, list[int]] = {i: [0, 0, 0] for i in ids}
    if ids:
        rows = await db.fetch_all(
            sa.select(
                activity_days.c.employee_id,
                activity_days.c.status,
                sa.func.count().label("days"),
                sa.func.coalesce(sa.func.sum(activity_days.c.approved_minutes), 0).label("mins"),
            )
            .where(activity_days.c.day.between(recap.start, recap.end))
            .where(activity_days.c.employee_id.in_(ids))
            .where(activity_days.c.status != Status.DRAFT.value)
            .group_by(activity_days.c.employee_id, activity_days.c.status)
        )
        for r in rows:
            counts = tally[r["employee_id"]]
            counts[0] += r["days"]
            if r["status"] in VALIDATED:
                counts[1] += r["days"]
                counts[2] += int(r["mins"])
    for emp in recap.employees:
        submitted, approved, minutes = tally[emp.employee_id]
        effective = sum(day_minutes(d, breaks) for d in emp.days)
        emp.activity = ActivitySummary(submitted, approved, minutes, effective, recap.end)


def summary_of(emp: EmployeeRecap) -> ActivitySummary | None:
    summary = emp.activity
    return summary if isinstance(summary, ActivitySummary) else None
