"""E-Activity: the daily activity diary, validated by the atasan langsung.

A working day's diary is a list of entries (start and end time, a description, an output quantity
and unit, optionally an SKP target). The phone saves it as a draft or submits it as a whole:

    draft ──submit──▶ submitted ──approve──▶ approved
      ▲                   │ └────reject───▶ rejected
      │                   └──────return──▶ returned ──submit──▶ submitted
      └─ (any save before submitting)

and an official whose echelon the agency does not validate (default II.a, II.b) goes straight
from submitting to ``accepted_auto``. Approved, rejected and accepted days are final.

Deadlines count working days (days with a schedule or rostered shift, in the office's zone): a
day can be submitted until ``ACTIVITY_DEADLINE_DAYS`` working days after it, a returned day as
many working days after its return; the supervisor has ``ACTIVITY_VALIDATION_DAYS`` working days
from the submission, then the day escalates to the supervisor's own supervisor (and it shows as
overdue on the unit operator's console).
"""

from __future__ import annotations

import math
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from databases import Database

from backend import audit, clock
from backend.db import (
    activity_days,
    activity_entries,
    agencies,
    employees,
    insert_or_lock,
    offices,
    skp_targets,
    units,
    utcnow,
)
from backend.errors import ApiError
from backend.organisation import approver_for, represented
from backend.rosters import Calendar, load_calendar
from backend.settings import Settings

DEFAULT_TZ = "Asia/Jakarta"
MAX_ENTRIES = 48
DESCRIPTION_MIN, DESCRIPTION_MAX = 10, 1000
UNIT_MAX = 50
MAX_QUANTITY = 1_000_000
BODY_LIMIT = 96 * 1024  # 48 entries of 1,000 characters (some multi-byte) and their fields
APPROVAL_PREFIX = "activity-"
# How far ahead the calendar is read to find the validation deadline's working day.
_LOOKAHEAD = timedelta(days=31)
_HHMM = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])$")


