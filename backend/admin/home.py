"""The overview: counts in the admin's scope and shortcuts."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from starlette.requests import Request
from starlette.responses import Response

from backend.admin import scope
from backend.admin.displays import query as display_query
from backend.admin.displays import state_of
from backend.admin.pages import render
from backend.admin.phones import count_enrolled
from backend.admin.security import READERS, require_role
from backend.db import employees, request_events, staff_requests
from backend.state import AppState


async def overview(request: Request) -> Response:
    state = AppState.of(request)
    me = await require_role(request, READERS)
    db = state.db
    active = await db.fetch_val(
        sa.select(sa.func.count())
        .select_from(employees)
        .where(scope.employees(me))
        .where(employees.c.active.is_(True))
    )
    shown = await db.fetch_all(display_query(me).limit(500))
    states = [state_of(r, state.settings) for r in shown]
    stats: dict[str, Any] = {
        "employees": active or 0,
        "enrolled": await db.fetch_val(count_enrolled(me)) or 0,
        "online": states.count("online"),
        "displays": len([s for s in states if s != "revoked"]),
    }
    return render(request, "admin/home.html", {"stats": stats, "inbox": await inbox(db, me)})


async def inbox(db: Any, me: Any) -> dict[str, int]:
    """The console's inbox: requests only operators will decide (no supervisor, or escalated),
    all pending ones, and hand-overs of the last 30 days, in the admin's scope."""
    from datetime import timedelta

    from backend.db import utcnow

    mine = staff_requests.c.employee_id.in_(sa.select(employees.c.id).where(scope.employees(me)))
    pending = sa.and_(mine, staff_requests.c.status == "pending")
    count = sa.select(sa.func.count()).select_from(staff_requests)
    return {
        "operator": await db.fetch_val(
            count.where(pending).where(
                sa.or_(staff_requests.c.holder_id.is_(None), staff_requests.c.escalations > 0)
            )
        )
        or 0,
        "pending": await db.fetch_val(count.where(pending)) or 0,
        "escalated": await db.fetch_val(
            sa.select(sa.func.count())
            .select_from(request_events.join(staff_requests))
            .where(mine, request_events.c.action == "escalated")
            .where(request_events.c.at >= utcnow() - timedelta(days=30))
        )
        or 0,
    }
