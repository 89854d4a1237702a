"""The PP 94/2021 discipline report (page, CSV, XLSX, admin API) and the employee page's level.

Everything here reads what the last count stored (``backend.discipline``); the page says when
that was and through which day.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import sqlalchemy as sa
from databases import Database
from starlette.requests import Request
from starlette.responses import Response

from backend import discipline, exports
from backend.admin import fields, scope
from backend.admin.pages import render
from backend.admin.security import READERS, Principal, require_role
from backend.db import agencies, employees, units, utcnow
from backend.employees import ValidationError
from backend.errors import ApiError
from backend.i18n import gettext
from backend.state import AppState
from backend.templating import current_language


def _number(value: str | None) -> int | None:
    """A query-string id or year; anything else (a huge number, text) is None, not a 500."""
    try:
        return fields.int_or_none(value)
    except ValidationError:
        return None


async def _agency(db: Database, me: Principal, wanted: str | None) -> int:
    if me.agency_id is not None:
        return me.agency_id
    query = sa.select(agencies.c.id).order_by(agencies.c.id).limit(1)
    if wanted:
        agency_id = _number(wanted)
        if agency_id is None:
            raise ApiError("validation_failed", detail="agency_id: a number")
        query = sa.select(agencies.c.id).where(agencies.c.id == agency_id)
    found = await db.fetch_val(query)
    if found is None:
        raise ApiError("not_found", detail="agency")
    return int(found)


def _year(wanted: str | None) -> int:
    if not wanted:
        return discipline.year_of(utcnow())
    year = _number(wanted)
    if year is None or not 2000 <= year <= 2100:
        raise ApiError("validation_failed", detail="year: 2000 to 2100")
    return year


async def _unit_clause(db: Database, me: Principal, agency_id: int, wanted: str | None) -> Any:
    clause = scope.employees(me)
    if wanted:
        unit_id = _number(wanted)
        found = await db.fetch_val(
            sa.select(units.c.id)
            .where(units.c.id == (unit_id or 0), units.c.agency_id == agency_id)
            .where(scope.units(me))
        )
        if found is None:
            raise ApiError("not_found", detail="unit")
        clause = sa.and_(clause, employees.c.unit_id == found)
    return clause


async def load(request: Request, me: Principal) -> tuple[int, discipline.Report]:
    db = AppState.of(request).db
    params = request.query_params
    agency_id = await _agency(db, me, params.get("agency_id") or params.get("agency"))
    year = _year(params.get("year"))
    clause = await _unit_clause(db, me, agency_id, params.get("unit_id") or params.get("unit"))
    return agency_id, await discipline.report(db, agency_id, year, clause)


def table(report: discipline.Report, lang: str) -> tuple[list[str], list[list[Any]]]:
    """The report's columns and rows, shared by the page and the exports."""
    columns = [
        gettext(lang, "NIP"),
        gettext(lang, "Name"),
        gettext(lang, "Unit"),
        gettext(lang, "Supervisor"),
        gettext(lang, "Days absent without reason"),
        gettext(lang, "Longest run"),
        gettext(lang, "Level"),
        gettext(lang, "Since"),
        gettext(lang, "Dates"),
    ]
    rows = []
    for r in report.rows:
        level = r.standing.level
        rows.append(
            [
                r.nip,
                r.name,
                r.unit,
                f"{r.supervisor_name} ({r.supervisor_nip})" if r.supervisor_nip else "",
                len(r.standing.days),
                r.standing.longest_run,
                level.level.sanction if level else "",
                level.on.isoformat() if level else "",
                ", ".join(d.isoformat() for d in r.standing.days),
            ]
        )
    return columns, rows


async def page(request: Request) -> Response:
    me = await require_role(request, READERS)
    db = AppState.of(request).db
    agency_id, report = await load(request, me)
    unit_choices = await db.fetch_all(
        sa.select(units.c.id, units.c.name)
        .where(units.c.agency_id == agency_id, scope.units(me))
        .order_by(units.c.name)
    )
    return render(
        request,
        "admin/discipline.html",
        {
            "report": report,
            "units": unit_choices,
            "unit_filter": _number(request.query_params.get("unit") or None),
            "export_query": request.url.query,
        },
    )


async def export(request: Request, kind: str) -> Response:
    me = await require_role(request, READERS)
    db = AppState.of(request).db
    agency_id, report = await load(request, me)
    lang = current_language.get()
    agency = await db.fetch_val(sa.select(agencies.c.name).where(agencies.c.id == agency_id))
    header = exports.header_rows(
        lang,
        agency=agency or "",
        unit=None,
        start=date(report.year, 1, 1),
        end=report.through or date(report.year, 12, 31),
        generated=report.counted_at or utcnow(),
    )
    columns, rows = table(report, lang)
    sheet = exports.Sheet(gettext(lang, "Discipline"), header, columns, rows)
    name = f"disiplin_{report.year}.{kind}"
    if kind == "csv":
        return exports.csv_response(sheet, name)
    return await exports.xlsx_response([sheet], name)


async def page_csv(request: Request) -> Response:
    return await export(request, "csv")


async def page_xlsx(request: Request) -> Response:
    return await export(request, "xlsx")


async def api_report(request: Request, me: Principal) -> Any:
    """``GET /api/v1/admin/discipline``: the levels table and everyone with a counted day."""
    _agency_id, report = await load(request, me)
    return {
        "year": report.year,
        "through": report.through.isoformat() if report.through else None,
        "counted_at": report.counted_at.isoformat() if report.counted_at else None,
        "levels": [discipline.level_view(level) for level in report.levels],
        "items": [discipline.row_view(r) for r in report.rows],
    }


async def employee_context(db: Database, employee_id: int) -> dict[str, Any]:
    """This year's count and level of one employee, as the last count stored them."""
    agency_id = await db.fetch_val(
        sa.select(units.c.agency_id)
        .select_from(employees.join(units))
        .where(employees.c.id == employee_id)
    )
    if agency_id is None:
        return {}
    year = discipline.year_of(utcnow())
    report = await discipline.report(db, int(agency_id), year, employee_id=employee_id)
    return {
        "discipline": report,
        "discipline_row": report.rows[0] if report.rows else None,
    }
