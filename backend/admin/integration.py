"""The admin API's records for other systems (issue 14): check-ins, reviews, corrections,
absences, holidays, schedules, recaps and deductions, the changes feed and webhooks.

Same rules as ``backend.admin.api``: an API token (or a console session), the role and scope
of the console, the JSON error envelope. Lists are keyset-paged (``cursor``/``limit``, the
answer's ``next``; ``null`` at the end) in a stable order (by id), answer ``ETag`` and honour
``If-None-Match``, and come as CSV with ``Accept: text/csv`` (the same columns as the JSON
fields; the CSV streams every matching row from the cursor on).
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import date, datetime, time
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from backend import absences as absence_entries
from backend import activity_recap, changes, csvsafe, recaps, review, tpp, webhooks
from backend import holidays as holiday_calendar
from backend.admin import fields, scope
from backend.admin import recaps as admin_recaps
from backend.admin.api import body_of, endpoint
from backend.admin.recaps import now as current_time
from backend.admin.security import ORG_ADMINS, READERS, WRITERS, Principal, request_ip
from backend.db import (
    absences,
    activity_days,
    agencies,
    as_utc,
    checkin_reviews,
    checkins,
    corrections,
    delegations,
    devices,
    displays,
    employees,
    holidays,
    offices,
    roster_entries,
    shifts,
    staff_requests,
    units,
    work_schedules,
)
from backend.errors import ApiError
from backend.state import AppState

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
STREAM_BATCH = 2000


@lru_cache(maxsize=64)
def zone(name: str | None) -> ZoneInfo:
    return ZoneInfo(name or recaps.DEFAULT_TZ)


def iso(value: Any, tz: str | None = None) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return as_utc(value).astimezone(zone(tz)).isoformat()
    return str(value.isoformat())


# -- query parameters -----------------------------------------------------------------------


def param_day(request: Request, name: str, required: bool = False) -> date | None:
    value = request.query_params.get(name, "")
    if not value:
        if required:
            raise ApiError("validation_failed", detail=f"{name}: required (YYYY-MM-DD)")
        return None
    try:
        return fields.day(value)
    except ValueError:
        raise ApiError("validation_failed", detail=f"{name}: a date as YYYY-MM-DD") from None


def param_int(request: Request, name: str, maximum: int = fields.MAX_ID) -> int | None:
    value = request.query_params.get(name, "")
    if value == "":
        return None
    number = fields.lenient_int(value, maximum=maximum)
    if number is None:
        raise ApiError("validation_failed", detail=f"{name}: a whole number up to {maximum}")
    return number


def limit_of(request: Request) -> int:
    value = param_int(request, "limit", MAX_LIMIT)
    return max(1, value) if value is not None else DEFAULT_LIMIT


def cursor_of(request: Request) -> int:
    return param_int(request, "cursor", 2**62) or 0


def wants_csv(request: Request) -> bool:
    return "text/csv" in request.headers.get("accept", "")


def etagged(request: Request, body: Any) -> Response:
    """JSON with a strong ETag of its bytes; 304 when the client has it already."""
    raw = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
    tag = '"' + hashlib.sha256(raw).hexdigest()[:32] + '"'
    if tag in [t.strip() for t in request.headers.get("if-none-match", "").split(",")]:
        return Response(status_code=304, headers={"ETag": tag})
    return Response(raw, media_type="application/json", headers={"ETag": tag})


def csv_stream(columns: Sequence[str], rows: AsyncIterator[dict[str, Any]], name: str) -> Response:
    def cell(value: Any) -> Any:
        if isinstance(value, list | tuple):
            return ";".join(str(v) for v in value)
        if isinstance(value, dict):
            return json.dumps(value, ensure_ascii=False)
        return value

    async def chunks() -> AsyncIterator[bytes]:
        out = io.StringIO()
        out.write("\ufeff")
        writer = csvsafe.writer(out)
        writer.writerow(columns)
        count = 0
        async for item in rows:
            writer.writerow([cell(item.get(c)) for c in columns])
            count += 1
            if count % 500 == 0:
                yield out.getvalue().encode()
                out.seek(0)
                out.truncate()
        yield out.getvalue().encode()

    return StreamingResponse(
        chunks(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
    )


async def listing(
    request: Request,
    query: sa.Select[Any],
    key: Any,
    convert: Callable[[Any], dict[str, Any]],
    columns: Sequence[str],
    name: str,
) -> Response:
    """A keyset-paged list (by ``key``, ascending), or its CSV stream."""
    db = AppState.of(request).db
    after = cursor_of(request)
    if wants_csv(request):

        async def every() -> AsyncIterator[dict[str, Any]]:
            last = after
            while True:
                rows = await db.fetch_all(query.where(key > last).order_by(key).limit(STREAM_BATCH))
                for r in rows:
                    yield convert(r)
                if len(rows) < STREAM_BATCH:
                    return
                last = rows[-1][key.name]

        return csv_stream(columns, every(), name)
    limit = limit_of(request)
    rows = await db.fetch_all(query.where(key > after).order_by(key).limit(limit + 1))
    more = len(rows) > limit
    rows = rows[:limit]
    items = [convert(r) for r in rows]
    following = str(rows[-1][key.name]) if more and rows else None
    return etagged(request, {"items": items, "next": following})


# -- check-ins ------------------------------------------------------------------------------

replaced = corrections.alias("replaced")
STATUS = sa.case(
    (replaced.c.id.is_not(None), "corrected"),
    (checkin_reviews.c.decision == "rejected", "rejected"),
    (checkin_reviews.c.decision == "approved", "accepted"),
    else_=checkins.c.status,
)
CHECKIN_COLUMNS = [
    "id",
    "nip",
    "name",
    "unit_id",
    "unit",
    "office_id",
    "office",
    "display_id",
    "display",
    "at",
    "local_date",
    "kind",
    "late_minutes",
    "category",
    "status",
    "flags",
    "review",
    "corrections",
]


def checkin_query() -> sa.Select[Any]:
    return sa.select(
        checkins.c.id,
        employees.c.nip,
        employees.c.name,
        employees.c.unit_id,
        units.c.name.label("unit"),
        units.c.agency_id,
        checkins.c.office_id,
        offices.c.name.label("office"),
        offices.c.timezone,
        checkins.c.display_id,
        displays.c.name.label("display"),
        checkins.c.at,
        checkins.c.local_date,
        checkins.c.kind,
        checkins.c.late_minutes,
        checkins.c.category,
        STATUS.label("status"),
        checkins.c.flags,
        checkin_reviews.c.decision.label("review_decision"),
        checkin_reviews.c.reason.label("review_reason"),
        checkin_reviews.c.actor.label("review_actor"),
        checkin_reviews.c.at.label("review_at"),
        replaced.c.id.label("correction_id"),
        replaced.c.kind.label("correction_kind"),
        replaced.c.at.label("correction_at"),
        replaced.c.reason.label("correction_reason"),
        replaced.c.actor.label("correction_actor"),
    ).select_from(
        checkins.join(employees, employees.c.id == checkins.c.employee_id)
        .join(units, units.c.id == employees.c.unit_id)
        .join(offices, offices.c.id == checkins.c.office_id)
        .join(displays, displays.c.id == checkins.c.display_id)
        .outerjoin(checkin_reviews, checkin_reviews.c.checkin_id == checkins.c.id)
        .outerjoin(replaced, replaced.c.replaces_checkin_id == checkins.c.id)
    )


def checkin_view(r: Any) -> dict[str, Any]:
    tz = r["timezone"]
    review_ = None
    if r["review_decision"] is not None:
        review_ = {
            "decision": r["review_decision"],
            "reason": r["review_reason"],
            "actor": r["review_actor"],
            "at": iso(r["review_at"], tz),
        }
    fixes = []
    if r["correction_id"] is not None:
        fixes.append(
            {
                "id": r["correction_id"],
                "kind": r["correction_kind"],
                "at": iso(r["correction_at"], tz),
                "reason": r["correction_reason"],
                "actor": r["correction_actor"],
            }
        )
    return {
        "id": r["id"],
        "nip": r["nip"],
        "name": r["name"],
        "unit_id": r["unit_id"],
        "unit": r["unit"],
        "office_id": r["office_id"],
        "office": r["office"],
        "display_id": r["display_id"],
        "display": r["display"],
        "at": iso(r["at"], tz),
        "local_date": iso(r["local_date"]),
        "kind": r["kind"],
        "late_minutes": r["late_minutes"],
        "category": r["category"],
        "status": r["status"],
        "flags": [f for f in (r["flags"] or "").split(",") if f],
        "review": review_,
        "corrections": fixes,
    }


def _scoped_employee_filters(request: Request, me: Principal, query: Any) -> Any:
    query = query.where(scope.employees(me))
    unit_id = param_int(request, "unit_id")
    if unit_id is not None:
        query = query.where(employees.c.unit_id == unit_id)
    nip = request.query_params.get("nip", "")
    if nip:
        query = query.where(employees.c.nip == nip.strip())
    return query


async def list_checkins(request: Request, me: Principal) -> Any:
    query = _scoped_employee_filters(request, me, checkin_query())
    start, end = param_day(request, "from"), param_day(request, "to")
    if start is not None:
        query = query.where(checkins.c.local_date >= start)
    if end is not None:
        query = query.where(checkins.c.local_date <= end)
    status = request.query_params.get("status", "")
    if status:
        if status not in review.STATUSES:
            raise ApiError(
                "validation_failed", detail=f"status: one of {', '.join(review.STATUSES)}"
            )
        query = query.where(STATUS == status)
    flag = request.query_params.get("flag", "")
    if flag:
        from backend.presence import FLAGS

        if flag not in FLAGS:
            raise ApiError("validation_failed", detail=f"flag: one of {', '.join(FLAGS)}")
        query = query.where(
            ("," + checkins.c.flags + ",").like(sa.bindparam("flag_like", f"%,{flag},%"))
        )
    return await listing(request, query, checkins.c.id, checkin_view, CHECKIN_COLUMNS, "checkins")


async def render_checkins(db: Any, ids: Sequence[str]) -> changes.Rendered:
    rows = await db.fetch_all(checkin_query().where(checkins.c.id.in_([int(i) for i in ids])))
    return {str(r["id"]): (checkin_view(r), r["agency_id"], r["unit_id"]) for r in rows}


# -- reviews and corrections ----------------------------------------------------------------


async def list_reviews(request: Request, me: Principal) -> Any:
    query = _scoped_employee_filters(request, me, checkin_query())
    query = query.where(checkins.c.status == "pending_review").where(checkin_reviews.c.id.is_(None))
    return await listing(request, query, checkins.c.id, checkin_view, CHECKIN_COLUMNS, "reviews")


async def _checkin_in_scope(request: Request, me: Principal, checkin_id: int) -> Any:
    row = await AppState.of(request).db.fetch_one(
        sa.select(checkins.c.id, checkins.c.employee_id)
        .select_from(checkins.join(employees).join(units))
        .where(checkins.c.id == checkin_id)
        .where(scope.employees(me))
    )
    if row is None:
        raise HTTPException(404)
    return row


async def decide_review(request: Request, me: Principal) -> Any:
    checkin_id: int = request.path_params["checkin_id"]
    await _checkin_in_scope(request, me, checkin_id)
    data = await body_of(request)
    decision = {"approve": "approved", "reject": "rejected"}.get(str(data.get("decision")))
    if decision is None:
        raise ApiError("validation_failed", detail="decision: approve or reject")
    reason = data.get("reason") or ""
    if not isinstance(reason, str):
        raise ApiError("validation_failed", detail="reason: text")
    db = AppState.of(request).db
    await review.decide(db, checkin_id=checkin_id, decision=decision, reason=reason, actor=me.actor)
    rendered = await render_checkins(db, [str(checkin_id)])
    return rendered[str(checkin_id)][0]


async def _employee_by_nip(request: Request, me: Principal, nip: Any) -> Any:
    if not isinstance(nip, str) or not nip.strip():
        raise ApiError("validation_failed", detail="nip: required, as a string")
    row = await AppState.of(request).db.fetch_one(
        sa.select(employees.c.id, employees.c.nip, employees.c.unit_id, units.c.agency_id)
        .select_from(employees.join(units))
        .where(employees.c.nip == nip.strip())
        .where(scope.employees(me))
    )
    if row is None:
        raise ApiError("not_found", detail="employee")
    return row


def _json_day(data: dict[str, Any], name: str) -> date:
    try:
        return fields.day(data.get(name))
    except ValueError:
        raise ApiError("validation_failed", detail=f"{name}: a date as YYYY-MM-DD") from None


CORRECTION_COLUMNS = "id nip name date kind at replaces_checkin_id reason actor created_at".split()


def correction_query() -> sa.Select[Any]:
    return sa.select(
        corrections,
        employees.c.nip,
        employees.c.name,
        employees.c.unit_id,
        units.c.agency_id,
        offices.c.timezone,
    ).select_from(
        corrections.join(employees, employees.c.id == corrections.c.employee_id)
        .join(units, units.c.id == employees.c.unit_id)
        .outerjoin(offices, offices.c.id == employees.c.office_id)
    )


def correction_view(r: Any) -> dict[str, Any]:
    tz = r["timezone"]
    return {
        "id": r["id"],
        "nip": r["nip"],
        "name": r["name"],
        "date": iso(r["local_date"]),
        "kind": r["kind"],
        "at": iso(r["at"], tz),
        "replaces_checkin_id": r["replaces_checkin_id"],
        "reason": r["reason"],
        "actor": r["actor"],
        "created_at": iso(r["created_at"], tz),
    }


async def list_corrections(request: Request, me: Principal) -> Any:
    query = _scoped_employee_filters(request, me, correction_query())
    start, end = param_day(request, "from"), param_day(request, "to")
    if start is not None:
        query = query.where(corrections.c.local_date >= start)
    if end is not None:
        query = query.where(corrections.c.local_date <= end)
    return await listing(
        request, query, corrections.c.id, correction_view, CORRECTION_COLUMNS, "corrections"
    )


async def render_corrections(db: Any, ids: Sequence[str]) -> changes.Rendered:
    rows = await db.fetch_all(correction_query().where(corrections.c.id.in_([int(i) for i in ids])))
    return {str(r["id"]): (correction_view(r), r["agency_id"], r["unit_id"]) for r in rows}


async def create_correction(request: Request, me: Principal) -> Any:
    data = await body_of(request)
    person = await _employee_by_nip(request, me, data.get("nip"))
    day = _json_day(data, "date")
    at_text = data.get("at")
    try:
        at = datetime.fromisoformat(at_text) if isinstance(at_text, str) else None
    except ValueError:
        at = None
    if at is None or at.tzinfo is None:
        raise ApiError("validation_failed", detail="at: ISO 8601 with an offset")
    replaces = data.get("replaces_checkin_id")
    if replaces is not None and (isinstance(replaces, bool) or not isinstance(replaces, int)):
        raise ApiError("validation_failed", detail="replaces_checkin_id: a scan's id")
    reason = data.get("reason")
    db = AppState.of(request).db
    correction_id = await review.correct(
        db,
        employee_id=person["id"],
        day=day,
        kind=str(data.get("kind")),
        at=at,
        reason=reason if isinstance(reason, str) else "",
        actor=me.actor,
        replaces_checkin_id=replaces,
    )
    rendered = await render_corrections(db, [str(correction_id)])
    return rendered[str(correction_id)][0]


# -- absences -------------------------------------------------------------------------------

ABSENCE_COLUMNS = (
    "id nip name kind start_date end_date reference note created_by created_at cancelled_at"
    " cancelled_by"
).split()


def absence_query() -> sa.Select[Any]:
    return sa.select(
        absences, employees.c.nip, employees.c.name, employees.c.unit_id, units.c.agency_id
    ).select_from(
        absences.join(employees, employees.c.id == absences.c.employee_id).join(
            units, units.c.id == employees.c.unit_id
        )
    )


def absence_view(r: Any) -> dict[str, Any]:
    return {
        "id": r["id"],
        "nip": r["nip"],
        "name": r["name"],
        "kind": r["kind"],
        "start_date": iso(r["start_date"]),
        "end_date": iso(r["end_date"]),
        "reference": r["attachment"],
        "note": r["note"],
        "created_by": r["created_by"],
        "created_at": iso(r["created_at"]),
        "cancelled_at": iso(r["cancelled_at"]),
        "cancelled_by": r["cancelled_by"],
    }


async def list_absences(request: Request, me: Principal) -> Any:
    query = _scoped_employee_filters(request, me, absence_query())
    start, end = param_day(request, "from"), param_day(request, "to")
    if start is not None:
        query = query.where(absences.c.end_date >= start)
    if end is not None:
        query = query.where(absences.c.start_date <= end)
    return await listing(request, query, absences.c.id, absence_view, ABSENCE_COLUMNS, "absences")


async def render_absences(db: Any, ids: Sequence[str]) -> changes.Rendered:
    rows = await db.fetch_all(absence_query().where(absences.c.id.in_([int(i) for i in ids])))
    return {str(r["id"]): (absence_view(r), r["agency_id"], r["unit_id"]) for r in rows}


async def create_absence(request: Request, me: Principal) -> Any:
    data = await body_of(request)
    person = await _employee_by_nip(request, me, data.get("nip"))
    reference = data.get("reference") or ""
    if not isinstance(reference, str):
        raise ApiError("validation_failed", detail="reference: text")
    db = AppState.of(request).db
    absence_id = await absence_entries.add(
        db,
        employee_id=person["id"],
        kind=str(data.get("kind")),
        start=_json_day(data, "start_date"),
        end=_json_day(data, "end_date"),
        actor=me.actor,
        attachment=reference,
    )
    return (await render_absences(db, [str(absence_id)]))[str(absence_id)][0]


async def cancel_absence(request: Request, me: Principal) -> Any:
    absence_id: int = request.path_params["absence_id"]
    db = AppState.of(request).db
    row = await db.fetch_one(
        absence_query().where(absences.c.id == absence_id).where(scope.employees(me))
    )
    if row is None:
        raise HTTPException(404)
    await absence_entries.cancel(db, absence_id=absence_id, actor=me.actor)
    return (await render_absences(db, [str(absence_id)]))[str(absence_id)][0]


# -- holidays, schedules, shifts, rosters ---------------------------------------------------

HOLIDAY_COLUMNS = "id agency_id date name kind source active updated_by updated_at".split()


def holiday_view(r: Any) -> dict[str, Any]:
    return {
        "id": r["id"],
        "agency_id": r["agency_id"],
        "date": iso(r["day"]),
        "name": r["name"],
        "kind": r["kind"],
        "source": r["source"],
        "active": bool(r["active"]),
        "updated_by": r["updated_by"],
        "updated_at": iso(r["updated_at"]),
    }


async def list_holidays(request: Request, me: Principal) -> Any:
    query = sa.select(holidays).where(
        sa.true() if me.is_super else holidays.c.agency_id == me.agency_id
    )
    agency_id = param_int(request, "agency_id")
    if agency_id is not None:
        query = query.where(holidays.c.agency_id == agency_id)
    year = param_int(request, "year", 9999)
    if year is not None:
        query = query.where(
            holidays.c.day.between(date(max(year, 1), 1, 1), date(max(year, 1), 12, 31))
        )
    return await listing(request, query, holidays.c.id, holiday_view, HOLIDAY_COLUMNS, "holidays")


async def render_holidays(db: Any, ids: Sequence[str]) -> changes.Rendered:
    rows = await db.fetch_all(holidays.select().where(holidays.c.id.in_([int(i) for i in ids])))
    return {str(r["id"]): (holiday_view(r), r["agency_id"], None) for r in rows}


async def create_holiday(request: Request, me: Principal) -> Any:
    data = await body_of(request)
    agency_id = (
        fields.int_or_none(data.get("agency_id"))
        if not isinstance(data.get("agency_id"), bool)
        else None
    )
    if me.agency_id is not None:
        agency_id = agency_id or me.agency_id
        if agency_id != me.agency_id:
            raise ApiError("forbidden")
    db = AppState.of(request).db
    if (
        agency_id is None
        or await db.fetch_val(sa.select(agencies.c.id).where(agencies.c.id == agency_id)) is None
    ):
        raise ApiError("validation_failed", detail="agency_id: an agency")
    name = data.get("name")
    day = _json_day(data, "date")
    await holiday_calendar.put(
        db,
        agency_id=agency_id,
        day=day,
        name=name if isinstance(name, str) else "",
        kind=str(data.get("kind") or "local"),
        actor=me.actor,
    )
    row = await db.fetch_one(
        holidays.select().where(holidays.c.agency_id == agency_id).where(holidays.c.day == day)
    )
    return holiday_view(row)


def _time(value: Any) -> str | None:
    return value.isoformat(timespec="minutes") if isinstance(value, time) else None


async def list_schedules(request: Request, me: Principal) -> Any:
    query = sa.select(work_schedules).where(scope.work_schedules(me))

    def view(r: Any) -> dict[str, Any]:
        return {
            "id": r["id"],
            "agency_id": r["agency_id"],
            "unit_id": r["unit_id"],
            "name": r["name"],
            "weekday": r["weekday"],
            "start_time": _time(r["start_time"]),
            "end_time": _time(r["end_time"]),
            "valid_from": iso(r["valid_from"]),
            "valid_to": iso(r["valid_to"]),
        }

    columns = "id agency_id unit_id name weekday start_time end_time valid_from valid_to".split()
    return await listing(request, query, work_schedules.c.id, view, columns, "schedules")


async def list_shifts(request: Request, me: Principal) -> Any:
    query = sa.select(shifts).where(scope.shifts(me))

    def view(r: Any) -> dict[str, Any]:
        return {
            "id": r["id"],
            "agency_id": r["agency_id"],
            "unit_id": r["unit_id"],
            "code": r["code"],
            "name": r["name"],
            "start_time": _time(r["start_time"]),
            "end_time": _time(r["end_time"]),
            "active": bool(r["active"]),
        }

    columns = ["id", "agency_id", "unit_id", "code", "name", "start_time", "end_time", "active"]
    return await listing(request, query, shifts.c.id, view, columns, "shifts")


async def list_rosters(request: Request, me: Principal) -> Any:
    query = _scoped_employee_filters(
        request,
        me,
        sa.select(roster_entries, employees.c.nip, shifts.c.code.label("shift_code")).select_from(
            roster_entries.join(employees, employees.c.id == roster_entries.c.employee_id)
            .join(units, units.c.id == employees.c.unit_id)
            .outerjoin(shifts, shifts.c.id == roster_entries.c.shift_id)
        ),
    )
    start, end = param_day(request, "from"), param_day(request, "to")
    if start is not None:
        query = query.where(roster_entries.c.day >= start)
    if end is not None:
        query = query.where(roster_entries.c.day <= end)

    def view(r: Any) -> dict[str, Any]:
        return {
            "id": r["id"],
            "nip": r["nip"],
            "date": iso(r["day"]),
            "shift_id": r["shift_id"],
            "shift_code": r["shift_code"],
            "updated_by": r["updated_by"],
            "updated_at": iso(r["updated_at"]),
        }

    columns = ["id", "nip", "date", "shift_id", "shift_code", "updated_by", "updated_at"]
    return await listing(request, query, roster_entries.c.id, view, columns, "rosters")


# -- recaps and deductions ------------------------------------------------------------------


async def _recap_scope(request: Request, me: Principal) -> tuple[int, int | None]:
    db = AppState.of(request).db
    agency_id = me.agency_id or param_int(request, "agency_id")
    unit_id = param_int(request, "unit_id")
    if me.unit_id is not None:
        if unit_id not in (None, me.unit_id):
            raise ApiError("forbidden")
        unit_id = me.unit_id
    if unit_id is not None:
        unit_agency = await db.fetch_val(sa.select(units.c.agency_id).where(units.c.id == unit_id))
        if unit_agency is None or (agency_id is not None and unit_agency != agency_id):
            raise ApiError("not_found", detail="unit")
        agency_id = unit_agency
    if agency_id is None:
        raise ApiError("validation_failed", detail="agency_id or unit_id: required")
    if await db.fetch_val(sa.select(agencies.c.id).where(agencies.c.id == agency_id)) is None:
        raise ApiError("not_found", detail="agency")
    return agency_id, unit_id


def _month(request: Request) -> tuple[date, date]:
    value = request.query_params.get("month", "")
    try:
        first = fields.day(value + "-01")
    except ValueError:
        raise ApiError("validation_failed", detail="month: YYYY-MM") from None
    return recaps.month_bounds(first.year, first.month)


def _activity(emp: recaps.EmployeeRecap) -> dict[str, Any] | None:
    """The diary's month (E-Activity), when the recap carries it."""
    summary = activity_recap.summary_of(emp)
    if summary is None:
        return None
    return {
        "submitted_days": summary.submitted_days,
        "approved_days": summary.approved_days,
        "validated_minutes": summary.validated_minutes,
        "effective_minutes": summary.effective_minutes,
        "percent": summary.percent,
    }


