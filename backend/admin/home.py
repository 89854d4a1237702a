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
from backend.db import employees
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
    return render(request, "admin/home.html", {"stats": stats})
