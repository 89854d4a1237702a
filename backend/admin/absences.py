"""Absence entries (DL, DD, sakit, cuti ...): list by month, add for a date range, cancel."""

from __future__ import annotations

import sqlalchemy as sa
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from backend import absences as entries
from backend.admin import fields, scope
from backend.admin.pages import form_data, redirect, render
from backend.admin.presence import error_text
from backend.admin.recaps import resolve_scope
from backend.admin.security import READERS, WRITERS, require_role
from backend.db import absences, employees, units
from backend.errors import ApiError
from backend.state import AppState


async def list_page(request: Request, form_error: str | None = None) -> Response:
    me = await require_role(request, READERS)
    where = await resolve_scope(request, me, monthly=True)
    db = AppState.of(request).db
    rows = await db.fetch_all(
        sa.select(absences, employees.c.nip, employees.c.name, units.c.name.label("unit"))
        .select_from(absences.join(employees).join(units))
        .where(scope.employees(me))
        .where(units.c.agency_id == where.agency_id)
        .where(absences.c.start_date <= where.end)
        .where(absences.c.end_date >= where.start)
        .order_by(absences.c.start_date, employees.c.name)
    )
    staff = await db.fetch_all(
        sa.select(employees.c.id, employees.c.nip, employees.c.name)
        .select_from(employees.join(units))
        .where(scope.employees(me))
        .where(units.c.agency_id == where.agency_id)
        .where(employees.c.active.is_(True))
        .order_by(employees.c.name)
    )
    return render(
        request,
        "admin/absences.html",
        {
            "rows": rows,
            "staff": staff,
            "kinds": entries.KINDS,
            "month": f"{where.start:%Y-%m}",
            "form_error": form_error,
        },
        status_code=400 if form_error else 200,
    )


async def _in_scope(request: Request, employee_id: int) -> None:
    me = await require_role(request, WRITERS)
    found = await AppState.of(request).db.fetch_val(
        sa.select(employees.c.id).where(employees.c.id == employee_id).where(scope.employees(me))
    )
    if found is None:
        raise HTTPException(404)


async def add(request: Request) -> Response:
    me = await require_role(request, WRITERS)
    data = await form_data(request)
    try:
        employee_id = fields.lenient_int(data.get("employee_id")) or 0
        await _in_scope(request, employee_id)
        start = fields.day(data.get("start", ""))
        end = fields.day(data.get("end", "") or data.get("start", ""))
        await entries.add(
            AppState.of(request).db, employee_id=employee_id, kind=data.get("kind", ""),
            start=start, end=end, actor=me.actor, attachment=data.get("attachment", ""),
            note=data.get("note", ""),
        )  # fmt: skip
    except ValueError:
        return await list_page(
            request, form_error=error_text(ApiError("validation_failed", detail="date"))
        )
    except ApiError as exc:
        return await list_page(request, form_error=error_text(exc))
    return redirect(f"/admin/absences?month={start:%Y-%m}", "created")


async def cancel(request: Request) -> Response:
    me = await require_role(request, WRITERS)
    absence_id = request.path_params["absence_id"]
    db = AppState.of(request).db
    owner = await db.fetch_val(sa.select(absences.c.employee_id).where(absences.c.id == absence_id))
    if owner is None:
        raise HTTPException(404)
    await _in_scope(request, owner)
    try:
        await entries.cancel(db, absence_id=absence_id, actor=me.actor)
    except ApiError as exc:
        return await list_page(request, form_error=error_text(exc))
    return redirect("/admin/absences", "revoked")