def employee_month(emp: recaps.EmployeeRecap, rules: dict[str, int]) -> dict[str, Any]:
    """One employee's month in the API's shape, from the same numbers as the console."""
    c = emp.counts()
    excused = {k: c[k] for k in recaps.ABSENCE_KINDS}
    found = tpp.deductions(emp, rules)
    return {
        "nip": emp.nip,
        "name": emp.name,
        "unit": emp.unit_name,
        "working_days": c["present"] + c["absent"] + c["upcoming"] + sum(excused.values()),
        "present_days": c["present"],
        "late": {k: c[k] for k in recaps.LATE},
        "early": {k: c[k] for k in recaps.EARLY},
        "missing_in": c["missing_in"],
        "missing_out": c["missing_out"],
        "absent_unexcused": c["absent"],
        "absences": excused,
        "attendance_rate": None if emp.rate() is None else round(100 * (emp.rate() or 0), 2),
        "apel": {
            "due": c["apel_due"],
            "attended": c["apel_attended"],
            "missed": c["apel_missed"],
        },
        "activity": _activity(emp),
        "tpp": {
            "deduction_bp": found.total,
            "items": [
                {
                    "date": d.day.isoformat(),
                    "code": d.code,
                    "basis_points": d.basis_points,
                    "refs": list(d.refs),
                }
                for d in found.deductions
            ],
        },
    }


