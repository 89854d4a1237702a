"""The live monitor: per unit, who has checked in today against who is expected (not on leave,
not off shift), the latest scans as they arrive (server-sent events fed by the event bus's
"checkin" topic), and the displays that are offline."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from backend import recaps
from backend.admin import displays as display_pages
from backend.admin import scope
from backend.admin.pages import render
from backend.admin.recaps import now as current_time
from backend.admin.recaps import resolve_scope
from backend.admin.security import READERS, Principal, require_role
from backend.db import as_utc, checkins, displays, employees, offices, units
from backend.state import AppState

LATEST = 20
KEEP_ALIVE = 15.0  # seconds: proxies close idle connections


async def summary(request: Request, me: Principal) -> dict[str, Any]:
    """Today's counts per unit, the latest scans and the offline displays."""
    state = AppState.of(request)
    where = await resolve_scope(request, me, monthly=False)
    now = current_time(request)
    today = now.astimezone(ZoneInfo(recaps.DEFAULT_TZ)).date()
    recap = await recaps.compute(
        state.db, agency_id=where.agency_id, unit_id=where.unit_id, start=today, end=today, now=now
    )
    names = {e.unit_id: e.unit_name for e in recap.employees}
    per_unit = []
    for unit_id, counts in sorted(recap.daily(today).items(), key=lambda u: names[u[0]]):
        rate = recaps.daily_rate(counts)
        due = counts["present"] + counts["absent"] + counts["upcoming"]
        per_unit.append(
            {
                "id": unit_id,
                "name": names[unit_id],
                "present": counts["present"],
                "expected": due,
                "late": sum(counts[c] for c in recaps.LATE),
                "rate": None if rate is None else round(100 * rate, 1),
            }
        )
    latest = await state.db.fetch_all(
        sa.select(
            checkins.c.id,
            checkins.c.at,
            checkins.c.kind,
            checkins.c.category,
            checkins.c.status,
            employees.c.name,
            units.c.name.label("unit"),
            offices.c.name.label("office"),
            offices.c.timezone,
        )
        .select_from(
            checkins.join(employees).join(units).join(offices, offices.c.id == checkins.c.office_id)
        )
        .where(scope.employees(me))
        .where(units.c.agency_id == where.agency_id)
        .where(checkins.c.local_date >= today)
        .order_by(checkins.c.at.desc())
        .limit(LATEST)
    )
    shown = await state.db.fetch_all(display_pages.query(me).limit(500))
    offline = [
        d
        for d in (display_pages.describe(r, state.settings) for r in shown)
        if d["state"] == "offline"
    ]
    return {
        "date": today.isoformat(),
        "units": per_unit,
        "latest": [_scan(r) for r in latest],
        "offline": offline,
    }


def _scan(row: Any) -> dict[str, Any]:
    at = as_utc(row["at"]).astimezone(ZoneInfo(row["timezone"]))
    return {
        "id": row["id"],
        "time": at.strftime("%H:%M:%S"),
        "name": row["name"],
        "unit": row["unit"],
        "office": row["office"],
        "kind": row["kind"],
        "category": row["category"] or "",
        "status": row["status"],
    }


async def page(request: Request) -> Response:
    me = await require_role(request, READERS)
    return render(
        request,
        "admin/monitor.html",
        {"data": await summary(request, me), "query": request.url.query},
    )


async def summary_json(request: Request) -> Response:
    me = await require_role(request, READERS)
    response = JSONResponse(await summary(request, me))
    response.headers["Cache-Control"] = "no-store"
    return response


async def _places(request: Request, me: Principal) -> dict[int, dict[str, str]]:
    """The displays this admin may see: id -> office and unit names."""
    rows = await AppState.of(request).db.fetch_all(
        sa.select(
            displays.c.id,
            offices.c.name.label("office"),
            offices.c.timezone,
            sa.func.coalesce(units.c.name, "").label("unit"),
        )
        .select_from(displays.join(offices).outerjoin(units, units.c.id == offices.c.unit_id))
        .where(scope.displays(me))
    )
    return {
        r["id"]: {"office": r["office"], "unit": r["unit"], "timezone": r["timezone"]} for r in rows
    }


async def stream(request: Request) -> Response:
    """Server-sent events: one ``checkin`` event per accepted scan on a display in scope."""
    me = await require_role(request, READERS)
    bus = AppState.of(request).events
    places = await _places(request, me)

    async def events() -> AsyncIterator[str]:
        nonlocal places
        with bus.subscribe("checkin") as queue:
            yield "retry: 3000\n: connected\n\n"
            while True:
                try:
                    event = await asyncio.wait_for(queue.get(), KEEP_ALIVE)
                except TimeoutError:
                    yield ": keep-alive\n\n"
                    continue
                if event.get("display_id") not in places:
                    places = await _places(request, me)  # a display added since
                    if event.get("display_id") not in places:
                        continue
                place = places[event["display_id"]]
                data = {
                    "name": event.get("name", ""),
                    "time": str(event.get("at", ""))[11:19],
                    "kind": event.get("kind", ""),
                    "office": place["office"],
                    "unit": place["unit"],
                }
                yield f"event: checkin\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
