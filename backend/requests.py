"""Requests from the phone: corrections of a scan and absences, decided by the atasan langsung.

A request is *held* by one supervisor (``holder_id``), who decides it themself or through a
delegate acting for them that day (backend/organisation.py). Staff without a supervisor go to
their unit's operators (``holder_id`` NULL). A request undecided for ``REQUEST_ESCALATE_DAYS``
of the employee's working days moves up to the holder's own supervisor, and from then on the
unit's operators may decide it too; every hand-over is a row of ``request_events``.

Operators of the employee's unit (and agency admins) may always decide a pending request: they
could have entered the same absence or correction themselves. An approved request becomes
exactly what an operator enters (``backend.absences.add`` or ``backend.review.correct``), in
the same transaction, naming the request and who approved it; a rejected one changes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from backend import absences as absence_entries
from backend import audit, leave, organisation, recaps, review
from backend.db import (
    absences,
    admin_users,
    as_utc,
    attachments,
    employees,
    request_events,
    staff_requests,
    units,
    utcnow,
)
from backend.errors import ApiError

log = logging.getLogger("presensi.requests")

KINDS = ("correction", "absence")
STATUSES = ("pending", "approved", "rejected", "cancelled")
DECISIONS = {"approve": "approved", "reject": "rejected"}
MAX_RANGE_DAYS = 60
NEEDS_ATTACHMENT = ("sakit",)
NEEDS_REFERENCE = ("dl", "dd")  # the assignment letter's number
MAX_REASON = 500
MAX_REFERENCE = 100


@dataclass(frozen=True)
class Decider:
    """Who decides: an employee from the phone, or an admin principal (operator)."""

    actor: str  # how the audit log and the effect name them
    employee_id: int | None = None  # a supervisor or delegate
    operator_scope: Any = None  # an SQL clause on employees: the operator's scope


def _text(data: dict[str, Any], name: str, limit: int, *, required: bool) -> str:
    value = data.get(name, "")
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise ApiError("validation_failed", detail=f"{name}: a string")
    value = value.strip()
    if required and not value:
        raise ApiError("validation_failed", detail=f"{name}: required")
    if len(value) > limit:
        raise ApiError("validation_failed", detail=f"{name}: at most {limit} characters")
    return value


def _date(data: dict[str, Any], name: str) -> date:
    value = data.get(name)
    try:
        if not isinstance(value, str) or len(value) != 10:
            raise ValueError
        return date.fromisoformat(value)
    except ValueError:
        raise ApiError("validation_failed", detail=f"{name}: a date, YYYY-MM-DD") from None


def _moment(data: dict[str, Any]) -> datetime:
    value = data.get("at")
    try:
        if not isinstance(value, str) or len(value) > 40:
            raise ValueError
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ApiError("validation_failed", detail="at: ISO 8601 with an offset") from None
    if moment.tzinfo is None:
        raise ApiError("validation_failed", detail="at: ISO 8601 with an offset")
    return moment


async def _employee(db: Any, employee_id: int) -> Any:
    row = await db.fetch_one(
        sa.select(
            employees.c.id,
            employees.c.nip,
            employees.c.name,
            employees.c.unit_id,
            employees.c.supervisor_id,
            units.c.agency_id,
            units.c.name.label("unit_name"),
        )
        .select_from(employees.join(units))
        .where(employees.c.id == employee_id)
    )
    if row is None:
        raise ApiError("not_found", detail="employee")
    return row


async def today_of(db: Any, employee_id: int) -> date:
    tz = await review.employee_timezone(db, employee_id)
    return utcnow().astimezone(tz).date()


async def _has_operator(db: Any, person: Any) -> bool:
    found = await db.fetch_val(
        sa.select(admin_users.c.id)
        .where(admin_users.c.active.is_(True))
        .where(
            sa.or_(
                sa.and_(
                    admin_users.c.role == "unit_operator",
                    admin_users.c.unit_id == person["unit_id"],
                ),
                sa.and_(
                    admin_users.c.role == "agency_admin",
                    admin_users.c.agency_id == person["agency_id"],
                ),
                admin_users.c.role == "super_admin",
            )
        )
        .limit(1)
    )
    return found is not None


async def _check_correction(db: Any, person: Any, data: dict[str, Any]) -> dict[str, Any]:
    day = _date(data, "date")
    scan = data.get("scan")
    if not isinstance(scan, str) or scan not in ("in", "out"):
        raise ApiError("validation_failed", detail="scan: in or out")
    moment = _moment(data)
    if moment > utcnow():
        raise ApiError("correction_in_future")
    tz = await review.employee_timezone(db, person["id"])
    if not day - timedelta(days=1) <= moment.astimezone(tz).date() <= day + timedelta(days=1):
        raise ApiError("validation_failed", detail="at: within a day of the date")
    if not await leave.working_days(db, person["id"], day, day):
        raise ApiError("not_a_working_day")
    recap = await recaps.compute(
        db,
        agency_id=person["agency_id"],
        start=day,
        end=day,
        now=utcnow(),
        employee_id=person["id"],
    )
    if recap.employees:
        found = recap.employees[0].days[0]
        if (found.first_in if scan == "in" else found.last_out) is not None:
            raise ApiError("scan_exists")
    return {
        "kind": "correction",
        "start_date": day,
        "end_date": day,
        "scan": scan,
        "at": moment.astimezone(ZoneInfo("UTC")),
        "days": 1,
    }


async def _check_absence(db: Any, person: Any, data: dict[str, Any]) -> dict[str, Any]:
    kind = data.get("absence")
    if not isinstance(kind, str) or kind not in absence_entries.KINDS:
        raise ApiError(
            "validation_failed", detail=f"absence: one of {', '.join(absence_entries.KINDS)}"
        )
    start, end = _date(data, "start_date"), _date(data, "end_date")
    if end < start:
        raise ApiError("validation_failed", detail="end_date: on or after start_date")
    if (end - start).days >= MAX_RANGE_DAYS:
        raise ApiError("range_too_long")
    reference = _text(data, "reference", MAX_REFERENCE, required=False)
    attachment_id = data.get("attachment_id")
    if attachment_id is not None:
        if not isinstance(attachment_id, str) or len(attachment_id) > 32:
            raise ApiError("validation_failed", detail="attachment_id: a string")
        owner = await db.fetch_val(
            sa.select(attachments.c.employee_id).where(attachments.c.id == attachment_id)
        )
        if owner != person["id"]:
            raise ApiError("unknown_attachment")
    if kind in NEEDS_ATTACHMENT and attachment_id is None:
        raise ApiError("attachment_required")
    if kind in NEEDS_REFERENCE and not reference:
        raise ApiError("reference_required")
    worked = await leave.working_days(db, person["id"], start, end)
    if not worked:
        raise ApiError("not_a_working_day")
    clash = await db.fetch_val(
        sa.select(absences.c.id)
        .where(absences.c.employee_id == person["id"], absences.c.cancelled_at.is_(None))
        .where(absences.c.start_date <= end, absences.c.end_date >= start)
        .limit(1)
    )
    if clash is not None:
        raise ApiError("absence_overlaps")
    if kind == leave.ANNUAL:
        await _check_balance(db, person["id"], worked)
    return {
        "kind": "absence",
        "absence_kind": kind,
        "start_date": start,
        "end_date": end,
        "reference": reference,
        "attachment_id": attachment_id,
        "days": len(worked),
    }


async def _check_balance(db: Any, employee_id: int, worked: list[date]) -> None:
    """Each year's days must fit that year's balance, less what is pending already."""
    for year in sorted({d.year for d in worked}):
        wanted = sum(1 for d in worked if d.year == year)
        balance = await leave.annual_balance(db, employee_id, year)
        pending = await db.fetch_all(
            sa.select(staff_requests.c.start_date, staff_requests.c.end_date).where(
                staff_requests.c.employee_id == employee_id,
                staff_requests.c.status == "pending",
                staff_requests.c.absence_kind == leave.ANNUAL,
                staff_requests.c.start_date <= date(year, 12, 31),
                staff_requests.c.end_date >= date(year, 1, 1),
            )
        )
        held = 0
        for r in pending:
            days = await leave.working_days(
                db,
                employee_id,
                max(r["start_date"], date(year, 1, 1)),
                min(r["end_date"], date(year, 12, 31)),
            )
            held += len(days)
        if wanted > balance.remaining - held:
            raise ApiError(
                "insufficient_leave_balance",
                detail=f"{year}: {max(0, balance.remaining - held)} of {wanted} days left",
            )


async def decider_view(db: Any, holder_id: int | None, person: Any, on: date) -> dict[str, Any]:
    """Who decides a request held by ``holder_id`` on ``on``, as the phone shows it."""
    if holder_id is not None:
        acting = await organisation.delegate_for(db, holder_id, on)
        if acting is not None and acting.employee_id != person["id"]:
            return {"nip": acting.nip, "name": acting.name, "acting_for": holder_id}
        row = await db.fetch_one(
            sa.select(employees.c.nip, employees.c.name).where(employees.c.id == holder_id)
        )
        if row is not None:
            return {"nip": row["nip"], "name": row["name"]}
    return {"nip": None, "name": f"Operator {person['unit_name']}", "operator": True}


async def _event(
    db: Any, request_id: int, action: str, actor: str, holder: int | None, note: str = ""
) -> None:
    await db.execute(
        request_events.insert().values(
            request_id=request_id,
            at=utcnow(),
            action=action,
            actor=actor,
            holder_id=holder,
            note=note,
        )
    )


async def submit(db: Any, employee_id: int, data: Any) -> dict[str, Any]:
    """Check a request from the phone and store it as pending; nothing is stored on a refusal."""
    if not isinstance(data, dict):
        raise ApiError("invalid_request", detail="expected a JSON object")
    kind = data.get("kind")
    if not isinstance(kind, str) or kind not in KINDS:
        raise ApiError("validation_failed", detail="kind: correction or absence")
    reason = _text(data, "reason", MAX_REASON, required=True)
    person = await _employee(db, employee_id)
    checked = await (_check_correction if kind == "correction" else _check_absence)(
        db, person, data
    )
    on = await today_of(db, employee_id)
    async with db.transaction():
        # FOR UPDATE (PostgreSQL): one request of an employee at a time, so two overlapping
        # ones sent at once cannot both pass the check below.
        await db.fetch_val(
            sa.select(employees.c.id).where(employees.c.id == employee_id).with_for_update()
        )
        clash = await db.fetch_val(
            sa.select(staff_requests.c.id)
            .where(staff_requests.c.employee_id == employee_id)
            .where(staff_requests.c.status == "pending")
            .where(staff_requests.c.start_date <= checked["end_date"])
            .where(staff_requests.c.end_date >= checked["start_date"])
            .limit(1)
        )
        if clash is not None:
            raise ApiError("overlapping_request", detail=f"request:{clash}")
        if checked.get("absence_kind") == leave.ANNUAL:
            # Again under the lock: another annual leave request may have been sent meanwhile.
            worked = await leave.working_days(
                db, employee_id, checked["start_date"], checked["end_date"]
            )
            await _check_balance(db, employee_id, worked)
        approver = await organisation.approver_for(db, employee_id, on)
        holder = None if approver is None else (approver.acting_for or approver.employee_id)
        if holder is None and not await _has_operator(db, person):
            raise ApiError("no_supervisor")
        now = utcnow()
        request_id = int(
            await db.fetch_val(
                staff_requests.insert()
                .values(
                    employee_id=employee_id,
                    reason=reason,
                    status="pending",
                    holder_id=holder,
                    held_since=now,
                    created_at=now,
                    **checked,
                )
                .returning(staff_requests.c.id)
            )
        )
        await _event(db, request_id, "submitted", f"employee:{person['nip']}", holder)
    return {
        "request_id": request_id,
        "status": "pending",
        "approver": await decider_view(db, holder, person, on),
    }


async def cancel(db: Any, employee_id: int, request_id: int) -> dict[str, Any]:
    async with db.transaction():
        row = await db.fetch_one(
            sa.select(staff_requests.c.employee_id, staff_requests.c.status)
            .where(staff_requests.c.id == request_id)
            .with_for_update()
        )
        if row is None or row["employee_id"] != employee_id:
            raise ApiError("not_found", detail="request")
        if row["status"] != "pending":
            raise ApiError("request_not_pending")
        nip = await db.fetch_val(sa.select(employees.c.nip).where(employees.c.id == employee_id))
        await db.execute(
            staff_requests.update()
            .where(staff_requests.c.id == request_id)
            .values(status="cancelled", decided_at=utcnow(), decided_by=f"employee:{nip}")
        )
        await _event(db, request_id, "cancelled", f"employee:{nip}", None)
    return {"request_id": request_id, "status": "cancelled"}


async def may_decide(db: Any, row: Any, decider: Decider) -> bool:
    if decider.employee_id is not None:
        if row["holder_id"] is None or decider.employee_id == row["employee_id"]:
            return False
        on = await today_of(db, decider.employee_id)
        return row["holder_id"] in await organisation.represented(db, decider.employee_id, on)
    in_scope = await db.fetch_val(
        sa.select(employees.c.id).where(
            employees.c.id == row["employee_id"], decider.operator_scope
        )
    )
    return in_scope is not None


async def decide(db: Any, request_id: int, data: Any, decider: Decider) -> dict[str, Any]:
    """Approve (with its effect) or reject a pending request; all of it or nothing."""
    if not isinstance(data, dict):
        raise ApiError("invalid_request", detail="expected a JSON object")
    wanted = data.get("decision")
    decision = DECISIONS.get(wanted) if isinstance(wanted, str) else None
    if decision is None:
        raise ApiError("validation_failed", detail="decision: approve or reject")
    note = _text(data, "note", MAX_REASON, required=False)
    async with db.transaction():
        row = await db.fetch_one(
            staff_requests.select().where(staff_requests.c.id == request_id).with_for_update()
        )
        if row is None:
            raise ApiError("not_found", detail="request")
        if not await may_decide(db, row, decider):
            # An operator out of scope sees nothing; a phone learns only that it is not theirs.
            if decider.employee_id is None:
                raise ApiError("not_found", detail="request")
            raise ApiError("not_your_approval")
        if row["status"] != "pending":
            raise ApiError("request_not_pending")
        effect = None
        if decision == "approved":
            effect = await _apply(db, row, decider, note)
        await db.execute(
            staff_requests.update()
            .where(staff_requests.c.id == request_id)
            .values(
                status=decision,
                decided_at=utcnow(),
                decided_by=decider.actor,
                decider_id=decider.employee_id,
                note=note,
                effect=effect,
            )
        )
        await _event(db, request_id, decision, decider.actor, row["holder_id"], note)
        await audit.record(
            db,
            actor=decider.actor,
            action=f"request.{decision}",
            target=f"employee:{row['employee_id']}",
            detail={"request_id": request_id, "effect": effect, "note": note},
        )
    return {"request_id": request_id, "status": decision, "effect": effect}


async def _apply(db: Any, row: Any, decider: Decider, note: str) -> str:
    """What an operator would have entered, naming the request and its approver."""
    actor = f"request:{row['id']} {decider.actor}"[:100]
    if row["kind"] == "absence":
        attachment = row["reference"] or ""
        if row["attachment_id"]:
            attachment = f"{attachment} attachment:{row['attachment_id']}".strip()
        text = f"request:{row['id']} approved by {decider.actor}: {row['reason']}"
        absence_id = await absence_entries.add(
            db,
            employee_id=row["employee_id"],
            kind=row["absence_kind"],
            start=row["start_date"],
            end=row["end_date"],
            actor=actor,
            attachment=attachment[:500],
            note=text[:500],
        )
        return f"absence:{absence_id}"
    correction_id = await review.correct(
        db,
        employee_id=row["employee_id"],
        day=row["start_date"],
        kind=row["scan"],
        at=as_utc(row["at"]),
        reason=f"request:{row['id']}: {row['reason']}"[:500],
        actor=actor,
    )
    return f"correction:{correction_id}"


# -- escalation ----------------------------------------------------------------------------


async def escalate_due(db: Any, working_days: int) -> list[int]:
    """Move every request undecided for ``working_days`` of its employee's working days (since
    its last hand-over) one step up the chain; the ids moved."""
    now = utcnow()
    candidates = await db.fetch_all(
        sa.select(
            staff_requests.c.id,
            staff_requests.c.employee_id,
            staff_requests.c.holder_id,
            staff_requests.c.held_since,
        )
        .where(staff_requests.c.status == "pending")
        .where(staff_requests.c.held_since <= now - timedelta(days=working_days))
        .order_by(staff_requests.c.id)
    )
    moved = []
    for r in candidates:
        tz = await review.employee_timezone(db, r["employee_id"])
        held = as_utc(r["held_since"]).astimezone(tz).date()
        today = now.astimezone(tz).date()
        if held + timedelta(days=1) > today - timedelta(days=1):
            continue
        passed = await leave.working_days(
            db, r["employee_id"], held + timedelta(days=1), today - timedelta(days=1)
        )
        if len(passed) < working_days:
            continue
        if await _escalate(db, r):
            moved.append(r["id"])
    return moved


async def _escalate(db: Any, r: Any) -> bool:
    async with db.transaction():
        # A decision or another escalation in between wins (FOR UPDATE, then look again).
        current = await db.fetch_one(
            sa.select(staff_requests.c.status, staff_requests.c.held_since)
            .where(staff_requests.c.id == r["id"])
            .with_for_update()
        )
        if current is None or current["status"] != "pending":
            return False
        if as_utc(current["held_since"]) != as_utc(r["held_since"]):
            return False
        up = None
        if r["holder_id"] is not None:
            up = await db.fetch_val(
                sa.select(employees.c.supervisor_id).where(employees.c.id == r["holder_id"])
            )
            if up == r["employee_id"]:
                up = None
        await db.execute(
            staff_requests.update()
            .where(staff_requests.c.id == r["id"])
            .values(
                holder_id=up,
                held_since=utcnow(),
                escalations=staff_requests.c.escalations + 1,
            )
        )
        await _event(db, r["id"], "escalated", "system", up)
    return True


# -- reading -------------------------------------------------------------------------------


def _iso(value: Any) -> Any:
    if isinstance(value, datetime):
        return as_utc(value).isoformat(timespec="seconds")
    if isinstance(value, date):
        return value.isoformat()
    return value


async def describe(db: Any, rows: list[Any], *, history: bool = True) -> list[dict[str, Any]]:
    """Requests as the phone and the API show them: who holds each, and its hand-overs."""
    if not rows:
        return []
    ids = [r["id"] for r in rows]
    found = []
    if history:
        found = await db.fetch_all(
            request_events.select()
            .where(request_events.c.request_id.in_(ids))
            .order_by(request_events.c.id)
        )
    people_ids = {r["employee_id"] for r in rows} | {r["holder_id"] for r in rows if r["holder_id"]}
    people_ids |= {e["holder_id"] for e in found if e["holder_id"]}
    people = {
        p["id"]: p
        for p in await db.fetch_all(
            sa.select(
                employees.c.id, employees.c.nip, employees.c.name, units.c.name.label("unit_name")
            )
            .select_from(employees.join(units))
            .where(employees.c.id.in_(people_ids))
        )
    }
    events: dict[int, list[dict[str, Any]]] = {}
    for e in found:
        holder = people.get(e["holder_id"]) if e["holder_id"] else None
        events.setdefault(e["request_id"], []).append(
            {
                "at": _iso(e["at"]),
                "action": e["action"],
                "actor": e["actor"],
                "holder": {"nip": holder["nip"], "name": holder["name"]} if holder else None,
                "note": e["note"],
            }
        )
    out = []
    for r in rows:
        person = people[r["employee_id"]]
        holder = people.get(r["holder_id"]) if r["holder_id"] else None
        item: dict[str, Any] = {
            "request_id": r["id"],
            "kind": r["kind"],
            "status": r["status"],
            "employee": {"nip": person["nip"], "name": person["name"]},
            "holder": (
                {"nip": holder["nip"], "name": holder["name"]}
                if holder
                else {"nip": None, "name": f"Operator {person['unit_name']}", "operator": True}
            ),
            "escalations": r["escalations"],
            "reason": r["reason"],
            "created_at": _iso(r["created_at"]),
            "decided_at": _iso(r["decided_at"]),
            "note": r["note"],
            "effect": r["effect"],
        }
        if r["kind"] == "correction":
            item |= {"date": _iso(r["start_date"]), "scan": r["scan"], "at": _iso(r["at"])}
        else:
            item |= {
                "absence": r["absence_kind"],
                "start_date": _iso(r["start_date"]),
                "end_date": _iso(r["end_date"]),
                "days": r["days"],
                "reference": r["reference"],
                "attachment_id": r["attachment_id"],
            }
        if history:
            item["history"] = events.get(r["id"], [])
        out.append(item)
    return out


def awaiting_query(bosses: list[int], requester_excluded: int) -> Any:
    return (
        staff_requests.select()
        .where(staff_requests.c.status == "pending")
        .where(staff_requests.c.holder_id.in_(bosses))
        .where(staff_requests.c.employee_id != requester_excluded)
        .order_by(staff_requests.c.created_at, staff_requests.c.id)
    )


async def awaiting(db: Any, employee_id: int, limit: int = 500) -> list[dict[str, Any]]:
    """What waits for ``employee_id``'s decision today, as supervisor or delegate, oldest first.

    Read straight from the driver (``recaps._rows``): a supervisor of hundreds of staff opens
    this list on a phone, and per-row result objects would cost more than the rest."""
    on = await today_of(db, employee_id)
    bosses = await organisation.represented(db, employee_id, on)
    holder = sa.alias(employees, "holder")
    sr = staff_requests.c
    query = (
        sa.select(
            sr.id,
            sr.kind,
            sr.absence_kind,
            sr.start_date,
            sr.end_date,
            sr.scan,
            sr.at,
            sr.reason,
            sr.reference,
            sr.attachment_id,
            sr.days,
            sr.escalations,
            sr.created_at,
            employees.c.nip,
            employees.c.name,
            holder.c.nip,
            holder.c.name,
        )
        .select_from(
            staff_requests.join(employees, employees.c.id == sr.employee_id).join(
                holder, holder.c.id == sr.holder_id
            )
        )
        # One comparison per represented supervisor (a handful): the raw path has no IN lists.
        .where(sr.status == "pending", sa.or_(*(sr.holder_id == b for b in bosses)))
        .where(sr.employee_id != employee_id)
        .order_by(sr.created_at, sr.id)
        .limit(limit)
    )
    out = []
    for r in await recaps._rows(db, query):
        (rid, kind, absence, start, end, scan, at, reason, reference, attachment) = r[:10]
        item: dict[str, Any] = {
            "request_id": rid,
            "kind": kind,
            "status": "pending",
            "employee": {"nip": r[13], "name": r[14]},
            "holder": {"nip": r[15], "name": r[16]},
            "escalations": r[11],
            "reason": reason,
            "created_at": recaps._utc(r[12]).isoformat(timespec="seconds"),
            "decided_at": None,
            "note": "",
            "effect": None,
        }
        if kind == "correction":
            item |= {
                "date": recaps._day(start).isoformat(),
                "scan": scan,
                "at": recaps._utc(at).isoformat(timespec="seconds") if at else None,
            }
        else:
            item |= {
                "absence": absence,
                "start_date": recaps._day(start).isoformat(),
                "end_date": recaps._day(end).isoformat(),
                "days": r[10],
                "reference": reference,
                "attachment_id": attachment,
            }
        out.append(item)
    return out


async def mine(db: Any, employee_id: int, limit: int = 100) -> list[dict[str, Any]]:
    rows = await db.fetch_all(
        staff_requests.select()
        .where(staff_requests.c.employee_id == employee_id)
        .order_by(staff_requests.c.id.desc())
        .limit(limit)
    )
    return await describe(db, list(rows))


# -- the periodic task ---------------------------------------------------------------------

ESCALATION_INTERVAL = 15 * 60  # seconds between two looks at undecided requests


@contextlib.asynccontextmanager
async def escalating(db: Any, working_days: int) -> AsyncIterator[None]:
    """While the server runs: escalate what is due every ``ESCALATION_INTERVAL`` seconds.

    Several processes may run it at once: each hand-over is claimed under a row lock."""

    async def loop() -> None:
        while True:
            await asyncio.sleep(ESCALATION_INTERVAL)
            try:
                moved = await escalate_due(db, working_days)
                if moved:
                    log.info("escalated %d undecided requests", len(moved))
            except Exception:  # the next round tries again; never take the server down
                log.exception("escalating undecided requests failed")

    task = asyncio.create_task(loop(), name="presensi-escalate-requests")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
