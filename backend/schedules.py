"""Work schedules, and whether a scan is a check-in or a check-out and how late it is.

Rules (all in the office's time zone, on whole minutes as a clock shows them):
- a scan before the middle of the working day counts as ``in``; late minutes are counted from
  the schedule's start: TL1 1–30, TL2 31–60, TL3 61–90, TL4 more than 90;
- a scan from the middle on counts as ``out``; leaving before the end is PSW1–PSW4 the same way;
- the day's ``in`` is the earliest scan from 3 hours before the start until the middle, its
  ``out`` the latest scan after the middle (recaps apply this; every scan is stored).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from databases import Database

from backend.db import work_schedules

IN_WINDOW_BEFORE_START = timedelta(hours=3)
DEFAULT_WEEK: tuple[tuple[int, time, time], ...] = (
    (0, time(7, 30), time(16, 0)),
    (1, time(7, 30), time(16, 0)),
    (2, time(7, 30), time(16, 0)),
    (3, time(7, 30), time(16, 0)),
    (4, time(7, 30), time(16, 30)),
)


@dataclass(frozen=True)
class DaySchedule:
    start: datetime  # aware, office time zone
    end: datetime

    @property
    def middle(self) -> datetime:
        return self.start + (self.end - self.start) / 2

    @property
    def in_opens(self) -> datetime:
        return self.start - IN_WINDOW_BEFORE_START


@dataclass(frozen=True)
class Classification:
    kind: str  # "in" or "out"
    late_minutes: int  # minutes late for "in", minutes early for "out"
    category: str | None  # TL1–TL4 / PSW1–PSW4 / None


def category_for(minutes: int, prefix: str) -> str | None:
    if minutes <= 0:
        return None
    if minutes <= 30:
        return f"{prefix}1"
    if minutes <= 60:
        return f"{prefix}2"
    if minutes <= 90:
        return f"{prefix}3"
    return f"{prefix}4"


def _whole_minutes(delta: timedelta) -> int:
    return int(delta.total_seconds() // 60)


def classify(at: datetime, schedule: DaySchedule | None, *, scanned_before: bool) -> Classification:
    """Decide in/out and lateness for a scan at local time ``at``.

    Without a schedule (weekend, holiday, no rule) nobody is late: the first scan of the day is
    ``in`` and later ones ``out``.
    """
    if schedule is None:
        return Classification("out" if scanned_before else "in", 0, None)
    shown = at.replace(second=0, microsecond=0)
    if at < schedule.middle:
        late = max(0, _whole_minutes(shown - schedule.start))
        return Classification("in", late, category_for(late, "TL"))
    early = max(0, _whole_minutes(schedule.end - shown))
    return Classification("out", early, category_for(early, "PSW"))


def pick_rule(rows: Sequence[Any], unit_id: int | None, day: date) -> Any | None:
    """The most specific rule: the unit's own over the agency's over the global one, and a dated
    range (Ramadan hours) over an open-ended schedule."""

    def applies(row: Any) -> bool:
        return (row["valid_from"] is None or row["valid_from"] <= day) and (
            row["valid_to"] is None or day <= row["valid_to"]
        )

    def rank(row: Any) -> tuple[int, int, int]:
        return (
            row["unit_id"] is not None and row["unit_id"] == unit_id,
            row["agency_id"] is not None,
            row["valid_from"] is not None or row["valid_to"] is not None,
        )

    candidates = [r for r in rows if applies(r)]
    return max(candidates, key=rank) if candidates else None


async def day_schedule(
    db: Database, *, agency_id: int, unit_id: int, day: date, tz: ZoneInfo
) -> DaySchedule | None:
    rows = await db.fetch_all(
        work_schedules.select()
        .where(work_schedules.c.weekday == day.weekday())
        .where(
            sa.or_(work_schedules.c.agency_id.is_(None), work_schedules.c.agency_id == agency_id)
        )
        .where(sa.or_(work_schedules.c.unit_id.is_(None), work_schedules.c.unit_id == unit_id))
    )
    rule = pick_rule(rows, unit_id, day)
    if rule is None:
        return None
    start = datetime.combine(day, rule["start_time"], tz)
    end = datetime.combine(day, rule["end_time"], tz)
    if end <= start:  # a night shift ends the next morning
        end += timedelta(days=1)
    return DaySchedule(start, end)


async def ensure_default_week(db: Database) -> None:
    """The national default (Mon–Thu 07:30–16:00, Fri 07:30–16:30) when no global rule exists."""
    existing = await db.fetch_val(
        sa.select(sa.func.count())
        .select_from(work_schedules)
        .where(work_schedules.c.agency_id.is_(None))
        .where(work_schedules.c.unit_id.is_(None))
    )
    if existing:
        return
    for weekday, start, end in DEFAULT_WEEK:
        await db.execute(
            work_schedules.insert().values(
                name="Jam kerja", weekday=weekday, start_time=start, end_time=end
            )
        )