async def monthly_recap(request: Request, me: Principal) -> Any:
    agency_id, unit_id = await _recap_scope(request, me)
    start, end = _month(request)
    db = AppState.of(request).db
    moment = current_time(request)
    recap = await recaps.compute(
        db, agency_id=agency_id, unit_id=unit_id, start=start, end=end, now=moment
    )
    # The diary's columns and its TPP deduction, as on the console's monthly page.
    await activity_recap.attach(db, recap, admin_recaps.breaks(AppState.of(request)))
    rules = await tpp.rules_for(db, agency_id)
    people = [employee_month(e, rules) for e in recap.employees]
    if wants_csv(request):
        return _recap_csv(people, f"recap-{start:%Y-%m}")
    return etagged(
        request,
        {
            "month": f"{start:%Y-%m}",
            "agency": recap.agency_name,
            "unit": recap.unit_name,
            "generated_at": iso(moment.replace(microsecond=0), recaps.DEFAULT_TZ),
            "employees": people,
        },
    )


def _recap_csv(people: list[dict[str, Any]], name: str) -> Response:
    flat = []
    for p in people:
        row = {
            k: v
            for k, v in p.items()
            if k not in ("late", "early", "absences", "tpp", "apel", "activity")
        }
        row |= {f"apel_{k}": v for k, v in p["apel"].items()}
        row |= {f"activity_{k}": v for k, v in (p["activity"] or {}).items()}
        row |= p["late"] | p["early"] | p["absences"]
        row["deduction_bp"] = p["tpp"]["deduction_bp"]
        flat.append(row)
    columns = list(flat[0]) if flat else ["nip"]

    async def rows() -> AsyncIterator[dict[str, Any]]:
        for row in flat:
            yield row

    return csv_stream(columns, rows(), name)


