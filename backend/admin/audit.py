"""The audit log: every admin action and binding change, filterable and exportable. Nothing here
writes to it except through ``backend.audit.record``; there is no edit or delete."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement
from starlette.requests import Request
from starlette.responses import Response

from backend import csvsafe
from backend.admin import fields, scope
from backend.admin.pages import paginate, render
from backend.admin.security import ORG_ADMINS, Principal, require_role
from backend.db import admin_users, audit_log, devices, displays, employees, offices, units
from backend.state import AppState

EXPORT_LIMIT = 100_000


def _named(prefix: str, column: Any) -> Any:
    return sa.literal(prefix) + sa.cast(column, sa.String)


def visible(me: Principal) -> ColumnElement[bool]:
    """A super admin sees every entry; an agency admin the entries by or about their agency."""
    if me.is_super:
        return sa.true()
    admins = sa.select(_named("admin:", admin_users.c.id)).where(scope.admin_users(me))
    staff = sa.select(employees.c.id).where(scope.employees(me))
    return sa.or_(
        audit_log.c.actor.in_(admins),
        audit_log.c.target.in_(admins),
        audit_log.c.actor.in_(
            sa.select(sa.literal("employee:") + employees.c.nip).where(scope.employees(me))
        ),
        audit_log.c.target.in_(
            sa.select(_named("employee:", employees.c.id)).where(scope.employees(me))
        ),
        audit_log.c.target.in_(
            sa.select(sa.literal("device:") + devices.c.id).where(devices.c.employee_id.in_(staff))
        ),
        audit_log.c.target.in_(
            sa.select(_named("display:", displays.c.id)).where(scope.displays(me))
        ),
        audit_log.c.target.in_(sa.select(_named("office:", offices.c.id)).where(scope.offices(me))),
        audit_log.c.target.in_(sa.select(_named("unit:", units.c.id)).where(scope.units(me))),
    )


def _day(value: str) -> date | None:
    try:
        return fields.day(value)
    except ValueError:
        return None


def query(me: Principal, params: dict[str, str], zone: str) -> sa.Select[Any]:
    stmt = audit_log.select().where(visible(me)).order_by(audit_log.c.id.desc())
    if params.get("action"):
        stmt = stmt.where(audit_log.c.action.like(params["action"].strip() + "%"))
    if params.get("actor"):
        stmt = stmt.where(audit_log.c.actor == params["actor"].strip())
    if params.get("target"):
        stmt = stmt.where(audit_log.c.target == params["target"].strip())
    tz = ZoneInfo(zone)
    start, end = _day(params.get("from", "")), _day(params.get("to", ""))
    if start:
        stmt = stmt.where(audit_log.c.at >= datetime.combine(start, time(), tz))
    if end:
        stmt = stmt.where(audit_log.c.at < datetime.combine(end + timedelta(days=1), time(), tz))
    return stmt


async def log_page(request: Request) -> Response:
    state = AppState.of(request)
    me = await require_role(request, ORG_ADMINS)
    params = dict(request.query_params)
    zone = state.settings.default_timezone
    rows, pager = await paginate(state.db, request, query(me, params, zone))
    actions = await state.db.fetch_all(
        sa.select(audit_log.c.action).where(visible(me)).distinct().order_by(audit_log.c.action)
    )
    query_string = request.url.query
    return render(
        request,
        "admin/audit.html",
        {
            "rows": rows,
            "pager": pager,
            "f": params,
            "actions": [a["action"] for a in actions],
            "export_query": query_string,
        },
    )


async def export_csv(request: Request) -> Response:
    state = AppState.of(request)
    me = await require_role(request, ORG_ADMINS)
    stmt = query(me, dict(request.query_params), state.settings.default_timezone)
    rows = await state.db.fetch_all(stmt.limit(EXPORT_LIMIT))
    # Sign-in names and details come from anyone: csvsafe keeps them text in a spreadsheet.
    body = csvsafe.text(
        [
            ("id", "at", "actor", "action", "target", "ip", "detail"),
            *(
                (r["id"], r["at"].isoformat(), r["actor"], r["action"], r["target"], r["ip"],
                 r["detail"])
                for r in rows
            ),
        ]
    )  # fmt: skip
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": 'attachment; filename="audit.csv"',
            "Cache-Control": "no-store",
        },
    )
