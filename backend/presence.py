"""The presence log: every scan and every correction, with its derived status, filtered and paged.

A scan's status is derived as ``backend.review`` describes; a correction is an entry of its own
(status ``correction``) with who added it and why.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from databases import Database

from backend.db import (
    as_utc,
    checkin_reviews,
    checkins,
    corrections,
    displays,
    employees,
    fraud_cluster_scans,
    fraud_clusters,
    offices,
    units,
)
from backend.errors import ApiError

FLAGS = (
    "offline_submission",
    "other_office",
    "ip_outside_network",
    "display_offline",
    # office geofence (backend/geofence.py)
    "outside_geofence",
    "no_location",
    "low_accuracy",
    "console_token",
    # fraud patterns (backend/fraud.py): a scan's clusters not dismissed by a reviewer
    "shared_client",
    "shared_coordinates",
    "impossible_travel",
    "platform_changed",
    "no_user_verification",  # backend/passkeys.py
)
STATUSES = ("accepted", "pending_review", "rejected", "corrected", "correction")
MAX_PAGE = 500


@dataclass(frozen=True)
class LogFilter:
    agency_id: int | None  # None: every agency (super admin)
    start: date
    end: date
    unit_id: int | None = None
    employee_id: int | None = None
    status: str | None = None
    flag: str | None = None

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ApiError("validation_failed", detail="the end date is before the start date")
        if self.status is not None and self.status not in STATUSES:
            raise ApiError("validation_failed", detail=f"status: one of {', '.join(STATUSES)}")
        if self.flag is not None and self.flag not in FLAGS:
            raise ApiError("validation_failed", detail=f"flag: one of {', '.join(FLAGS)}")


@dataclass(frozen=True)
class LogRow:
    entry: str  # "scan" / "correction"
    id: int
    employee_id: int
    nip: str
    name: str
    unit: str
    office: str
    display: str
    at: datetime  # in the office's zone
    local_date: date
    kind: str
    category: str | None
    status: str
    flags: tuple[str, ...]
    note: str  # review or correction: who and why

    @property
    def ref(self) -> str:
        return f"{self.entry}:{self.id}"


def _query(f: LogFilter) -> Any:
    replaced = corrections.alias("replaced")
    status = sa.case(
        (replaced.c.id.is_not(None), "corrected"),
        (checkin_reviews.c.decision == "rejected", "rejected"),
        (checkin_reviews.c.decision == "approved", "accepted"),
        else_=checkins.c.status,
    )
    decided = checkin_reviews.c
    review_note = sa.case(
        (
            decided.id.is_not(None),
            decided.decision + " · " + decided.actor + " · " + decided.reason,
        ),
        (replaced.c.id.is_not(None), "→ correction " + sa.cast(replaced.c.id, sa.String)),
        else_="",
    )
    # A scan's fraud patterns are flags too, from its clusters that no reviewer dismissed (the
    # record itself is never changed after it is written).
    patterns = (
        sa.select(sa.func.aggregate_strings(fraud_clusters.c.pattern, ","))
        .select_from(fraud_cluster_scans.join(fraud_clusters))
        .where(fraud_cluster_scans.c.checkin_id == checkins.c.id)
        .where(fraud_clusters.c.status != "dismissed")
        .where(fraud_clusters.c.pattern != "console_token")  # already on the record
        .scalar_subquery()
    )
    flags = checkins.c.flags + "," + sa.func.coalesce(patterns, "")  # empties dropped in _row
    scans = (
        sa.select(
            sa.literal("scan").label("entry"),
            checkins.c.id,
            checkins.c.employee_id,
            employees.c.nip,
            employees.c.name,
            units.c.name.label("unit"),
            units.c.agency_id,
            employees.c.unit_id,
            offices.c.name.label("office"),
            offices.c.timezone,
            displays.c.name.label("display"),
            checkins.c.at,
            checkins.c.local_date,
            checkins.c.kind,
            checkins.c.category,
            status.label("status"),
            flags.label("flags"),
            review_note.label("note"),
        )
        .select_from(
            checkins.join(employees, employees.c.id == checkins.c.employee_id)
            .join(units, units.c.id == employees.c.unit_id)
            .join(offices, offices.c.id == checkins.c.office_id)
            .join(displays, displays.c.id == checkins.c.display_id)
            .outerjoin(checkin_reviews, checkin_reviews.c.checkin_id == checkins.c.id)
            .outerjoin(replaced, replaced.c.replaces_checkin_id == checkins.c.id)
        )
        .where(checkins.c.local_date.between(f.start, f.end))
    )
    fixes = (
        sa.select(
            sa.literal("correction").label("entry"),
            corrections.c.id,
            corrections.c.employee_id,
            employees.c.nip,
            employees.c.name,
            units.c.name.label("unit"),
            units.c.agency_id,
            employees.c.unit_id,
            sa.func.coalesce(offices.c.name, "").label("office"),
            sa.func.coalesce(offices.c.timezone, "Asia/Jakarta").label("timezone"),
            sa.literal("").label("display"),
            corrections.c.at,
            corrections.c.local_date,
            corrections.c.kind,
            sa.null().label("category"),
            sa.literal("correction").label("status"),
            sa.literal("").label("flags"),
            (corrections.c.actor + " · " + corrections.c.reason).label("note"),
        )
        .select_from(
            corrections.join(employees, employees.c.id == corrections.c.employee_id)
            .join(units, units.c.id == employees.c.unit_id)
            .outerjoin(offices, offices.c.id == employees.c.office_id)
        )
        .where(corrections.c.local_date.between(f.start, f.end))
    )
    log = sa.union_all(scans, fixes).subquery("log")
    query = sa.select(log)
    if f.agency_id is not None:
        query = query.where(log.c.agency_id == f.agency_id)
    if f.unit_id is not None:
        query = query.where(log.c.unit_id == f.unit_id)
    if f.employee_id is not None:
        query = query.where(log.c.employee_id == f.employee_id)
    if f.status is not None:
        query = query.where(log.c.status == f.status)
    if f.flag is not None:
        # The pattern as a value: a literal "%" in the SQL would trip `databases`' formatting.
        query = query.where(log.c.flags.like(sa.bindparam("flag_like", f"%{f.flag}%")))
    return query, log


def _row(r: Any) -> LogRow:
    return LogRow(
        entry=r["entry"],
        id=r["id"],
        employee_id=r["employee_id"],
        nip=r["nip"],
        name=r["name"],
        unit=r["unit"],
        office=r["office"],
        display=r["display"],
        at=as_utc(r["at"]).astimezone(ZoneInfo(r["timezone"])),
        local_date=r["local_date"],
        kind=r["kind"],
        category=r["category"],
        status=r["status"],
        flags=tuple(x for x in r["flags"].split(",") if x),
        note=r["note"] or "",
    )


async def page(
    db: Database, f: LogFilter, *, number: int = 1, size: int = 50
) -> tuple[list[LogRow], int]:
    """One page, newest first, and the number of matching entries."""
    size = max(1, min(size, MAX_PAGE))
    number = max(1, number)
    query, log = _query(f)
    total = await db.fetch_val(sa.select(sa.func.count()).select_from(query.subquery()))
    rows = await db.fetch_all(
        query.order_by(log.c.at.desc(), log.c.id.desc()).limit(size).offset((number - 1) * size)
    )
    return [_row(r) for r in rows], int(total or 0)


async def iterate(db: Database, f: LogFilter) -> AsyncIterator[LogRow]:
    """Every matching entry, oldest first, without holding them all in memory."""
    query, log = _query(f)
    async for r in db.iterate(query.order_by(log.c.at, log.c.id)):
        yield _row(r)