async def daily_recap(request: Request, me: Principal) -> Any:
    agency_id, unit_id = await _recap_scope(request, me)
    day = (
        param_day(request, "date")
        or current_time(request).astimezone(zone(recaps.DEFAULT_TZ)).date()
    )
    db = AppState.of(request).db
    moment = current_time(request)
    recap = await recaps.compute(
        db, agency_id=agency_id, unit_id=unit_id, start=day, end=day, now=moment
    )
    people = []
    for emp in recap.employees:
        d = emp.days[0]
        people.append(
            {
                "nip": emp.nip,
                "name": emp.name,
                "unit": emp.unit_name,
                "status": d.status,
                "in_at": iso(d.in_at),
                "out_at": iso(d.out_at),
                "late_minutes": d.late_minutes,
                "late": d.late,
                "early_minutes": d.early_minutes,
                "early": d.early,
                "missing_in": d.missing_in,
                "missing_out": d.missing_out,
                "holiday": d.holiday,
            }
        )
    if wants_csv(request):

        async def rows() -> AsyncIterator[dict[str, Any]]:
            for row in people:
                yield row

        columns = list(people[0]) if people else ["nip"]
        return csv_stream(columns, rows(), f"daily-{day}")
    return etagged(
        request,
        {
            "date": day.isoformat(),
            "agency": recap.agency_name,
            "unit": recap.unit_name,
            "generated_at": iso(moment.replace(microsecond=0), recaps.DEFAULT_TZ),
            "employees": people,
        },
    )


