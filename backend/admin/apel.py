"""Apel sessions in the console and the admin API: schedule, list, end, and who attended.

An operator (or an agency admin) schedules sessions for the offices staff can be placed in and
for the units in their scope; a unit operator sees and ends only the sessions that call no
other unit than theirs. The attendance page of a session and day, and its CSV/XLSX export,
count the way the monthly recap does (backend/recaps.py).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from backend import apel, exports, recaps
from backend.admin import fields, scope
from backend.admin.pages import form_data, redirect, render
from backend.admin.presence import error_text
from backend.admin.recaps import now
from backend.admin.security import READERS, WRITERS, Principal, request_ip, require_role
from backend.db import offices, units
from backend.errors import ApiError
from backend.i18n import LazyText, gettext
from backend.i18n import gettext_lazy as _
from backend.state import AppState
from backend.templating import current_language

WEEKDAYS: tuple[LazyText, ...] = (
    _("Monday"),
    _("Tuesday"),
    _("Wednesday"),
    _("Thursday"),
    _("Friday"),
    _("Saturday"),
    _("Sunday"),
)
STATUSES: dict[str, LazyText] = {
    "attended": _("attended"),
    "missed": _("missed"),
    "upcoming": _("not over yet"),
    "excused": _("excused (absence)"),
    "off": _("day off"),
}


async def sessions_for(request: Request, me: Principal) -> list[apel.Session]:
    """The sessions ``me`` may see and end."""
    db = AppState.of(request).db
    office_ids = [
        r[0]
        for r in await db.fetch_all(sa.select(offices.c.id).where(scope.offices_to_place_in(me)))
    ]
    found = await apel.load_sessions(db, office_ids=office_ids)
    if me.unit_id is not None:
        found = [s for s in found if s.unit_ids <= {me.unit_id}]
    return found


async def session_in_scope(request: Request, me: Principal, session_id: int) -> apel.Session:
    for s in await sessions_for(request, me):
        if s.id == session_id:
            return s
    raise HTTPException(404)


async def create_for(request: Request, me: Principal, data: Any) -> int:
    new = apel.parse_new(data)
    state = AppState.of(request)
    usable = await state.db.fetch_val(
        sa.select(offices.c.id)
        .where(offices.c.id == new.office_id)
        .where(scope.offices_to_place_in(me))
    )
    if usable is None:
        raise ApiError("validation_failed", detail="office_id: choose an office")
    session_id = await apel.create(
        state.db, new, allowed_units=scope.units(me), actor=me.actor, ip=request_ip(request)
    )
    state.hot.apel.invalidate()  # this process's displays switch at the next code
    return session_id


async def delete_for(request: Request, me: Principal, session_id: int) -> None:
    await session_in_scope(request, me, session_id)
    state = AppState.of(request)
    await apel.delete(state.db, session_id, actor=me.actor, ip=request_ip(request))
    state.hot.apel.invalidate()


def _day(request: Request, session: apel.Session) -> date:
    wanted = request.query_params.get("date")
    if wanted:
        try:
            return fields.day(wanted)
        except ValueError:
            raise ApiError("validation_failed", detail="date: YYYY-MM-DD") from None
    if session.date is not None:
        return session.date
    return now(request).astimezone(session.tz).date()


def attendance_table(
    rows: list[apel.Attendee], lang: str
) -> tuple[list[str], list[list[exports.Cell]]]:
    columns = [gettext(lang, "No."), "NIP", gettext(lang, "Name"), gettext(lang, "Unit")]
    columns += [gettext(lang, "Apel"), gettext(lang, "Time"), gettext(lang, "Entries")]
    table: list[list[exports.Cell]] = [
        [
            i,
            a.nip,
            a.name,
            a.unit_name,
            STATUSES[a.status].render(lang),
            a.at.strftime("%H:%M:%S") if a.at else None,
            a.scan_ref,
        ]
        for i, a in enumerate(rows, 1)
    ]
    return columns, table


# -- pages ----------------------------------------------------------------------------------------


async def list_page(request: Request, form_error: str | None = None) -> Response:
    me = await require_role(request, READERS)
    db = AppState.of(request).db
    found = await sessions_for(request, me)
    office_rows = await db.fetch_all(
        sa.select(offices.c.id, offices.c.name)
        .where(scope.offices_to_place_in(me))
        .order_by(offices.c.name)
    )
    unit_rows = await db.fetch_all(
        sa.select(units.c.id, units.c.name).where(scope.units(me)).order_by(units.c.name)
    )
    return render(
        request,
        "admin/apel.html",
        {
            "sessions": found,
            "offices": office_rows,
            "office_names": {r["id"]: r["name"] for r in office_rows},
            "units": unit_rows,
            "unit_names": {r["id"]: r["name"] for r in unit_rows},
            "weekdays": WEEKDAYS,
            "hhmm": apel.hhmm,
            "form_error": form_error,
        },
        status_code=400 if form_error else 200,
    )


async def add(request: Request) -> Response:
    me = await require_role(request, WRITERS)
    form = await request.form()
    data = await form_data(request)
    body: dict[str, Any] = {
        "office_id": fields.lenient_int(data.get("office_id")) or 0,
        "name": data.get("name", ""),
        "start": data.get("start", ""),
        "end": data.get("end", ""),
        "unit_ids": [fields.lenient_int(str(u)) or 0 for u in form.getlist("unit_ids")],
    }
    if data.get("date"):
        body["date"] = data["date"]
    else:
        body["weekday"] = fields.lenient_int(data.get("weekday"))
    try:
        await create_for(request, me, body)
    except ApiError as exc:
        return await list_page(request, form_error=error_text(exc))
    return redirect("/admin/apel", "created")


async def delete_page(request: Request) -> Response:
    me = await require_role(request, WRITERS)
    try:
        await delete_for(request, me, request.path_params["apel_id"])
    except ApiError as exc:
        return await list_page(request, form_error=error_text(exc))
    return redirect("/admin/apel", "saved")


async def attendance_page(request: Request) -> Response:
    me = await require_role(request, READERS)
    session = await session_in_scope(request, me, request.path_params["apel_id"])
    day = _day(request, session)
    rows = await apel.attendance(AppState.of(request).db, session, day, now=now(request))
    columns, table = attendance_table(rows, current_language.get())
    from backend.admin import charts

    return render(
        request,
        "admin/apel_attendance.html",
        {
            "session": session,
            "day": day,
            "held": session.due_on(day),
            "table": charts.table(columns, table),
            "counts": {s: sum(1 for r in rows if r.status == s) for s in STATUSES},
            "weekdays": WEEKDAYS,
            "hhmm": apel.hhmm,
        },
    )


async def attendance_export(request: Request, fmt: str) -> Response:
    me = await require_role(request, READERS)
    session = await session_in_scope(request, me, request.path_params["apel_id"])
    day = _day(request, session)
    lang = current_language.get()
    rows = await apel.attendance(AppState.of(request).db, session, day, now=now(request))
    columns, table = attendance_table(rows, lang)
    header = [
        (gettext(lang, "Apel"), session.name),
        (gettext(lang, "Date"), day.isoformat()),
        (gettext(lang, "Time"), f"{apel.hhmm(session.start)}–{apel.hhmm(session.end)}"),
        (
            gettext(lang, "Generated"),
            datetime.now(ZoneInfo(recaps.DEFAULT_TZ))
            .replace(microsecond=0)
            .isoformat(sep=" ", timespec="seconds"),
        ),
    ]
    sheet = exports.Sheet(gettext(lang, "Apel attendance"), header, columns, table)
    name = exports.filename(f"apel-{session.name}", day, day, fmt)
    if fmt == "csv":
        return exports.csv_response(sheet, name)
    return await exports.xlsx_response([sheet], name)


async def attendance_csv(request: Request) -> Response:
    return await attendance_export(request, "csv")


async def attendance_xlsx(request: Request) -> Response:
    return await attendance_export(request, "xlsx")


# -- admin API ------------------------------------------------------------------------------------


async def api_list(request: Request, me: Principal) -> Any:
    return {"items": [apel.as_json(s) for s in await sessions_for(request, me)]}


async def api_create(request: Request, me: Principal) -> Any:
    from backend.admin.api import body_of

    session_id = await create_for(request, me, await body_of(request))
    return apel.as_json(await session_in_scope(request, me, session_id))


async def api_delete(request: Request, me: Principal) -> Any:
    await delete_for(request, me, request.path_params["apel_id"])
    return {"id": request.path_params["apel_id"], "deleted": True}


async def api_attendance(request: Request, me: Principal) -> Any:
    session = await session_in_scope(request, me, request.path_params["apel_id"])
    day = _day(request, session)
    rows = await apel.attendance(AppState.of(request).db, session, day, now=now(request))
    return {
        "apel": apel.as_json(session),
        "date": day.isoformat(),
        "held": session.due_on(day),
        "items": [
            {
                "nip": a.nip,
                "name": a.name,
                "unit": a.unit_name,
                "status": a.status,
                "scan": a.scan_ref,
                "at": a.at.isoformat(timespec="seconds") if a.at else None,
            }
            for a in rows
        ],
    }
