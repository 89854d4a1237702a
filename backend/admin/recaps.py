"""Recap pages: the monthly recap per employee with TPP, the daily recap per unit, their charts,
and their CSV/XLSX exports. Page and export share the tables of ``backend.exports``."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import Response

from backend import activity_recap, exports, recaps, tpp
from backend.admin import charts, fields
from backend.admin.pages import render
from backend.admin.security import READERS, Principal, require_role
from backend.db import agencies, units, utcnow
from backend.errors import ApiError
from backend.i18n import gettext
from backend.state import AppState
from backend.templating import current_language


@dataclass(frozen=True)
class Scope:
    agency_id: int
    unit_id: int | None
    start: date
    end: date


async def resolve_scope(request: Request, me: Principal, *, monthly: bool) -> Scope:
    """Agency and unit the admin may see (their own, or chosen by a super/agency admin), and the
    period from ``?month=YYYY-MM`` or ``?from=&to=`` (default: this month / today)."""
    db = AppState.of(request).db
    params = request.query_params
    agency_id = me.agency_id
    if agency_id is None:
        wanted = params.get("agency", "")
        query = sa.select(agencies.c.id).order_by(agencies.c.id).limit(1)
        if wanted.isdigit():
            query = sa.select(agencies.c.id).where(
                agencies.c.id == (fields.lenient_int(wanted) or 0)
            )
        agency_id = await db.fetch_val(query)
        if agency_id is None:
            raise ApiError("not_found", detail="agency")
    unit_id = me.unit_id
    wanted_unit = params.get("unit", "")
    if unit_id is None and wanted_unit.isdigit():
        unit_id = await db.fetch_val(
            sa.select(units.c.id)
            .where(units.c.id == (fields.lenient_int(wanted_unit) or 0))
            .where(units.c.agency_id == agency_id)
        )
        if unit_id is None:
            raise ApiError("not_found", detail="unit")
    today = now(request).astimezone(ZoneInfo(recaps.DEFAULT_TZ)).date()
    try:
        if monthly:
            first = fields.day(params.get("month", f"{today:%Y-%m}") + "-01")
            start, end = recaps.month_bounds(first.year, first.month)
        else:
            start = fields.day(params.get("from") or today.isoformat())
            end = fields.day(params.get("to") or start.isoformat())
    except ValueError:
        raise ApiError("validation_failed", detail="period") from None
    if end < start or end - start > timedelta(days=62):
        raise ApiError("validation_failed", detail="period: at most two months")
    return Scope(agency_id, unit_id, start, end)


def now(request: Request) -> datetime:
    """The current time; tests replace it through ``AppState.extras["clock"]`` to look at a
    month that is over."""
    clock = AppState.of(request).extras.get("clock", utcnow)
    moment: datetime = clock()
    return moment


async def _recap(request: Request, scope: Scope, *, diary: bool = False) -> recaps.Recap:
    state = AppState.of(request)
    recap = await recaps.compute(
        state.db,
        agency_id=scope.agency_id,
        unit_id=scope.unit_id,
        start=scope.start,
        end=scope.end,
        now=now(request),
    )
    if diary:  # the monthly recap: the diary's columns and its TPP deduction
        await activity_recap.attach(state.db, recap, breaks(state))
    return recap


def breaks(state: AppState) -> tuple[int, int]:
    return (
        state.settings.activity_break_minutes,
        state.settings.activity_friday_break_minutes,
    )


def render_monthly(recap: recaps.Recap, rules: dict[str, int], lang: str = "id") -> str:
    """The monthly table as HTML, outside a request too (the benchmark times it)."""
    columns, rows = exports.monthly_table(recap, rules, lang)
    return str(charts.table(columns, rows))


def rate_chart(recap: recaps.Recap, lang: str) -> Markup:
    labels, values = [], []
    for day in recap.days:
        total: Counter[str] = Counter()
        for counts in recap.daily(day).values():
            total.update(counts)
        rate = recaps.daily_rate(total)
        labels.append(f"{day.day}")
        values.append(None if rate is None else round(100 * rate, 1))
    return charts.bars(
        labels, values, title=gettext(lang, "Attendance rate per day"), maximum=100, unit="%"
    )


def arrival_chart(recap: recaps.Recap, lang: str) -> Markup:
    """Check-ins per 15 minutes from 05:00 to 10:00 (office time), day shifts and weekday hours."""
    bins = [0] * 20
    for emp in recap.employees:
        for d in emp.days:
            at = d.in_at
            if at is not None and 5 <= at.hour < 10:
                bins[(at.hour - 5) * 4 + at.minute // 15] += 1
    labels = [f"{5 + i // 4:02d}:{15 * (i % 4):02d}" for i in range(20)]
    return charts.bars(labels, [float(b) for b in bins], title=gettext(lang, "Arrival times"))


async def monthly_page(request: Request) -> Response:
    me = await require_role(request, READERS)
    scope = await resolve_scope(request, me, monthly=True)
    recap = await _recap(request, scope, diary=True)
    rules = await tpp.rules_for(AppState.of(request).db, scope.agency_id)
    lang = current_language.get()
    columns, rows = exports.monthly_table(recap, rules, lang)
    return render(
        request,
        "admin/recap_monthly.html",
        {
            "recap": recap,
            "table": charts.table(columns, rows),
            "month": f"{scope.start:%Y-%m}",
            "units": await _units(request, scope.agency_id, me),
            "unit_id": scope.unit_id,
            "query": request.url.query,
            "rate_chart": rate_chart(recap, lang),
            "arrival_chart": arrival_chart(recap, lang),
        },
    )


async def daily_page(request: Request) -> Response:
    me = await require_role(request, READERS)
    scope = await resolve_scope(request, me, monthly=False)
    recap = await _recap(request, scope)
    lang = current_language.get()
    columns, rows = exports.daily_table(recap, lang)
    return render(
        request,
        "admin/recap_daily.html",
        {
            "recap": recap,
            "table": charts.table(columns, rows),
            "start": scope.start,
            "end": scope.end,
            "units": await _units(request, scope.agency_id, me),
            "unit_id": scope.unit_id,
            "query": request.url.query,
            "rate_chart": rate_chart(recap, lang),
        },
    )


async def _units(request: Request, agency_id: int, me: Principal) -> list[Any]:
    query = sa.select(units.c.id, units.c.name).where(units.c.agency_id == agency_id)
    if me.unit_id is not None:
        query = query.where(units.c.id == me.unit_id)
    return list(await AppState.of(request).db.fetch_all(query.order_by(units.c.name)))


async def monthly_export(request: Request, fmt: str) -> Response:
    me = await require_role(request, READERS)
    scope = await resolve_scope(request, me, monthly=True)
    recap = await _recap(request, scope, diary=True)
    rules = await tpp.rules_for(AppState.of(request).db, scope.agency_id)
    lang = current_language.get()
    header = _header(recap, scope, lang)
    columns, rows = exports.monthly_table(recap, rules, lang)
    sheet = exports.Sheet(gettext(lang, "Monthly recap"), header, columns, rows)
    stem = f"rekap-bulanan-{recap.unit_name or recap.agency_name}"
    if fmt == "csv":
        return exports.csv_response(sheet, exports.filename(stem, scope.start, scope.end, "csv"))
    detail_columns, detail_rows = exports.tpp_detail_table(recap, rules, lang)
    detail = exports.Sheet(gettext(lang, "TPP deductions"), header, detail_columns, detail_rows)
    name = exports.filename(stem, scope.start, scope.end, "xlsx")
    return await exports.xlsx_response([sheet, detail], name)


async def daily_export(request: Request, fmt: str) -> Response:
    me = await require_role(request, READERS)
    scope = await resolve_scope(request, me, monthly=False)
    recap = await _recap(request, scope)
    lang = current_language.get()
    columns, rows = exports.daily_table(recap, lang)
    sheet = exports.Sheet(gettext(lang, "Daily recap"), _header(recap, scope, lang), columns, rows)
    stem = f"rekap-harian-{recap.unit_name or recap.agency_name}"
    if fmt == "csv":
        return exports.csv_response(sheet, exports.filename(stem, scope.start, scope.end, "csv"))
    return await exports.xlsx_response(
        [sheet], exports.filename(stem, scope.start, scope.end, "xlsx")
    )


def _header(recap: recaps.Recap, scope: Scope, lang: str) -> list[tuple[str, str]]:
    return exports.header_rows(
        lang,
        agency=recap.agency_name,
        unit=recap.unit_name,
        start=scope.start,
        end=scope.end,
        generated=datetime.now(ZoneInfo(recaps.DEFAULT_TZ)).replace(microsecond=0),
    )


async def monthly_csv(request: Request) -> Response:
    return await monthly_export(request, "csv")


async def monthly_xlsx(request: Request) -> Response:
    return await monthly_export(request, "xlsx")


async def daily_csv(request: Request) -> Response:
    return await daily_export(request, "csv")


async def daily_xlsx(request: Request) -> Response:
    return await daily_export(request, "xlsx")