async def list_deductions(request: Request, me: Principal) -> Any:
    """Every TPP deduction of the month, one row each (the recap's ``tpp.items``, flat)."""
    agency_id, unit_id = await _recap_scope(request, me)
    start, end = _month(request)
    db = AppState.of(request).db
    recap = await recaps.compute(
        db, agency_id=agency_id, unit_id=unit_id, start=start, end=end, now=current_time(request)
    )
    rules = await tpp.rules_for(db, agency_id)
    items = [
        {
            "nip": emp.nip,
            "name": emp.name,
            "date": d.day.isoformat(),
            "code": d.code,
            "basis_points": d.basis_points,
            "refs": list(d.refs),
        }
        for emp in recap.employees
        for d in tpp.deductions(emp, rules).deductions
    ]
    if wants_csv(request):

        async def rows() -> AsyncIterator[dict[str, Any]]:
            for row in items:
                yield row

        return csv_stream(["nip", "name", "date", "code", "basis_points", "refs"], rows(), "tpp")
    return etagged(request, {"month": f"{start:%Y-%m}", "items": items})


# -- employees and devices in the feed ------------------------------------------------------


async def render_employees(db: Any, ids: Sequence[str]) -> changes.Rendered:
    rows = await db.fetch_all(
        sa.select(employees, units.c.agency_id, units.c.name.label("unit"))
        .select_from(employees.join(units))
        .where(employees.c.id.in_([int(i) for i in ids]))
    )
    out: changes.Rendered = {}
    for r in rows:
        data = {
            "id": r["id"],
            "nip": r["nip"],
            "name": r["name"],
            "unit_id": r["unit_id"],
            "unit": r["unit"],
            "office_id": r["office_id"],
            "kind": r["kind"],
            "active": bool(r["active"]),
        }
        out[str(r["id"])] = (data, r["agency_id"], r["unit_id"])
    return out