class Status(StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    APPROVED = "approved"
    RETURNED = "returned"
    REJECTED = "rejected"
    ACCEPTED_AUTO = "accepted_auto"


FINAL = frozenset({Status.APPROVED, Status.REJECTED, Status.ACCEPTED_AUTO})
VALIDATED = frozenset({Status.APPROVED, Status.ACCEPTED_AUTO})
DECISIONS = ("approve", "return", "reject")


@dataclass(frozen=True)
class EntryIn:
    start: time
    end: time
    description: str
    output_quantity: float
    output_unit: str
    target_id: str | None

    @property
    def minutes(self) -> int:
        return (self.end.hour * 60 + self.end.minute) - (self.start.hour * 60 + self.start.minute)


@dataclass(frozen=True)
class Person:
    """What the diary rules need to know about an employee."""

    id: int
    nip: str
    name: str
    agency_id: int
    unit_id: int
    echelon: str | None
    unvalidated: frozenset[str]
    tz: ZoneInfo

    @property
    def validated(self) -> bool:
        return self.echelon not in self.unvalidated

    def today(self) -> date:
        return clock.now().astimezone(self.tz).date()


# --- parsing -------------------------------------------------------------------------------------


def _hhmm(value: Any, field: str) -> time:
    if not isinstance(value, str) or not _HHMM.match(value):
        raise ApiError("invalid_request", detail=f"{field}: a time as HH:MM")
    return time(int(value[:2]), int(value[3:]))


def parse_entries(raw: Any) -> list[EntryIn]:
    """The entries of a PUT body, checked one by one and then against each other."""
    if not isinstance(raw, list):
        raise ApiError("invalid_request", detail="entries: a list")
    if len(raw) > MAX_ENTRIES:
        raise ApiError("invalid_request", detail=f"entries: at most {MAX_ENTRIES}")
    found = []
    for i, item in enumerate(raw):
        where = f"entries[{i}]"
        if not isinstance(item, dict):
            raise ApiError("invalid_request", detail=f"{where}: an object")
        unknown = set(item) - {
            "start",
            "end",
            "description",
            "output_quantity",
            "output_unit",
            "target_id",
        }
        if unknown:
            raise ApiError("invalid_request", detail=f"{where}: unknown fields {sorted(unknown)}")
        start = _hhmm(item.get("start"), f"{where}.start")
        end = _hhmm(item.get("end"), f"{where}.end")
        if end <= start:
            raise ApiError("activity_times_inverted", detail=f"{where}: end after start")
        description = item.get("description")
        if not isinstance(description, str):
            raise ApiError("activity_description_length", detail=f"{where}.description")
        description = description.strip()
        if not DESCRIPTION_MIN <= len(description) <= DESCRIPTION_MAX:
            raise ApiError("activity_description_length", detail=f"{where}.description")
        quantity = item.get("output_quantity")
        if (
            isinstance(quantity, bool)
            or not isinstance(quantity, int | float)
            or not math.isfinite(quantity)
            or not 0 < quantity <= MAX_QUANTITY
        ):
            raise ApiError("activity_quantity_invalid", detail=f"{where}.output_quantity")
        unit = item.get("output_unit")
        if not isinstance(unit, str) or not 0 < len(unit.strip()) <= UNIT_MAX:
            raise ApiError("activity_unit_invalid", detail=f"{where}.output_unit")
        target = item.get("target_id")
        if target is not None and (not isinstance(target, str) or not 0 < len(target) <= 64):
            raise ApiError("activity_unknown_target", detail=f"{where}.target_id")
        found.append(EntryIn(start, end, description, float(quantity), unit.strip(), target))
    ordered = sorted(found, key=lambda e: e.start)
    for before, after in pairwise(ordered):
        if after.start < before.end:
            raise ApiError(
                "activity_overlap",
                detail=f"{before.start:%H:%M}-{before.end:%H:%M} and "
                f"{after.start:%H:%M}-{after.end:%H:%M}",
            )
    return ordered


def parse_day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise ApiError("invalid_request", detail="date: YYYY-MM-DD") from exc


def parse_month(value: str | None) -> tuple[date, date]:
    match = re.match(r"^([0-9]{4})-(0[1-9]|1[0-2])$", value or "")
    if match is None:
        raise ApiError("invalid_request", detail="month: YYYY-MM")
    first = date(int(match[1]), int(match[2]), 1)
    following = date(first.year + (first.month == 12), first.month % 12 + 1, 1)
    return first, following - timedelta(days=1)


def approval_id(day_id: int) -> str:
    return f"{APPROVAL_PREFIX}{day_id}"


def parse_approval_id(value: str) -> int | None:
    """``activity-<n>`` -> n; None for anything else (e.g. a request's approval id)."""
    if not value.startswith(APPROVAL_PREFIX):
        return None
    digits = value[len(APPROVAL_PREFIX) :]
    if not digits.isascii() or not digits.isdigit() or len(digits) > 12 or digits[0] == "0":
        return None
    return int(digits)


def parse_echelons(text: str) -> frozenset[str]:
    return frozenset(e.strip() for e in text.split(",") if e.strip())


# --- who and when --------------------------------------------------------------------------------


async def person(conn: Any, employee_id: int) -> Person:
    row = await conn.fetch_one(
        sa.select(
            employees.c.id,
            employees.c.nip,
            employees.c.name,
            employees.c.unit_id,
            employees.c.echelon,
            units.c.agency_id,
            agencies.c.activity_unvalidated_echelons,
            offices.c.timezone,
        )
        .select_from(
            employees.join(units)
            .join(agencies, agencies.c.id == units.c.agency_id)
            .outerjoin(offices, offices.c.id == employees.c.office_id)
        )
        .where(employees.c.id == employee_id)
    )
    if row is None:
        raise ApiError("not_found")
    zone = row["timezone"]
    if zone is None:  # no office of their own: the unit's first office, else the default
        zone = await conn.fetch_val(
            sa.select(offices.c.timezone)
            .where(offices.c.unit_id == row["unit_id"])
            .order_by(offices.c.id)
            .limit(1)
        )
    return Person(
        row["id"],
        row["nip"],
        row["name"],
        row["agency_id"],
        row["unit_id"],
        row["echelon"],
        parse_echelons(row["activity_unvalidated_echelons"] or ""),
        ZoneInfo(zone or DEFAULT_TZ),
    )


def is_working_day(calendar: Calendar, who: Person, day: date) -> bool:
    return calendar.schedule(who.id, who.agency_id, who.unit_id, day, who.tz) is not None


def working_days_between(calendar: Calendar, who: Person, after: date, until: date) -> int:
    """Working days in (after, until]."""
    count, day = 0, after + timedelta(days=1)
    while day <= until:
        count += is_working_day(calendar, who, day)
        day += timedelta(days=1)
    return count


def nth_working_day_after(calendar: Calendar, who: Person, day: date, n: int, limit: date) -> date:
    """The ``n``-th working day after ``day`` (``day`` itself for n = 0); ``limit`` when the
    calendar runs out first."""
    current = day
    while n > 0 and current < limit:
        current += timedelta(days=1)
        n -= is_working_day(calendar, who, current)
    return current


async def _calendar(conn: Any, who: Person, start: date, end: date) -> Calendar:
    return await load_calendar(
        conn, agency_ids=[who.agency_id], employee_ids=[who.id], start=start, end=end
    )


async def target_ids(conn: Any, employee_id: int, year: int) -> set[str]:
    rows = await conn.fetch_all(
        sa.select(skp_targets.c.target_id).where(
            skp_targets.c.employee_id == employee_id, skp_targets.c.year == year
        )
    )
    return {r["target_id"] for r in rows}


# --- the phone's side ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Saved:
    day: date
    status: str
    minutes: int

    def as_json(self) -> dict[str, Any]:
        return {"date": self.day.isoformat(), "status": self.status, "minutes": self.minutes}


async def save_day(
    db: Database,
    settings: Settings,
    *,
    employee_id: int,
    day: date,
    entries: Sequence[EntryIn],
    submit: bool,
    claim: Callable[[Any], Awaitable[None]] | None = None,
) -> Saved:
    """Store the day's entries as a whole (a draft, or submitted); nothing is written when any
    rule refuses. ``claim`` (the request's nonce) runs first inside the write transaction."""
    who = await person(db, employee_id)
    today = who.today()
    if day > today:
        raise ApiError("activity_future_day")
    if submit and not entries:
        raise ApiError("activity_empty")
    calendar = await _calendar(db, who, day, today + _LOOKAHEAD)
    if not is_working_day(calendar, who, day):
        raise ApiError("activity_not_working_day")
    wanted = {e.target_id for e in entries if e.target_id is not None}
    if wanted:
        unknown = wanted - await target_ids(db, employee_id, day.year)
        if unknown:
            raise ApiError("activity_unknown_target", detail=", ".join(sorted(unknown)))
    late = working_days_between(calendar, who, day, today) > settings.activity_deadline_days
    minutes = sum(e.minutes for e in entries)
    now = utcnow()
    async with db.transaction():
        if claim is not None:
            await claim(db)
        created, row = await _lock_day(db, employee_id, day, now)
        status = Status(row["status"])
        if status in FINAL:
            raise ApiError("activity_locked", detail=status.value)
        if status is Status.SUBMITTED:
            raise ApiError("activity_awaiting_validation")
        if status is Status.RETURNED:
            late = row["resubmit_until"] is not None and today > row["resubmit_until"]
        if late:
            raise ApiError("activity_deadline_passed")
        values: dict[str, Any] = {"minutes": minutes, "updated_at": now}
        if submit:
            auto = not who.validated
            values |= {
                "status": (Status.ACCEPTED_AUTO if auto else Status.SUBMITTED).value,
                "submitted_at": now,
                "validation_due": nth_working_day_after(
                    calendar, who, today, settings.activity_validation_days, today + _LOOKAHEAD
                ),
                "approved_minutes": minutes if auto else None,
                "decided_at": now if auto else None,
                "decided_by": "auto" if auto else None,
            }
        await db.execute(
            activity_days.update().where(activity_days.c.id == row["id"]).values(values)
        )
        if not created:
            await db.execute(
                activity_entries.delete().where(activity_entries.c.activity_day_id == row["id"])
            )
        if entries:  # one statement for the whole day
            await db.execute(
                activity_entries.insert().values(
                    [
                        {
                            "activity_day_id": row["id"],
                            "position": i,
                            "start_time": e.start,
                            "end_time": e.end,
                            "description": e.description,
                            "output_quantity": e.output_quantity,
                            "output_unit": e.output_unit,
                            "target_id": e.target_id,
                        }
                        for i, e in enumerate(entries)
                    ]
                )
            )
        final = values.get("status", status.value)
    return Saved(day, final, minutes)


async def _lock_day(db: Database, employee_id: int, day: date, now: datetime) -> tuple[bool, Any]:
    return await insert_or_lock(
        db,
        activity_days,
        {"employee_id": employee_id, "day": day},
        {"status": Status.DRAFT.value, "minutes": 0, "updated_at": now},
    )


def _entry_json(row: Any) -> dict[str, Any]:
    quantity = row["output_quantity"]
    return {
        "start": row["start_time"].strftime("%H:%M"),
        "end": row["end_time"].strftime("%H:%M"),
        "description": row["description"],
        "output_quantity": int(quantity) if float(quantity).is_integer() else quantity,
        "output_unit": row["output_unit"],
        "target_id": row["target_id"],
    }


async def entries_of(conn: Any, day_ids: Sequence[int]) -> dict[int, list[dict[str, Any]]]:
    found: dict[int, list[dict[str, Any]]] = {i: [] for i in day_ids}
    if not day_ids:
        return found
    rows = await conn.fetch_all(
        sa.select(activity_entries)
        .where(activity_entries.c.activity_day_id.in_(list(day_ids)))
        .order_by(activity_entries.c.activity_day_id, activity_entries.c.position)
    )
    for r in rows:
        found[r["activity_day_id"]].append(_entry_json(r))
    return found


def day_json(row: Any, entries: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "date": row["day"].isoformat(),
        "status": row["status"],
        "minutes": row["minutes"],
        "approved_minutes": row["approved_minutes"],
        "note": row["note"],
        "entries": entries,
    }


async def month(conn: Any, employee_id: int, start: date, end: date) -> list[dict[str, Any]]:
    """The employee's diary days from start to end, oldest first, with their entries."""
    rows = await conn.fetch_all(
        sa.select(activity_days)
        .where(activity_days.c.employee_id == employee_id)
        .where(activity_days.c.day.between(start, end))
        .order_by(activity_days.c.day)
    )
    entries = await entries_of(conn, [r["id"] for r in rows])
    return [day_json(r, entries[r["id"]]) for r in rows]


# --- the supervisor's side -----------------------------------------------------------------------


async def list_activity_approvals(
    conn: Any, approver_employee_id: int, on: date
) -> list[dict[str, Any]]:
    """Submitted days ``approver_employee_id`` decides on ``on``: those of the staff they
    supervise (or act for as delegate), and those escalated to them from a supervisor below
    them whose validation deadline has passed. Oldest first."""
    bosses = await represented(conn, approver_employee_id, on)
    sup = sa.alias(employees, "sup")
    query = (
        sa.select(
            activity_days,
            employees.c.nip,
            employees.c.name,
            employees.c.supervisor_id,
            sup.c.supervisor_id.label("second_supervisor_id"),
        )
        .select_from(
            activity_days.join(employees, employees.c.id == activity_days.c.employee_id).outerjoin(
                sup, sup.c.id == employees.c.supervisor_id
            )
        )
        .where(activity_days.c.status == Status.SUBMITTED.value)
        .where(activity_days.c.employee_id != approver_employee_id)
        .where(
            sa.or_(
                employees.c.supervisor_id.in_(bosses),
                sa.and_(sup.c.supervisor_id.in_(bosses), activity_days.c.validation_due < on),
            )
        )
        .order_by(activity_days.c.day, activity_days.c.id)
    )
    rows = await conn.fetch_all(query)
    mine = []
    for r in rows:
        right = await _may_decide(conn, approver_employee_id, r, on)
        if right is not None:
            mine.append((r, right))
    entries = await entries_of(conn, [r["id"] for r, _ in mine])
    return [
        {
            "id": approval_id(r["id"]),
            "type": "activity",
            "employee": {"nip": r["nip"], "name": r["name"]},
            "date": r["day"].isoformat(),
            "minutes": r["minutes"],
            "submitted_at": r["submitted_at"].isoformat() if r["submitted_at"] else None,
            "validation_due": r["validation_due"].isoformat() if r["validation_due"] else None,
            "escalated": right == "escalated",
            "entries": entries[r["id"]],
        }
        for r, right in mine
    ]


async def _may_decide(conn: Any, approver_id: int, row: Any, on: date) -> str | None:
    """ "direct" when the approver is the employee's approver today, "escalated" when the day is
    overdue and the approver is the approver of the employee's approver; None otherwise."""
    first = await approver_for(conn, row["employee_id"], on)
    if first is not None and first.employee_id == approver_id:
        return "direct"
    due = row["validation_due"]
    if due is not None and on > due and row["supervisor_id"] is not None:
        above = await approver_for(conn, row["supervisor_id"], on)
        if above is not None and above.employee_id == approver_id:
            return "escalated"
    return None


@dataclass(frozen=True)
class Decision:
    decision: str
    note: str
    minutes: int | None


def parse_decision(data: Any) -> Decision:
    if not isinstance(data, dict):
        raise ApiError("invalid_request", detail="expected a JSON object")
    decision, note, minutes = data.get("decision"), data.get("note", ""), data.get("minutes")
    if decision not in DECISIONS:
        raise ApiError("invalid_request", detail="decision: approve, return or reject")
    if note is None:
        note = ""
    if not isinstance(note, str) or len(note) > 1000:
        raise ApiError("invalid_request", detail="note: text of at most 1,000 characters")
    if minutes is not None and (isinstance(minutes, bool) or not isinstance(minutes, int)):
        raise ApiError("activity_minutes_invalid")
    if minutes is not None and decision != "approve":
        raise ApiError("invalid_request", detail="minutes: only with approve")
    return Decision(decision, note.strip(), minutes)


async def decide_activity(
    db: Database,
    settings: Settings,
    *,
    day_id: int,
    decision: Decision,
    actor: str,
    approver_employee_id: int | None,
    on: date | None = None,
) -> dict[str, Any]:
    """Approve, return or reject a submitted day. ``approver_employee_id`` is checked against
    the supervisor chain; None means an admin whose scope the caller has checked."""
    async with db.transaction():
        row = await db.fetch_one(
            sa.select(activity_days, employees.c.supervisor_id)
            .select_from(activity_days.join(employees))
            .where(activity_days.c.id == day_id)
            .with_for_update(of=activity_days)
        )
        if row is None:
            raise ApiError("not_found")
        who = await person(db, row["employee_id"])
        today = on or who.today()
        if approver_employee_id is not None:
            if await _may_decide(db, approver_employee_id, row, today) is None:
                raise ApiError("activity_not_supervised")
        if row["status"] != Status.SUBMITTED.value:
            raise ApiError("activity_not_submitted", detail=row["status"])
        claimed = row["minutes"]
        accepted = claimed if decision.minutes is None else decision.minutes
        if decision.decision == "approve" and not 0 < accepted <= claimed:
            raise ApiError("activity_minutes_invalid", detail=f"1..{claimed}")
        needs_note = decision.decision != "approve" or accepted < claimed
        if needs_note and not decision.note:
            raise ApiError("activity_note_required")
        now = utcnow()
        values: dict[str, Any] = {
            "decided_at": now,
            "decided_by": actor,
            "note": decision.note,
            "updated_at": now,
        }
        if decision.decision == "approve":
            values |= {"status": Status.APPROVED.value, "approved_minutes": accepted}
        elif decision.decision == "reject":
            values |= {"status": Status.REJECTED.value, "approved_minutes": 0}
        else:
            calendar = await _calendar(db, who, today, today + _LOOKAHEAD)
            values |= {
                "status": Status.RETURNED.value,
                "approved_minutes": None,
                "resubmit_until": nth_working_day_after(
                    calendar, who, today, settings.activity_deadline_days, today + _LOOKAHEAD
                ),
            }
        await db.execute(activity_days.update().where(activity_days.c.id == day_id).values(values))
        await audit.record(
            db,
            actor=actor,
            action=f"activity.{decision.decision}",
            target=f"employee:{who.nip}",
            detail={"date": row["day"].isoformat(), "claimed": claimed, "minutes": accepted},
        )
    return {
        "id": approval_id(day_id),
        "type": "activity",
        "date": row["day"].isoformat(),
        "status": values["status"],
        "minutes": claimed if values["approved_minutes"] is None else values["approved_minutes"],
    }
