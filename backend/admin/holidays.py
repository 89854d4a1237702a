"""The agency's holiday calendar: seed a year from the `holidays` package, add or rename a day,
switch a day off or back on. Agency admins only: holidays apply to the whole agency."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from backend import holidays as calendar
from backend import versions
from backend.admin import fields
from backend.admin.pages import Field, conflict_context, error_text, form_data, redirect, render
from backend.admin.recaps import now, resolve_scope
from backend.admin.security import ORG_ADMINS, READERS, require_role
from backend.db import holidays
from backend.errors import ApiError
from backend.i18n import gettext_lazy as _
from backend.state import AppState

# What a refused switch on or off shows (each day's buttons carry that day's version).
FIELDS = (
    Field("name", _("Name")),
    Field("active", _("Status"), boolean=True, yes=_("holiday"), no=_("working day")),
)


def _year(request: Request) -> int:
    raw = request.query_params.get("year", "")
    year = fields.lenient_int(raw, maximum=2100)
    return year if year is not None and year >= 2000 else now(request).year


async def list_page(
    request: Request,
    form_error: str | None = None,
    *,
    status_code: int | None = None,
    conflict: tuple[versions.Conflict, dict[str, str]] | None = None,
) -> Response:
    me = await require_role(request, READERS)
    where = await resolve_scope(request, me, monthly=False)
    year = _year(request)
    rows = await calendar.listing(AppState.of(request).db, agency_id=where.agency_id, year=year)
    for r in rows:
        r["version"] = versions.of_row(holidays, r)
    context: dict[str, Any] = {"rows": rows, "year": year, "kinds": calendar.KINDS}
    if conflict is not None:
        context |= conflict_context(*conflict, FIELDS, context, refill=False)
    return render(
        request,
        "admin/holidays.html",
        context | {"form_error": form_error},
        status_code=status_code or (400 if form_error else 200),
    )


async def change(request: Request) -> Response:
    """One form for the three actions: seed (a year), put (add/rename), on/off (a day)."""
    me = await require_role(request, ORG_ADMINS)
    where = await resolve_scope(request, me, monthly=False)
    db = AppState.of(request).db
    data = await form_data(request)
    action = data.get("action", "")
    try:
        if action == "seed":
            year = int(data.get("year", "0"))
            await calendar.seed(db, agency_id=where.agency_id, year=year, actor=me.actor)
        else:
            day = fields.day(data.get("day", ""))
            year = day.year
            if action == "put":
                await calendar.put(
                    db, agency_id=where.agency_id, day=day, name=data.get("name", ""),
                    kind=data.get("kind", "local"), actor=me.actor,
                )  # fmt: skip
            elif action in ("on", "off"):
                await calendar.set_active(
                    db, agency_id=where.agency_id, day=day, active=action == "on",
                    actor=me.actor, expected=versions.form_version(data.get("version")),
                )  # fmt: skip
            else:
                raise ApiError("validation_failed", detail="action")
    except ValueError:
        return await list_page(request, error_text(ApiError("validation_failed", detail="date")))
    except ApiError as exc:
        return await list_page(request, error_text(exc))
    except versions.Conflict as exc:
        sent = data | {"active": "1" if action == "on" else "", "name": exc.current["name"]}
        message = error_text(ApiError("edit_conflict"))
        return await list_page(request, message, status_code=409, conflict=(exc, sent))
    return redirect(f"/admin/holidays?year={year}", "saved")