async def render_devices(db: Any, ids: Sequence[str]) -> changes.Rendered:
    rows = await db.fetch_all(
        sa.select(
            devices.c.id,
            devices.c.created_at,
            devices.c.revoked_at,
            employees.c.nip,
            employees.c.unit_id,
            units.c.agency_id,
        )
        .select_from(devices.join(employees).join(units))
        .where(devices.c.id.in_(list(ids)))
    )
    return {
        r["id"]: (
            {
                "id": r["id"],
                "nip": r["nip"],
                "created_at": iso(r["created_at"]),
                "revoked_at": iso(r["revoked_at"]),
            },
            r["agency_id"],
            r["unit_id"],
        )
        for r in rows
    }


async def render_reviews(db: Any, ids: Sequence[str]) -> changes.Rendered:
    rows = await db.fetch_all(
        sa.select(checkin_reviews, employees.c.nip, employees.c.unit_id, units.c.agency_id)
        .select_from(
            checkin_reviews.join(checkins, checkins.c.id == checkin_reviews.c.checkin_id)
            .join(employees, employees.c.id == checkins.c.employee_id)
            .join(units, units.c.id == employees.c.unit_id)
        )
        .where(checkin_reviews.c.id.in_([int(i) for i in ids]))
    )
    return {
        str(r["id"]): (
            {
                "id": r["id"],
                "checkin_id": r["checkin_id"],
                "nip": r["nip"],
                "decision": r["decision"],
                "reason": r["reason"],
                "actor": r["actor"],
                "at": iso(r["at"]),
            },
            r["agency_id"],
            r["unit_id"],
        )
        for r in rows
    }


