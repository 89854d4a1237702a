"""Offices: a building with displays, its time zone, address and optional network allow-list."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from databases import Database
from starlette.requests import Request
from starlette.responses import Response

from backend import audit, versions
from backend.admin import fields, scope
from backend.admin.pages import Field, form_page, paginate
from backend.admin.security import ORG_ADMINS, READERS, Principal, request_ip, require_role
from backend.admin.units import agency_choices, writable_agency
from backend.db import agencies, offices, units, utcnow
from backend.employees import ValidationError
from backend.i18n import gettext_lazy as _
from backend.state import AppState

# What an edit conflict on the office page shows.
FIELDS = (
    Field("name", _("Name")),
    Field("unit_id", _("Unit"), choices="units"),
    Field("timezone", _("Time zone")),
    Field("address", _("Address")),
    Field("allowed_networks", _("Allowed networks (optional)")),
    Field("latitude", _("Latitude")),
    Field("longitude", _("Longitude")),
    Field("radius_m", _("Radius (metres)")),
)


def query(me: Principal, q: str = "") -> sa.Select[Any]:
    stmt = (
        sa.select(
            offices,
            agencies.c.name.label("agency_name"),
            units.c.name.label("unit_name"),
        )
        .select_from(offices.join(agencies).outerjoin(units, units.c.id == offices.c.unit_id))
        .where(scope.offices(me))
        .order_by(agencies.c.name, offices.c.name)
    )
    if q:
        stmt = stmt.where(sa.func.lower(offices.c.name).like(f"%{q.lower()}%"))
    return stmt


async def choices(db: Database, me: Principal) -> list[Any]:
    """Offices a principal may put employees and displays in."""
    return list(
        await db.fetch_all(offices.select().where(scope.offices(me)).order_by(offices.c.name))
    )


async def unit_choices(db: Database, me: Principal) -> list[Any]:
    return list(await db.fetch_all(units.select().where(scope.units(me)).order_by(units.c.name)))


async def save(
    db: Database,
    me: Principal,
    office_id: int | None,
    data: dict[str, Any],
    ip: str = "",
    expected: versions.Expected = None,
) -> int:
    """Create (``office_id`` None) or update an office; an update is refused with
    ``versions.Conflict`` when the office is no longer at an ``expected`` version."""
    values: dict[str, Any] = {
        "name": fields.text(data.get("name"), fields.NAME),
        "address": fields.text(data.get("address"), fields.ADDRESS, max_length=500, required=False),
        "timezone": fields.timezone(data.get("timezone")),
        "allowed_networks": fields.networks(data.get("allowed_networks")),
        **fields.geofence(data),
    }
    unit_id = fields.int_or_none(data.get("unit_id"))
    async with db.transaction():
        if office_id is None:
            agency_id = await writable_agency(db, me, fields.int_or_none(data.get("agency_id")))
        else:
            row = await versions.check(db, offices, office_id, expected, scope.offices(me))
            agency_id = row["agency_id"]
        if unit_id is not None and (
            await db.fetch_val(sa.select(units.c.agency_id).where(units.c.id == unit_id))
            != agency_id
        ):
            raise ValidationError("the unit is not in this agency")
        values["unit_id"] = unit_id
        if office_id is None:
            office_id = await db.fetch_val(
                offices.insert()
                .values(**values, agency_id=agency_id, created_at=utcnow())
                .returning(offices.c.id)
            )
            action = "office.create"
        else:
            await db.execute(offices.update().where(offices.c.id == office_id).values(**values))
            action = "office.update"
        await audit.record(
            db, actor=me.actor, action=action, target=f"office:{office_id}", detail=values, ip=ip
        )
    return int(office_id)


async def _context(db: Database, me: Principal) -> dict[str, Any]:
    return {
        "agencies": await agency_choices(db, me),
        "units": await unit_choices(db, me),
        "timezones": fields.TIMEZONES,
    }


async def list_page(request: Request) -> Response:
    state = AppState.of(request)
    me = await require_role(request, ORG_ADMINS if request.method == "POST" else READERS)

    async def context() -> dict[str, Any]:
        q = request.query_params.get("q", "").strip()
        rows, pager = await paginate(state.db, request, query(me, q))
        return {"rows": rows, "pager": pager, "q": q} | await _context(state.db, me)

    return await form_page(
        request,
        save=lambda data: save(state.db, me, None, data, request_ip(request)),
        done_url="/admin/offices",
        done="created",
        template="admin/offices.html",
        context=context,
    )


async def edit_page(request: Request) -> Response:
    state = AppState.of(request)
    me = await require_role(request, ORG_ADMINS if request.method == "POST" else READERS)
    office_id = request.path_params["office_id"]
    row = await scope.fetch_in_scope(state.db, offices, office_id, scope.offices(me))

    async def context() -> dict[str, Any]:
        return {"row": row} | await _context(state.db, me)

    return await form_page(
        request,
        save=lambda data: save(
            state.db,
            me,
            office_id,
            data,
            request_ip(request),
            versions.form_version(data.get("version")),
        ),
        done_url=f"/admin/offices/{office_id}",
        done="saved",
        template="admin/office.html",
        context=context,
        version=lambda: version(state.db, office_id),
        fields=FIELDS,
    )


async def version(db: Database, office_id: int) -> str:
    return (await versions.current(db, offices, office_id))[1]
