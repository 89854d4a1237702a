"""Units (OPD) of an agency: agency admins create and rename them."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from databases import Database
from starlette.requests import Request
from starlette.responses import Response

from backend import audit, versions
from backend.admin import fields, scope
from backend.admin.pages import Field, form_page, optional_int, paginate
from backend.admin.security import ORG_ADMINS, READERS, Principal, Refused, request_ip, require_role
from backend.db import agencies, units, utcnow
from backend.employees import ValidationError
from backend.i18n import gettext_lazy as _
from backend.passkeys import policy_field
from backend.state import AppState

# What an edit conflict on the unit (and the agency) page shows.
FIELDS = (Field("code", _("Code")), Field("name", _("Name")))


def query(me: Principal, q: str = "", agency_id: int | None = None) -> sa.Select[Any]:
    stmt = (
        sa.select(units, agencies.c.name.label("agency_name"))
        .select_from(units.join(agencies))
        .where(scope.units(me))
        .order_by(agencies.c.name, units.c.name)
    )
    if agency_id is not None:
        stmt = stmt.where(units.c.agency_id == agency_id)
    if q:
        like = f"%{q.lower()}%"
        stmt = stmt.where(
            sa.or_(sa.func.lower(units.c.name).like(like), sa.func.lower(units.c.code).like(like))
        )
    return stmt


async def agency_choices(db: Database, me: Principal) -> list[Any]:
    return list(
        await db.fetch_all(agencies.select().where(scope.agencies(me)).order_by(agencies.c.name))
    )


async def writable_agency(db: Database, me: Principal, agency_id: int | None) -> int:
    """The agency a principal may create things in: their own, or (super admin) any."""
    if me.role not in ORG_ADMINS:
        raise Refused()
    if not me.is_super:
        assert me.agency_id is not None
        if agency_id is not None and agency_id != me.agency_id:
            raise Refused()  # never silently moved into the caller's own agency
        return me.agency_id
    if (
        agency_id is None
        or await db.fetch_val(sa.select(agencies.c.id).where(agencies.c.id == agency_id)) is None
    ):
        raise ValidationError("choose an agency")
    return agency_id


async def save(
    db: Database,
    me: Principal,
    unit_id: int | None,
    data: dict[str, Any],
    ip: str = "",
    expected: versions.Expected = None,
) -> int:
    """Create (``unit_id`` None) or update a unit; an update is refused with
    ``versions.Conflict`` when the unit is no longer at an ``expected`` version."""
    values = {
        "code": fields.code(data.get("code")),
        "name": fields.text(data.get("name"), fields.NAME),
        "user_verification": policy_field(data.get("user_verification"), inherit=True),
    }
    async with db.transaction():
        if unit_id is None:
            agency_id = await writable_agency(db, me, fields.int_or_none(data.get("agency_id")))
        else:
            row = await versions.check(db, units, unit_id, expected, scope.units(me))
            agency_id = row["agency_id"]
        taken = await db.fetch_val(
            sa.select(units.c.id)
            .where(units.c.agency_id == agency_id)
            .where(units.c.code == values["code"])
            .where(units.c.id != (unit_id or 0))
        )
        if taken is not None:
            raise ValidationError("code {code} is taken", code=values["code"])
        if unit_id is None:
            unit_id = await db.fetch_val(
                units.insert()
                .values(**values, agency_id=agency_id, created_at=utcnow())
                .returning(units.c.id)
            )
            action = "unit.create"
        else:
            await db.execute(units.update().where(units.c.id == unit_id).values(**values))
            action = "unit.update"
        await audit.record(
            db, actor=me.actor, action=action, target=f"unit:{unit_id}", detail=values, ip=ip
        )
    return int(unit_id)


async def list_page(request: Request) -> Response:
    state = AppState.of(request)
    me = await require_role(request, ORG_ADMINS if request.method == "POST" else READERS)

    async def context() -> dict[str, Any]:
        q = request.query_params.get("q", "").strip()
        agency_id = optional_int(request.query_params.get("agency"))
        rows, pager = await paginate(state.db, request, query(me, q, agency_id))
        agencies_ = await agency_choices(state.db, me)
        return {"rows": rows, "pager": pager, "q": q, "agencies": agencies_}

    return await form_page(
        request,
        save=lambda data: save(state.db, me, None, data, request_ip(request)),
        done_url="/admin/units",
        done="created",
        template="admin/units.html",
        context=context,
    )


async def edit_page(request: Request) -> Response:
    state = AppState.of(request)
    me = await require_role(request, ORG_ADMINS if request.method == "POST" else READERS)
    unit_id = request.path_params["unit_id"]
    row = await scope.fetch_in_scope(state.db, units, unit_id, scope.units(me))

    async def context() -> dict[str, Any]:
        return {"row": row}

    return await form_page(
        request,
        save=lambda data: save(
            state.db,
            me,
            unit_id,
            data,
            request_ip(request),
            versions.form_version(data.get("version")),
        ),
        done_url=f"/admin/units/{unit_id}",
        done="saved",
        template="admin/unit.html",
        context=context,
        version=lambda: version(state.db, unit_id),
        fields=FIELDS,
    )


async def version(db: Database, unit_id: int) -> str:
    return (await versions.current(db, units, unit_id))[1]