def render_owned(table: sa.Table, employee_column: str) -> changes.Renderer:
    """A renderer for the rows of an employee's own record (a request, a diary day, a
    delegation): its columns and the employee's NIP, scoped by the employee's agency and unit."""
    owner = table.c[employee_column]

    async def render(db: Any, ids: Sequence[str]) -> changes.Rendered:
        rows = await db.fetch_all(
            sa.select(table, employees.c.nip.label("nip"), units.c.agency_id.label("agency"))
            .select_from(
                table.join(employees, employees.c.id == owner).join(
                    units, units.c.id == employees.c.unit_id
                )
            )
            .add_columns(employees.c.unit_id.label("owner_unit"))
            .where(table.c.id.in_([int(i) for i in ids]))
        )
        out: changes.Rendered = {}
        for r in rows:
            data = {c.name: changes.plain(r[c.name]) for c in table.columns}
            data["nip"] = r["nip"]
            out[str(r["id"])] = (data, r["agency"], r["owner_unit"])
        return out

    return render


changes.RENDERERS.update(
    {
        # issue 12 and 13 records (tracked in migration 0015)
        "request": render_owned(staff_requests, "employee_id"),
        "delegation": render_owned(delegations, "supervisor_id"),
        "activity": render_owned(activity_days, "employee_id"),
        "checkin": render_checkins,
        "review": render_reviews,
        "correction": render_corrections,
        "absence": render_absences,
        "holiday": render_holidays,
        "employee": render_employees,
        "device": render_devices,
    }
)


# -- the changes feed -----------------------------------------------------------------------


async def list_changes(request: Request, me: Principal) -> Any:
    after = param_int(request, "after", 2**62) or 0
    limit = min(limit_of(request), changes.MAX_LIMIT)
    items, following = await changes.feed(
        AppState.of(request).db,
        after=after,
        limit=limit,
        agency_id=me.agency_id,
        unit_id=me.unit_id,
    )
    return JSONResponse({"items": items, "next": following})


# -- webhooks -------------------------------------------------------------------------------


async def create_webhook(request: Request, me: Principal) -> Any:
    state = AppState.of(request)
    data = await body_of(request)
    webhook_id, secret = await webhooks.create(
        state.db, state.settings, me, data, request_ip(request)
    )
    return {"id": webhook_id, "secret": secret}


async def list_webhooks(request: Request, me: Principal) -> Any:
    rows = await webhooks.listing(AppState.of(request).db, me)
    return {"items": rows, "next": None}


async def get_webhook(request: Request, me: Principal) -> Any:
    db = AppState.of(request).db
    hook = await webhooks.fetch(db, me, request.path_params["webhook_id"])
    hook["deliveries"] = await webhooks.deliveries(db, hook["id"])
    return hook


async def delete_webhook(request: Request, me: Principal) -> Any:
    await webhooks.delete(
        AppState.of(request).db, me, request.path_params["webhook_id"], request_ip(request)
    )
    return Response(status_code=204)


async def resume_webhook(request: Request, me: Principal) -> Any:
    db = AppState.of(request).db
    await webhooks.resume(db, me, request.path_params["webhook_id"], request_ip(request))
    return await webhooks.fetch(db, me, request.path_params["webhook_id"])


# -- routes and their documentation ---------------------------------------------------------

