"""E-Activity in the console: a unit's validation overview with bulk approval, an employee's
diary month, the month's entries as CSV/XLSX, and the SKP targets import."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from backend import activities, exports, recaps, skp
from backend.activities import Decision, Status
from backend.admin import scope
from backend.admin.pages import redirect, render
from backend.admin.presence import error_text
from backend.admin.recaps import Scope, now, resolve_scope
from backend.admin.security import READERS, WRITERS, Principal, require_role
from backend.db import activity_days, activity_entries, employees, units
from backend.errors import ApiError
from backend.i18n import gettext
from backend.state import AppState
from backend.templating import current_language

MAX_UPLOAD = 2 * 1024 * 1024


def _today(request: Request) -> date:
    return now(request).astimezone(ZoneInfo(recaps.DEFAULT_TZ)).date()


def _people(me: Principal, where: Scope) -> sa.Select[Any]:
    query = (
        sa.select(employees.c.id, employees.c.nip, employees.c.name, units.c.name.label("unit"))
        .select_from(employees.join(units))
        .where(scope.employees(me))
        .where(units.c.agency_id == where.agency_id)
    )
    if where.unit_id is not None:
        query = query.where(employees.c.unit_id == where.unit_id)
    return query


async def overview_page(request: Request, form_error: str | None = None) -> Response:
    me = await require_role(request, READERS)
    where = await resolve_scope(request, me, monthly=True)
    db = AppState.of(request).db
    people = _people(me, where).subquery()
    rows = await db.fetch_all(
        sa.select(activity_days, people.c.nip, people.c.name, people.c.unit)
        .select_from(activity_days.join(people, people.c.id == activity_days.c.employee_id))
        .where(activity_days.c.day.between(where.start, where.end))
        .order_by(people.c.name, activity_days.c.day)
    )
    today = _today(request)
    summary: dict[str, dict[str, Any]] = {}
    pending = []
    for r in rows:
        s = summary.setdefault(
            r["nip"], {"id": r["employee_id"], "name": r["name"], "unit": r["unit"]}
        )
        s[r["status"]] = s.get(r["status"], 0) + 1
        s["minutes"] = s.get("minutes", 0) + (r["approved_minutes"] or 0)
        if r["status"] == Status.SUBMITTED.value:
            due = r["validation_due"]
            pending.append({**dict(r._mapping), "overdue": due is not None and today > due})
    return render(
        request,
        "admin/activities.html",
        {
            "month": f"{where.start:%Y-%m}",
            "unit_id": where.unit_id,
            "summary": sorted(summary.items(), key=lambda s: s[1]["name"]),
            "pending": pending,
            "statuses": [s.value for s in Status],
            "form_error": form_error,
        },
        status_code=400 if form_error else 200,
    )


async def bulk_approve(request: Request) -> Response:
    """Approve the chosen submitted days as claimed (the unit operator's console)."""
    me = await require_role(request, WRITERS)
    form = await request.form()
    wanted = [int(v) for v in form.getlist("day") if isinstance(v, str) and v.isdigit()]
    state = AppState.of(request)
    allowed = {
        r["id"]
        for r in await state.db.fetch_all(
            sa.select(activity_days.c.id)
            .select_from(activity_days.join(employees))
            .where(activity_days.c.id.in_(wanted))
            .where(scope.employees(me))
        )
    }
    if not wanted or set(wanted) - allowed:
        return await overview_page(request, error_text(ApiError("not_found", detail="day")))
    decision = Decision("approve", "", None)
    try:
        for day_id in sorted(allowed):
            await activities.decide_activity(
                state.db,
                state.settings,
                day_id=day_id,
                decision=decision,
                actor=me.actor,
                approver_employee_id=None,
            )
    except ApiError as exc:
        return await overview_page(request, error_text(exc))
    return redirect(f"/admin/activities?{request.url.query}", "saved")


async def employee_page(request: Request) -> Response:
    me = await require_role(request, READERS)
    where = await resolve_scope(request, me, monthly=True)
    db = AppState.of(request).db
    employee_id = request.path_params["employee_id"]
    person = await db.fetch_one(_people(me, where).where(employees.c.id == employee_id))
    if person is None:
        raise HTTPException(404)
    days = await activities.month(db, employee_id, where.start, where.end)
    return render(
        request,
        "admin/activities_employee.html",
        {"person": person, "days": days, "month": f"{where.start:%Y-%m}"},
    )


async def entries_sheet(request: Request, me: Principal, where: Scope, lang: str) -> Any:
    db = AppState.of(request).db
    people = _people(me, where).subquery()
    rows = await db.fetch_all(
        sa.select(
            people.c.nip,
            people.c.name,
            people.c.unit,
            activity_days.c.day,
            activity_days.c.status,
            activity_days.c.minutes,
            activity_days.c.approved_minutes,
            activity_entries,
        )
        .select_from(
            activity_days.join(people, people.c.id == activity_days.c.employee_id).join(
                activity_entries, activity_entries.c.activity_day_id == activity_days.c.id
            )
        )
        .where(activity_days.c.day.between(where.start, where.end))
        .order_by(people.c.name, activity_days.c.day, activity_entries.c.position)
    )
    columns = [
        "NIP",
        gettext(lang, "Name"),
        gettext(lang, "Unit"),
        gettext(lang, "Date"),
        gettext(lang, "Status"),
        gettext(lang, "Start"),
        gettext(lang, "End"),
        gettext(lang, "Description"),
        gettext(lang, "Quantity"),
        gettext(lang, "Output unit"),
        gettext(lang, "SKP target"),
        gettext(lang, "Claimed minutes (day)"),
        gettext(lang, "Validated minutes (day)"),
    ]
    data = [
        [
            r["nip"],
            r["name"],
            r["unit"],
            r["day"].isoformat(),
            r["status"],
            r["start_time"].strftime("%H:%M"),
            r["end_time"].strftime("%H:%M"),
            r["description"],
            r["output_quantity"],
            r["output_unit"],
            r["target_id"] or "",
            r["minutes"],
            r["approved_minutes"],
        ]
        for r in rows
    ]
    header = exports.header_rows(
        lang,
        agency=str(where.agency_id),
        unit=None if where.unit_id is None else str(where.unit_id),
        start=where.start,
        end=where.end,
        generated=datetime.now(ZoneInfo(recaps.DEFAULT_TZ)).replace(microsecond=0),
    )
    return exports.Sheet(gettext(lang, "Activity diary"), header, columns, data)


async def export(request: Request, fmt: str) -> Response:
    me = await require_role(request, READERS)
    where = await resolve_scope(request, me, monthly=True)
    sheet = await entries_sheet(request, me, where, current_language.get())
    name = exports.filename("kegiatan", where.start, where.end, fmt)
    if fmt == "csv":
        return exports.csv_response(sheet, name)
    return await exports.xlsx_response([sheet], name)


async def export_csv(request: Request) -> Response:
    return await export(request, "csv")


async def export_xlsx(request: Request) -> Response:
    return await export(request, "xlsx")


async def targets_page(request: Request) -> Response:
    me = await require_role(request, WRITERS if request.method == "POST" else READERS)
    context: dict[str, Any] = {"report": None, "imported": None, "year": _today(request).year}
    if request.method != "POST":
        return render(request, "admin/skp_targets.html", context)
    form = await request.form()
    try:
        year_text = str(form.get("year") or "").strip()
        upload = form.get("file")
        data = await upload.read(MAX_UPLOAD + 1) if isinstance(upload, UploadFile) else b""
        named = isinstance(upload, UploadFile) and bool(upload.filename)
    finally:
        await form.close()  # the upload's temporary file
    if not (year_text.isdigit() and 2000 <= int(year_text) <= 2100):
        context["form_error"] = error_text(ApiError("validation_failed", detail="year"))
        return render(request, "admin/skp_targets.html", context, status_code=400)
    context["year"] = year = int(year_text)
    if not named:
        context["form_error"] = error_text(ApiError("validation_failed", detail="file"))
        return render(request, "admin/skp_targets.html", context, status_code=400)
    try:
        if len(data) > MAX_UPLOAD:
            raise ValueError("the file is larger than 2 MB")
        text = data.decode("utf-8-sig")
    except (UnicodeDecodeError, ValueError) as exc:
        context["form_error"] = error_text(ApiError("validation_failed", detail=str(exc)))
        return render(request, "admin/skp_targets.html", context, status_code=400)
    db = AppState.of(request).db
    report = await skp.check(db, text, scope.employees(me))
    context["report"] = report
    if not report.ok:
        return render(request, "admin/skp_targets.html", context, status_code=400)
    context["imported"] = await skp.replace(db, report, year=year, actor=me.actor)
    return render(request, "admin/skp_targets.html", context)
