"""Presence log (filters, paging, exports), an employee's month, and review: approving or
rejecting pending scans and adding corrections — always new entries, never edits."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any
from urllib.parse import urlencode

import sqlalchemy as sa
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from backend import exports, presence, recaps, review, tpp
from backend.admin import fields, scope
from backend.admin.pages import Pager, form_data, page_number, redirect, render
from backend.admin.recaps import now as current_time
from backend.admin.recaps import resolve_scope
from backend.admin.security import READERS, WRITERS, Principal, require_role
from backend.db import agencies, checkins, employees, units
from backend.errors import ERRORS, ApiError
from backend.state import AppState
from backend.templating import current_language

PER_PAGE = 50


def error_text(exc: ApiError) -> str:
    message = ERRORS[exc.code][1].render(current_language.get())
    return f"{message} ({exc.detail})" if exc.detail else message


def _filter(
    request: Request, me: Principal, agency_id: int, start: date, end: date
) -> presence.LogFilter:
    params = request.query_params
    unit_id = me.unit_id or fields.lenient_int(params.get("unit"))
    employee_id = fields.lenient_int(params.get("employee"))
    return presence.LogFilter(
        agency_id=agency_id,
        start=start,
        end=end,
        unit_id=unit_id,
        employee_id=employee_id,
        status=params.get("status") or None,
        flag=params.get("flag") or None,
    )


async def log_page(request: Request) -> Response:
    me = await require_role(request, READERS)
    where = await resolve_scope(request, me, monthly=False)
    f = _filter(request, me, where.agency_id, where.start, where.end)
    number = page_number(request)
    rows, total = await presence.page(AppState.of(request).db, f, number=number, size=PER_PAGE)
    params = {k: v for k, v in request.query_params.items() if k not in ("page", "done")}
    return render(
        request,
        "admin/presence.html",
        {
            "rows": rows,
            "pager": Pager(number, PER_PAGE, total, params),
            "f": f,
            "units": await _units(request, where.agency_id, me),
            "statuses": presence.STATUSES,
            "flags": presence.FLAGS,
            "query": urlencode(params),
        },
    )


async def log_csv(request: Request) -> Response:
    return await log_export(request, "csv")


async def log_xlsx(request: Request) -> Response:
    return await log_export(request, "xlsx")


async def log_export(request: Request, fmt: str) -> Response:
    me = await require_role(request, READERS)
    where = await resolve_scope(request, me, monthly=False)
    f = _filter(request, me, where.agency_id, where.start, where.end)
    db = AppState.of(request).db
    lang = current_language.get()
    agency = await db.fetch_val(sa.select(agencies.c.name).where(agencies.c.id == where.agency_id))
    unit = None
    if f.unit_id is not None:
        unit = await db.fetch_val(sa.select(units.c.name).where(units.c.id == f.unit_id))
    header = exports.header_rows(
        lang, agency=agency or "", unit=unit, start=f.start, end=f.end,
        generated=current_time(request).astimezone(recaps.ZoneInfo(recaps.DEFAULT_TZ)).replace(microsecond=0),
    )  # fmt: skip
    sheet = exports.Sheet(
        "Presensi", header, exports.log_columns(lang), exports.log_rows(presence.iterate(db, f))
    )
    name = exports.filename(f"presensi-{unit or agency}", f.start, f.end, fmt)
    if fmt == "csv":
        return exports.csv_response(sheet, name)
    return await exports.xlsx_response([sheet], name)


async def _units(request: Request, agency_id: int, me: Principal) -> list[Any]:
    query = sa.select(units.c.id, units.c.name).where(units.c.agency_id == agency_id)
    if me.unit_id is not None:
        query = query.where(units.c.id == me.unit_id)
    return list(await AppState.of(request).db.fetch_all(query.order_by(units.c.name)))


async def _employee(request: Request, me: Principal, employee_id: int) -> Any:
    row = await AppState.of(request).db.fetch_one(
        sa.select(
            employees.c.id,
            employees.c.nip,
            employees.c.name,
            employees.c.unit_id,
            units.c.agency_id,
        )
        .select_from(employees.join(units))
        .where(employees.c.id == employee_id)
        .where(scope.employees(me))
    )
    if row is None:
        raise HTTPException(404)
    return row


async def employee_month(request: Request, form_error: str | None = None) -> Response:
    """One employee's month: each day's verdict with its entries, the TPP lines, the forms."""
    me = await require_role(request, READERS)
    person = await _employee(request, me, request.path_params["employee_id"])
    where = await resolve_scope(request, me, monthly=True)
    db = AppState.of(request).db
    recap = await recaps.compute(
        db, agency_id=person["agency_id"], employee_id=person["id"],
        start=where.start, end=where.end, now=current_time(request),
    )  # fmt: skip
    rules = await tpp.rules_for(db, person["agency_id"])
    emp = recap.employees[0] if recap.employees else None
    log, _total = await presence.page(
        db,
        presence.LogFilter(
            agency_id=person["agency_id"],
            start=where.start,
            end=where.end,
            employee_id=person["id"],
        ),
        size=presence.MAX_PAGE,
    )
    return render(
        request,
        "admin/presence_employee.html",
        {
            "person": person,
            "emp": emp,
            "counts": emp.counts() if emp else {},
            "tpp": tpp.deductions(emp, rules) if emp else None,
            "percent": tpp.percent,
            "labels": tpp.LABELS,
            "log": log,
            "month": f"{where.start:%Y-%m}",
            "form_error": form_error,
        },
        status_code=400 if form_error else 200,
    )


async def correct(request: Request) -> Response:
    me = await require_role(request, WRITERS)
    person = await _employee(request, me, request.path_params["employee_id"])
    data = await form_data(request)
    try:
        day = _date(data.get("day", ""))
        moment = _clock(data.get("time", ""))
        if data.get("next_day") == "1":
            day_of_clock = date.fromordinal(day.toordinal() + 1)
            tz = await review.employee_timezone(AppState.of(request).db, person["id"])
            at: time | datetime = datetime.combine(day_of_clock, moment, tz)
        else:
            at = moment
        replaces = fields.lenient_int(data.get("replaces"))
        if data.get("replaces") and replaces is None:
            raise ApiError("validation_failed", detail="replaces: a scan number")
        await review.correct(
            AppState.of(request).db, employee_id=person["id"], day=day, kind=data.get("kind", ""),
            at=at, reason=data.get("reason", ""), actor=me.actor, replaces_checkin_id=replaces,
        )  # fmt: skip
    except ApiError as exc:
        return await employee_month(request, form_error=error_text(exc))
    return redirect(f"/admin/presence/employees/{person['id']}?month={day:%Y-%m}", "saved")


async def decide(request: Request) -> Response:
    me = await require_role(request, WRITERS)
    checkin_id = request.path_params["checkin_id"]
    db = AppState.of(request).db
    owner = await db.fetch_one(
        sa.select(checkins.c.employee_id, checkins.c.local_date)
        .select_from(checkins.join(employees))
        .where(checkins.c.id == checkin_id)
        .where(scope.employees(me))
    )
    if owner is None:
        raise HTTPException(404)
    data = await form_data(request)
    back = data.get("back", "")
    if not back.startswith("/admin/") or back.startswith("//"):
        back = "/admin/review"
    try:
        await review.decide(
            db, checkin_id=checkin_id, decision=data.get("decision", ""),
            reason=data.get("reason", ""), actor=me.actor,
        )  # fmt: skip
    except ApiError as exc:
        return await review_page(request, form_error=error_text(exc))
    return redirect(back, "saved")


async def review_page(request: Request, form_error: str | None = None) -> Response:
    """Scans waiting for a decision, oldest first."""
    me = await require_role(request, READERS)
    where = await resolve_scope(request, me, monthly=False)
    db = AppState.of(request).db
    ids = await review.pending(db, agency_id=where.agency_id, unit_id=me.unit_id)
    rows: list[presence.LogRow] = []
    if ids:
        oldest = await db.fetch_val(
            sa.select(sa.func.min(checkins.c.local_date)).where(checkins.c.id.in_(ids[:200]))
        )
        newest = await db.fetch_val(
            sa.select(sa.func.max(checkins.c.local_date)).where(checkins.c.id.in_(ids[:200]))
        )
        found, _ = await presence.page(
            db,
            presence.LogFilter(
                agency_id=where.agency_id,
                start=oldest,
                end=newest,
                unit_id=me.unit_id,
                status="pending_review",
            ),
            size=presence.MAX_PAGE,
        )
        rows = sorted(found, key=lambda r: r.at)
    return render(
        request, "admin/review.html", {"rows": rows, "form_error": form_error},
        status_code=400 if form_error else 200,
    )  # fmt: skip


def _date(value: str) -> date:
    try:
        return fields.day(value)
    except ValueError:
        raise ApiError("validation_failed", detail="date: YYYY-MM-DD") from None


def _clock(value: str) -> time:
    try:
        return time.fromisoformat(value).replace(second=0, microsecond=0)
    except ValueError:
        raise ApiError("validation_failed", detail="time: HH:MM") from None