ROUTES: list[tuple[str, str, tuple[str, ...], Any, int, str]] = [
    ("GET", "/checkins", READERS, list_checkins, 200,
     "Every scan (from, to, unit_id, nip, status, flag, cursor, limit): keyset-paged by id"),
    ("GET", "/reviews", READERS, list_reviews, 200, "Scans waiting for review (cursor, limit)"),
    ("POST", "/reviews/{checkin_id}", WRITERS, decide_review, 200,
     'Decide a pending scan {"decision": "approve"|"reject", "reason"}'),
    ("GET", "/corrections", READERS, list_corrections, 200,
     "Corrections (from, to, unit_id, nip, cursor, limit)"),
    ("POST", "/corrections", WRITERS, create_correction, 201,
     'Add a correction {"nip", "date", "kind": "in"|"out", "at", "reason", '
     '"replaces_checkin_id"?}'),
    ("GET", "/absences", READERS, list_absences, 200,
     "Absences (from, to, unit_id, nip, cursor, limit)"),
    ("POST", "/absences", WRITERS, create_absence, 201,
     'Record an absence {"nip", "kind", "start_date", "end_date", "reference"}'),
    ("POST", "/absences/{absence_id}/cancel", WRITERS, cancel_absence, 200, "Cancel an absence"),
    ("GET", "/holidays", READERS, list_holidays, 200, "Holidays (agency_id, year, cursor, limit)"),
    ("POST", "/holidays", ORG_ADMINS, create_holiday, 201,
     'Add or rename a holiday {"agency_id", "date", "name", "kind"}'),
    ("GET", "/schedules", READERS, list_schedules, 200, "Working-hour rules"),
    ("GET", "/shifts", READERS, list_shifts, 200, "Shifts"),
    ("GET", "/rosters", READERS, list_rosters, 200, "Roster entries (from, to, unit_id, nip)"),
    ("GET", "/recaps/daily", READERS, daily_recap, 200, "One day per employee (date, unit_id)"),
    ("GET", "/recaps/monthly", READERS, monthly_recap, 200,
     "The monthly recap with TPP deductions (month=YYYY-MM, unit_id, agency_id)"),
    ("GET", "/deductions", READERS, list_deductions, 200,
     "Every TPP deduction of a month (month, unit_id, agency_id)"),
    ("GET", "/changes", READERS, list_changes, 200,
     "The changes feed: every change after position `after` (limit), in commit order"),
    ("GET", "/webhooks", ORG_ADMINS, list_webhooks, 200, "Webhook subscriptions"),
    ("POST", "/webhooks", ORG_ADMINS, create_webhook, 201,
     'Subscribe {"url", "events": [...]}; answers {"id", "secret"} (whsec_…) once'),
    ("GET", "/webhooks/{webhook_id}", ORG_ADMINS, get_webhook, 200,
     "One subscription with its latest deliveries"),
    ("DELETE", "/webhooks/{webhook_id}", ORG_ADMINS, delete_webhook, 204,
     "Delete a subscription"),
    ("POST", "/webhooks/{webhook_id}/resume", ORG_ADMINS, resume_webhook, 200,
     "Resume a paused subscription"),
]  # fmt: skip


def routes() -> list[Any]:
    from starlette.routing import Route

    out = []
    for method, path, roles, handler, status, _summary in ROUTES:
        route_path = path.replace("}", ":id}")
        out.append(Route(route_path, endpoint(roles, handler, status), methods=[method]))
    return out


QUERY_PARAMS: dict[str, dict[str, Any]] = {
    "from": {"type": "string", "format": "date"},
    "to": {"type": "string", "format": "date"},
    "date": {"type": "string", "format": "date"},
    "month": {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}$"},
    "unit_id": {"type": "integer", "minimum": 0, "maximum": fields.MAX_ID},
    "agency_id": {"type": "integer", "minimum": 0, "maximum": fields.MAX_ID},
    "year": {"type": "integer", "minimum": 1, "maximum": 9999},
    "nip": {"type": "string"},
    "status": {"type": "string", "enum": list(review.STATUSES)},
    "flag": {"type": "string"},
    "cursor": {"type": "string", "description": "The previous answer's `next`"},
    "limit": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT},
    "after": {"type": "integer", "minimum": 0, "description": "The last `seq` seen"},
}
PARAMS_OF: dict[str, tuple[str, ...]] = {
    "/checkins": ("from", "to", "unit_id", "nip", "status", "flag", "cursor", "limit"),
    "/reviews": ("unit_id", "nip", "cursor", "limit"),
    "/corrections": ("from", "to", "unit_id", "nip", "cursor", "limit"),
    "/absences": ("from", "to", "unit_id", "nip", "cursor", "limit"),
    "/holidays": ("agency_id", "year", "cursor", "limit"),
    "/schedules": ("cursor", "limit"),
    "/shifts": ("cursor", "limit"),
    "/rosters": ("from", "to", "unit_id", "nip", "cursor", "limit"),
    "/recaps/daily": ("date", "unit_id", "agency_id"),
    "/recaps/monthly": ("month", "unit_id", "agency_id"),
    "/deductions": ("month", "unit_id", "agency_id"),
    "/changes": ("after", "limit"),
}
LISTS = {p for p, names in PARAMS_OF.items() if "cursor" in names}


def register_openapi() -> None:
    import re

    from backend.openapi import ERROR_RESPONSE, json_body, register

    for method, path, _roles, _handler, status, summary in ROUTES:
        content: dict[str, Any] = {"application/json": {"schema": {"type": "object"}}}
        if method == "GET" and path in PARAMS_OF and path != "/changes":
            content["text/csv"] = {"schema": {"type": "string"}}
        ok: dict[str, Any] = {"description": "Done"}
        if status != 204:
            ok["content"] = content
        if path in LISTS:
            ok["headers"] = {"ETag": {"schema": {"type": "string"}}}
        operation: dict[str, Any] = {
            "summary": summary,
            "tags": ["admin"],
            "security": [{"apiToken": []}],
            "responses": {
                str(status): ok,
                **{c: ERROR_RESPONSE for c in ("400", "401", "403", "404", "409", "422")},
            },
        }
        if path in LISTS:
            operation["responses"]["304"] = {"description": "Not modified (If-None-Match)"}
        parameters: list[dict[str, Any]] = [
            {
                "name": p,
                "in": "path",
                "required": True,
                "schema": {"type": "integer", "minimum": 0, "maximum": fields.MAX_ID},
            }
            for p in re.findall(r"\{(\w+)\}", path)
        ]
        parameters += [
            {"name": n, "in": "query", "required": False, "schema": QUERY_PARAMS[n]}
            for n in PARAMS_OF.get(path, ())
        ]
        if parameters:
            operation["parameters"] = parameters
        if method == "POST" and not path.endswith(("/cancel", "/resume")):
            operation["requestBody"] = json_body({"type": "object"})
        register("/api/v1/admin" + path, {method.lower(): operation})


register_openapi()
