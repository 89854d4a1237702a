"""An employee's inbox, on the phone and in the console: what needs them or concerns them.

Built in: requests waiting for my decision (``request_to_decide``), decisions on my requests
(``request_decided``), and hand-overs: my request escalated, or escalated to me
(``request_escalated``). Other parts add their items with :func:`register` (a source is
``async (conn, employee_id) -> list[dict]``; e.g. the discipline levels a subordinate reached).
Each item: ``{"kind", "at", "text", "request_id"?, ...}``, newest first.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from backend import organisation, requests
from backend.db import as_utc, employees, request_events, staff_requests, utcnow

Source = Callable[[Any, int], Awaitable[list[dict[str, Any]]]]
SOURCES: list[Source] = []
RECENT = timedelta(days=30)
LIMIT = 200


def register(source: Source) -> Source:
    """Add a source of items (idempotent); usable as a decorator."""
    if source not in SOURCES:
        SOURCES.append(source)
    return source


def _iso(value: Any) -> str:
    return as_utc(value).isoformat(timespec="seconds")


async def request_items(db: Any, employee_id: int) -> list[dict[str, Any]]:
    on = await requests.today_of(db, employee_id)
    bosses = await organisation.represented(db, employee_id, on)
    since = utcnow() - RECENT
    items: list[dict[str, Any]] = []
    waiting = await db.fetch_all(
        sa.select(
            staff_requests.c.id,
            staff_requests.c.kind,
            staff_requests.c.absence_kind,
            staff_requests.c.held_since,
            employees.c.nip,
            employees.c.name,
        )
        .select_from(staff_requests.join(employees, employees.c.id == staff_requests.c.employee_id))
        .where(staff_requests.c.status == "pending", staff_requests.c.holder_id.in_(bosses))
        .where(staff_requests.c.employee_id != employee_id)
        .order_by(staff_requests.c.held_since.desc())
        .limit(LIMIT)
    )
    for r in waiting:
        items.append(
            {
                "kind": "request_to_decide",
                "at": _iso(r["held_since"]),
                "request_id": r["id"],
                "request_kind": r["absence_kind"] or r["kind"],
                "employee": {"nip": r["nip"], "name": r["name"]},
            }
        )
    decided = await db.fetch_all(
        sa.select(
            staff_requests.c.id,
            staff_requests.c.kind,
            staff_requests.c.absence_kind,
            staff_requests.c.status,
            staff_requests.c.decided_at,
            staff_requests.c.note,
        )
        .where(staff_requests.c.employee_id == employee_id)
        .where(staff_requests.c.status.in_(("approved", "rejected")))
        .where(staff_requests.c.decided_at >= since)
        .order_by(staff_requests.c.decided_at.desc())
        .limit(LIMIT)
    )
    for r in decided:
        items.append(
            {
                "kind": "request_decided",
                "at": _iso(r["decided_at"]),
                "request_id": r["id"],
                "request_kind": r["absence_kind"] or r["kind"],
                "status": r["status"],
                "note": r["note"],
            }
        )
    escalated = await db.fetch_all(
        sa.select(
            request_events.c.request_id,
            request_events.c.at,
            request_events.c.holder_id,
            staff_requests.c.employee_id,
        )
        .select_from(request_events.join(staff_requests))
        .where(request_events.c.action == "escalated", request_events.c.at >= since)
        .where(
            sa.or_(
                staff_requests.c.employee_id == employee_id,
                request_events.c.holder_id.in_(bosses),
            )
        )
        .order_by(request_events.c.at.desc())
        .limit(LIMIT)
    )
    for r in escalated:
        items.append(
            {
                "kind": "request_escalated",
                "at": _iso(r["at"]),
                "request_id": r["request_id"],
                "mine": r["employee_id"] == employee_id,
            }
        )
    return items


register(request_items)


async def discipline_items(db: Any, employee_id: int) -> list[dict[str, Any]]:
    """PP 94/2021 levels reached by the staff this employee answers for (backend/discipline.py)."""
    from backend import discipline

    return await discipline.inbox_items(db, employee_id)


register(discipline_items)


async def items(db: Any, employee_id: int) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for source in SOURCES:
        found.extend(await source(db, employee_id))
    found.sort(key=lambda item: str(item.get("at", "")), reverse=True)
    return found[:LIMIT]
