"""Review of pending scans and corrections: new entries with who, when and why.

A scan is never changed or deleted. Its status in the presence log is derived:

- ``pending_review`` until an admin decides; ``accepted`` once approved (the review is kept),
  ``rejected`` once rejected;
- ``corrected`` when a correction replaces it (the correction is its own entry in the log).

Only ``accepted`` scans and corrections count in recaps.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from databases import Database

from backend import audit, ledger
from backend.db import checkin_reviews, checkins, corrections, employees, offices, units, utcnow
from backend.errors import ApiError

DECISIONS = ("approved", "rejected")
STATUSES = ("accepted", "pending_review", "rejected", "corrected")


def effective_status(stored: str, decision: str | None, replaced: bool) -> str:
    if replaced:
        return "corrected"
    if decision == "rejected":
        return "rejected"
    if decision == "approved":
        return "accepted"
    return stored


def _reason(reason: str, required: bool) -> str:
    reason = reason.strip()
    if required and not reason:
        raise ApiError("validation_failed", detail="reason: required")
    if len(reason) > 500:
        raise ApiError("validation_failed", detail="reason: at most 500 characters")
    return reason


async def decide(db: Database, *, checkin_id: int, decision: str, reason: str, actor: str) -> None:
    """Approve or reject a scan waiting for review; a rejection needs a reason."""
    if decision not in DECISIONS:
        raise ApiError("validation_failed", detail="decision: approved or rejected")
    reason = _reason(reason, required=decision == "rejected")
    async with db.transaction():
        # FOR UPDATE (PostgreSQL): two admins deciding the same scan at once take turns, and
        # the second sees the first one's decision below (SQLite: BEGIN IMMEDIATE already).
        status = await db.fetch_val(
            sa.select(checkins.c.status).where(checkins.c.id == checkin_id).with_for_update()
        )
        if status is None:
            raise ApiError("not_found", detail="scan")
        if status != "pending_review":
            raise ApiError("not_pending_review")
        earlier = await db.fetch_val(
            sa.select(checkin_reviews.c.id).where(checkin_reviews.c.checkin_id == checkin_id)
        )
        if earlier is not None:
            raise ApiError("already_reviewed")
        review_id = await db.fetch_val(
            checkin_reviews.insert()
            .values(
                checkin_id=checkin_id, decision=decision, reason=reason, actor=actor, at=utcnow()
            )
            .returning(checkin_reviews.c.id)
        )
        await audit.record(
            db,
            actor=actor,
            action=f"checkin.{decision}",
            target=f"checkin:{checkin_id}",
            detail={"reason": reason},
        )
        await ledger.append(db, "checkin_review", [review_id])


async def employee_timezone(db: Database, employee_id: int) -> ZoneInfo:
    """The employee's office's zone, else their unit's first office's, else WIB."""
    row = await db.fetch_one(
        sa.select(employees.c.office_id, employees.c.unit_id).where(employees.c.id == employee_id)
    )
    if row is None:
        raise ApiError("not_found", detail="employee")
    name = None
    if row["office_id"] is not None:
        name = await db.fetch_val(
            sa.select(offices.c.timezone).where(offices.c.id == row["office_id"])
        )
    if name is None:
        name = await db.fetch_val(
            sa.select(offices.c.timezone)
            .where(offices.c.unit_id == row["unit_id"])
            .order_by(offices.c.id)
            .limit(1)
        )
    return ZoneInfo(name or "Asia/Jakarta")


async def correct(
    db: Database,
    *,
    employee_id: int,
    day: date,
    kind: str,
    at: time | datetime,
    reason: str,
    actor: str,
    replaces_checkin_id: int | None = None,
) -> int:
    """Add an ``in`` or ``out`` entry for working day ``day``.

    ``at`` is a clock time on ``day`` in the employee's zone, or a full ``datetime`` (a night
    shift's check-out the next morning). ``replaces_checkin_id`` takes that scan out of the recap
    (a scan on the wrong day, say) without changing it.
    """
    if kind not in ("in", "out"):
        raise ApiError("validation_failed", detail="kind: in or out")
    reason = _reason(reason, required=True)
    tz = await employee_timezone(db, employee_id)
    moment = datetime.combine(day, at, tz) if isinstance(at, time) else at
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    local = moment.astimezone(tz)
    if not day - timedelta(days=1) <= local.date() <= day + timedelta(days=1):
        raise ApiError("validation_failed", detail="at: must be within a day of the working day")
    async with db.transaction():
        if replaces_checkin_id is not None:
            owner = await db.fetch_val(
                sa.select(checkins.c.employee_id)
                .where(checkins.c.id == replaces_checkin_id)
                .with_for_update()  # one correction per scan, also when two race
            )
            if owner != employee_id:
                raise ApiError("not_found", detail="scan")
            taken = await db.fetch_val(
                sa.select(corrections.c.id).where(
                    corrections.c.replaces_checkin_id == replaces_checkin_id
                )
            )
            if taken is not None:
                raise ApiError("already_corrected")
        correction_id: int = await db.fetch_val(
            corrections.insert()
            .values(
                employee_id=employee_id,
                local_date=day,
                kind=kind,
                at=moment.astimezone(ZoneInfo("UTC")),
                replaces_checkin_id=replaces_checkin_id,
                reason=reason,
                actor=actor,
                created_at=utcnow(),
            )
            .returning(corrections.c.id)
        )
        await audit.record(
            db,
            actor=actor,
            action="checkin.correct",
            target=f"employee:{employee_id}",
            detail={
                "correction_id": correction_id,
                "day": day,
                "kind": kind,
                "at": local.isoformat(timespec="minutes"),
                "replaces": replaces_checkin_id,
                "reason": reason,
            },
        )
        await ledger.append(db, "correction", [correction_id])
    return correction_id


async def pending(db: Database, *, agency_id: int | None, unit_id: int | None = None) -> list[int]:
    """Ids of scans still waiting for a decision, oldest first."""
    query = (
        sa.select(checkins.c.id)
        .select_from(checkins.join(employees).join(units))
        .outerjoin(checkin_reviews, checkin_reviews.c.checkin_id == checkins.c.id)
        .where(checkins.c.status == "pending_review")
        .where(checkin_reviews.c.id.is_(None))
        .order_by(checkins.c.at)
    )
    if agency_id is not None:
        query = query.where(units.c.agency_id == agency_id)
    if unit_id is not None:
        query = query.where(employees.c.unit_id == unit_id)
    return [r[0] for r in await db.fetch_all(query)]
