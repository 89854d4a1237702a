"""Absence entries (DL, DD, sakit, cuti ...) for a date range; they excuse the days they cover.

An operator enters them, optionally with a reference to the supporting letter (attachment). A
mistaken entry is cancelled, not deleted, so the recap of a past month can be explained.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

import sqlalchemy as sa
from databases import Database

from backend import audit, ledger
from backend.db import absences, employees, units, utcnow
from backend.errors import ApiError
from backend.i18n import LazyText
from backend.i18n import gettext_lazy as _

KINDS: dict[str, LazyText] = {
    "dl": _("Official travel (DL)"),
    "dd": _("Official duty in town (DD)"),
    "sakit": _("Sick (sakit)"),
    "cuti_tahunan": _("Annual leave"),
    "cuti_sakit": _("Sick leave"),
    "cuti_alasan_penting": _("Leave for important reasons"),
    "cuti_besar": _("Long service leave"),
    "izin": _("Permission (izin)"),
}
# Short column headings for recaps and exports, the same in both languages.
SHORT = {
    "dl": "DL",
    "dd": "DD",
    "sakit": "S",
    "cuti_tahunan": "CT",
    "cuti_sakit": "CS",
    "cuti_alasan_penting": "CAP",
    "cuti_besar": "CB",
    "izin": "I",
}
MAX_SPAN = timedelta(days=366)


async def add(
    db: Database,
    *,
    employee_id: int,
    kind: str,
    start: date,
    end: date,
    actor: str,
    attachment: str = "",
    note: str = "",
) -> int:
    if kind not in KINDS:
        raise ApiError("validation_failed", detail=f"kind: one of {', '.join(KINDS)}")
    if end < start:
        raise ApiError("validation_failed", detail="the end date is before the start date")
    if end - start >= MAX_SPAN:
        raise ApiError("validation_failed", detail="an absence spans at most one year")
    if len(attachment) > 500 or len(note) > 500:
        raise ApiError("validation_failed", detail="attachment and note: at most 500 characters")
    async with db.transaction():
        # FOR UPDATE (PostgreSQL): one absence entry of an employee at a time, so two
        # overlapping ones saved at once cannot both pass the check below.
        if (
            await db.fetch_val(
                sa.select(employees.c.id).where(employees.c.id == employee_id).with_for_update()
            )
            is None
        ):
            raise ApiError("not_found", detail="employee")
        clash = await db.fetch_val(
            sa.select(absences.c.id)
            .where(absences.c.employee_id == employee_id)
            .where(absences.c.cancelled_at.is_(None))
            .where(absences.c.start_date <= end)
            .where(absences.c.end_date >= start)
            .limit(1)
        )
        if clash is not None:
            raise ApiError("absence_overlaps", detail=f"absence:{clash}")
        absence_id: int = await db.fetch_val(
            absences.insert()
            .values(
                employee_id=employee_id,
                kind=kind,
                start_date=start,
                end_date=end,
                attachment=attachment.strip(),
                note=note.strip(),
                created_by=actor,
                created_at=utcnow(),
            )
            .returning(absences.c.id)
        )
        await audit.record(
            db,
            actor=actor,
            action="absence.add",
            target=f"employee:{employee_id}",
            detail={"absence_id": absence_id, "kind": kind, "start": start, "end": end},
        )
        await ledger.append(db, "absence", [absence_id])
    return absence_id


async def cancel(db: Database, *, absence_id: int, actor: str) -> None:
    async with db.transaction():
        row = await db.fetch_one(absences.select().where(absences.c.id == absence_id))
        if row is None or row["cancelled_at"] is not None:
            raise ApiError("not_found", detail="absence")
        await db.execute(
            absences.update()
            .where(absences.c.id == absence_id)
            .values(cancelled_at=utcnow(), cancelled_by=actor)
        )
        await audit.record(
            db,
            actor=actor,
            action="absence.cancel",
            target=f"employee:{row['employee_id']}",
            detail={"absence_id": absence_id},
        )
        await ledger.append(db, "absence", [absence_id])


async def covering(
    db: Database,
    *,
    start: date,
    end: date,
    agency_ids: Sequence[int] = (),
    unit_id: int | None = None,
    employee_ids: Sequence[int] | None = None,
) -> dict[tuple[int, date], tuple[str, int]]:
    """(employee_id, day) -> (kind, absence_id) for every day from start to end an active entry
    covers."""
    query = (
        sa.select(
            absences.c.id,
            absences.c.employee_id,
            absences.c.kind,
            absences.c.start_date,
            absences.c.end_date,
        )
        .select_from(absences.join(employees).join(units))
        .where(absences.c.cancelled_at.is_(None))
        .where(absences.c.start_date <= end)
        .where(absences.c.end_date >= start)
    )
    if agency_ids:
        query = query.where(units.c.agency_id.in_(agency_ids))
    if unit_id is not None:
        query = query.where(employees.c.unit_id == unit_id)
    if employee_ids is not None:
        query = query.where(absences.c.employee_id.in_(employee_ids))
    days: dict[tuple[int, date], tuple[str, int]] = {}
    for row in await db.fetch_all(query):
        day = max(row["start_date"], start)
        last = min(row["end_date"], end)
        while day <= last:
            days[(row["employee_id"], day)] = (row["kind"], row["id"])
            day += timedelta(days=1)
    return days
