"""Schedules and shifts: the agency's and units' weekday hours (Ramadan hours as a dated rule),
the shifts of services that never close, and the monthly roster per employee."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from backend import rosters, versions
from backend.admin import fields, scope
from backend.admin.pages import form_data, redirect, render, translate
from backend.admin.presence import error_text
from backend.admin.recaps import resolve_scope
from backend.admin.security import ORG_ADMINS, READERS, WRITERS, require_role
from backend.db import agencies, employees, roster_entries, shifts, units, work_schedules
from backend.errors import ERRORS, ApiError
from backend.i18n import gettext_lazy as _
from backend.state import AppState

WEEKDAYS = ("Sen", "Sel", "Rab", "Kam", "Jum", "Sab", "Min")


def agency_rules(agency_id: int) -> sa.Select[Any]:
    """An agency's work hours (its own and its units'): edited as one set, with one version."""
    ws = work_schedules.c
    return (
        sa.select(ws.id, ws.unit_id, ws.name, ws.weekday, ws.start_time, ws.end_time,
                  ws.valid_from, ws.valid_to)
        .where(ws.agency_id == agency_id)
        .order_by(ws.id)
    )  # fmt: skip


async def _sent(request: Request) -> dict[str, Any]:
    """The posted add-hours form, to fill it again after a conflict."""
    form = await request.form()
    return await form_data(request) | {"weekdays": [str(d) for d in form.getlist("weekday")]}


def describe_rules(rules: list[dict[str, Any]]) -> str:
    return (
        "; ".join(
            f"{WEEKDAYS[r['weekday']]} {r['start_time'][:5]}–{r['end_time'][:5]} {r['name']}"
            + (f" ({r['valid_from']} – {r['valid_to']})" if r["valid_from"] else "")
            for r in rules
        )
        or "—"
    )


def _guarded(request: Request, agency_id: int, data: dict[str, str]) -> Any:
    db = AppState.of(request).db
    expected = versions.form_version(data.get("version"))
    return versions.guard_set(db, agencies, agency_id, agency_rules(agency_id), expected)


async def conflict_page(request: Request, exc: versions.Conflict, yours: str) -> Response:
    rows = [(translate(_("Work hours")), describe_rules(exc.current["rows"]), yours)]
    message = translate(ERRORS["edit_conflict"][1])
    return await page(request, message, status_code=409, conflict=rows)


async def page(
    request: Request,
    form_error: str | None = None,
    *,
    status_code: int | None = None,
    conflict: list[tuple[str, str, str]] | None = None,
) -> Response:
    me = await require_role(request, READERS)
    where = await resolve_scope(request, me, monthly=True)
    db = AppState.of(request).db
    ws = work_schedules.c
    rules = await db.fetch_all(
        sa.select(work_schedules, units.c.name.label("unit"))
        .select_from(work_schedules.outerjoin(units, units.c.id == ws.unit_id))
        .where(sa.or_(ws.agency_id.is_(None), ws.agency_id == where.agency_id))
        .where(scope.work_schedules(me))
        .order_by(ws.agency_id.is_not(None), ws.unit_id.is_not(None), ws.valid_from, ws.weekday)
    )
    unit_rows = await db.fetch_all(
        sa.select(units.c.id, units.c.name)
        .where(units.c.agency_id == where.agency_id)
        .where(scope.units(me))
        .order_by(units.c.name)
    )
    shift_rows = await db.fetch_all(
        sa.select(shifts, units.c.name.label("unit"))
        .select_from(shifts.outerjoin(units, units.c.id == shifts.c.unit_id))
        .where(shifts.c.agency_id == where.agency_id)
        .where(scope.shifts(me))
        .order_by(shifts.c.start_time)
    )
    staff = await db.fetch_all(
        sa.select(employees.c.id, employees.c.nip, employees.c.name)
        .select_from(employees.join(units))
        .where(scope.employees(me))
        .where(units.c.agency_id == where.agency_id)
        .where(employees.c.active.is_(True))
        .order_by(employees.c.name)
    )
    days = [where.start + timedelta(days=i) for i in range((where.end - where.start).days + 1)]
    codes = {s["id"]: s["code"] for s in shift_rows}
    grid: dict[int, dict[date, str]] = {}
    for r in await db.fetch_all(
        sa.select(roster_entries.c.employee_id, roster_entries.c.day, roster_entries.c.shift_id)
        .where(roster_entries.c.employee_id.in_([p["id"] for p in staff]))
        .where(roster_entries.c.day.between(where.start, where.end))
    ):
        grid.setdefault(r["employee_id"], {})[r["day"]] = codes.get(r["shift_id"], "–")
    rostered = [p for p in staff if p["id"] in grid]
    return render(
        request,
        "admin/schedules.html",
        {
            "rules": rules,
            "shifts": shift_rows,
            "staff": staff,
            "rostered": rostered,
            "grid": grid,
            "days": days,
            "weekdays": WEEKDAYS,
            "units": unit_rows,
            "month": f"{where.start:%Y-%m}",
            "form_error": form_error,
            "version": (await versions.of_set(db, agency_rules(where.agency_id)))[1],
            "conflict": conflict,
            "sent": await _sent(request) if conflict else None,
        },
        status_code=status_code or (400 if form_error else 200),
    )  # fmt: skip


async def _units_of(request: Request, agency_id: int) -> list[Any]:
    query = sa.select(units.c.id).where(units.c.agency_id == agency_id)
    return list(await AppState.of(request).db.fetch_all(query))


def _unit(value: str, allowed: list[Any], me_unit: int | None) -> int | None:
    if me_unit is not None:
        return me_unit
    if not value:
        return None
    unit_id = fields.lenient_int(value)
    if unit_id is None or unit_id not in {u["id"] for u in allowed}:
        raise ApiError("not_found", detail="unit")
    return unit_id


async def _shift_for(db: Any, me: Any, shift_id: int | None, person: Any) -> bool:
    """A shift the principal may use, shared by the agency or the employee's own unit's."""
    return shift_id is not None and None is not await db.fetch_val(
        sa.select(shifts.c.id)
        .where(shifts.c.id == shift_id)
        .where(scope.shifts(me))
        .where(sa.or_(shifts.c.unit_id.is_(None), shifts.c.unit_id == person["unit_id"]))
    )


async def add_rule(request: Request) -> Response:
    me = await require_role(request, ORG_ADMINS)
    where = await resolve_scope(request, me, monthly=False)
    db = AppState.of(request).db
    form = await request.form()
    data = await form_data(request)
    allowed = list(
        await db.fetch_all(sa.select(units.c.id).where(units.c.agency_id == where.agency_id))
    )
    weekdays = [int(str(d)) for d in form.getlist("weekday") if str(d) in tuple("0123456")]
    try:
        dated = bool(data.get("valid_from"))
        async with _guarded(request, where.agency_id, data):
            await rosters.add_work_rule(
                db, agency_id=where.agency_id,
                unit_id=_unit(data.get("unit_id", ""), allowed, None), weekdays=weekdays,
                start=rosters.parse_hhmm(data.get("start", ""), "start"),
                end=rosters.parse_hhmm(data.get("end", ""), "end"), name=data.get("name", ""),
                actor=me.actor,
                valid_from=fields.day(data["valid_from"]) if dated else None,
                valid_to=fields.day(data["valid_to"]) if data.get("valid_to") else None,
            )  # fmt: skip
    except versions.Conflict as exc:
        days = ",".join(WEEKDAYS[d] for d in weekdays if 0 <= d <= 6)
        yours = f"+ {days} {data.get('start', '')}–{data.get('end', '')} {data.get('name', '')}"
        return await conflict_page(request, exc, yours)
    except ValueError:
        return await page(request, error_text(ApiError("validation_failed", detail="date")))
    except ApiError as exc:
        return await page(request, error_text(exc))
    return redirect("/admin/schedules", "created")


async def remove_rule(request: Request) -> Response:
    me = await require_role(request, ORG_ADMINS)
    where = await resolve_scope(request, me, monthly=False)
    data = await form_data(request)
    try:
        async with _guarded(request, where.agency_id, data):
            await rosters.remove_work_rule(
                AppState.of(request).db, rule_id=request.path_params["rule_id"],
                agency_id=where.agency_id, actor=me.actor,
            )  # fmt: skip
    except versions.Conflict as exc:
        gone = [r for r in exc.current["rows"] if r["id"] == request.path_params["rule_id"]]
        yours = "− " + (describe_rules(gone) if gone else f"#{request.path_params['rule_id']}")
        return await conflict_page(request, exc, yours)
    except ApiError as exc:
        return await page(request, error_text(exc))
    return redirect("/admin/schedules", "saved")


async def add_shift(request: Request) -> Response:
    me = await require_role(request, WRITERS)
    where = await resolve_scope(request, me, monthly=False)
    db = AppState.of(request).db
    data = await form_data(request)
    allowed = list(
        await db.fetch_all(sa.select(units.c.id).where(units.c.agency_id == where.agency_id))
    )
    try:
        await rosters.create_shift(
            db, agency_id=where.agency_id,
            unit_id=_unit(data.get("unit_id", ""), allowed, me.unit_id),
            code=data.get("code", ""), name=data.get("name", ""),
            start=rosters.parse_hhmm(data.get("start", ""), "start"),
            end=rosters.parse_hhmm(data.get("end", ""), "end"), actor=me.actor,
        )  # fmt: skip
    except ApiError as exc:
        return await page(request, error_text(exc))
    return redirect("/admin/schedules", "created")


async def set_roster(request: Request) -> Response:
    """Put an employee on a shift (or a day off, or back to weekday hours) for a date range."""
    me = await require_role(request, WRITERS)
    db = AppState.of(request).db
    data = await form_data(request)
    try:
        employee_id = fields.lenient_int(data.get("employee_id")) or 0
        found = await db.fetch_one(
            sa.select(employees.c.id, employees.c.unit_id)
            .where(employees.c.id == employee_id)
            .where(scope.employees(me))
        )
        if found is None:
            raise HTTPException(404)
        start = fields.day(data.get("start", ""))
        end = fields.day(data.get("end", "") or data.get("start", ""))
        if end < start:
            raise ApiError("validation_failed", detail="the end date is before the start date")
        days = [start + timedelta(days=i) for i in range((end - start).days + 1)]
        choice = data.get("shift", "")
        if choice == "weekday":
            await rosters.clear_roster(db, employee_id=employee_id, days=days, actor=me.actor)
        else:
            shift_id = fields.lenient_int(choice)
            if choice not in ("", "off") and not await _shift_for(db, me, shift_id, found):
                raise ApiError("not_found", detail="shift")
            await rosters.set_roster(
                db, employee_id=employee_id, days=days, shift_id=shift_id, actor=me.actor
            )
    except ValueError:
        return await page(request, error_text(ApiError("validation_failed", detail="date")))
    except ApiError as exc:
        return await page(request, error_text(exc))
    return redirect(f"/admin/schedules?month={start:%Y-%m}", "saved")
