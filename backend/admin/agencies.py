"""Agencies (a Pemda or another body sharing the server): super admins create and rename them."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from databases import Database
from starlette.requests import Request
from starlette.responses import Response

from backend import audit, versions
from backend.admin import fields, scope
from backend.admin.pages import form_page, paginate
from backend.admin.security import ORG_ADMINS, SUPER, Principal, request_ip, require_role
from backend.admin.units import FIELDS
from backend.db import agencies, utcnow
from backend.employees import ValidationError
from backend.errors import ApiError
from backend.organisation import normalise_echelon
from backend.passkeys import policy_field
from backend.state import AppState

VIEWERS = (*ORG_ADMINS, "leader")


def query(me: Principal, q: str = "") -> sa.Select[Any]:
    stmt = agencies.select().where(scope.agencies(me)).order_by(agencies.c.name)
    if q:
        like = f"%{q.lower()}%"
        stmt = stmt.where(
            sa.or_(
                sa.func.lower(agencies.c.name).like(like), sa.func.lower(agencies.c.code).like(like)
            )
        )
    return stmt


def unvalidated_echelons(text: str) -> str:
    """ "II.a, IIb" -> "II.a,II.b": the echelons whose diaries are accepted without validation."""
    found = []
    for part in text.split(","):
        try:
            echelon = normalise_echelon(part)
        except ApiError:
            raise ValidationError("unknown echelon {echelon}", echelon=part.strip()) from None
        if echelon and echelon not in found:
            found.append(echelon)
    return ",".join(found)


async def save(
    db: Database,
    me: Principal,
    agency_id: int | None,
    data: dict[str, Any],
    ip: str = "",
    expected: versions.Expected = None,
) -> int:
    """Create (``agency_id`` None) or update an agency; super admins only. An update is
    refused with ``versions.Conflict`` when the agency is no longer at an ``expected`` version."""
    values = {
        "code": fields.code(data.get("code")),
        "name": fields.text(data.get("name"), fields.NAME),
        "user_verification": policy_field(data.get("user_verification"), inherit=False),
    }
    if data.get("activity_unvalidated_echelons") is not None:
        values["activity_unvalidated_echelons"] = unvalidated_echelons(
            str(data["activity_unvalidated_echelons"])
        )
    async with db.transaction():
        if agency_id is not None:
            await versions.check(db, agencies, agency_id, expected, scope.agencies(me))
        taken = await db.fetch_val(
            sa.select(agencies.c.id)
            .where(agencies.c.code == values["code"])
            .where(agencies.c.id != (agency_id or 0))
        )
        if taken is not None:
            raise ValidationError("code {code} is taken", code=values["code"])
        if agency_id is None:
            agency_id = await db.fetch_val(
                agencies.insert().values(**values, created_at=utcnow()).returning(agencies.c.id)
            )
            action = "agency.create"
        else:
            await db.execute(agencies.update().where(agencies.c.id == agency_id).values(**values))
            action = "agency.update"
        await audit.record(
            db, actor=me.actor, action=action, target=f"agency:{agency_id}", detail=values, ip=ip
        )
    return int(agency_id)


async def list_page(request: Request) -> Response:
    state = AppState.of(request)
    me = await require_role(request, SUPER if request.method == "POST" else VIEWERS)

    async def context() -> dict[str, Any]:
        q = request.query_params.get("q", "").strip()
        rows, pager = await paginate(state.db, request, query(me, q))
        return {"rows": rows, "pager": pager, "q": q}

    return await form_page(
        request,
        save=lambda data: save(state.db, me, None, data, request_ip(request)),
        done_url="/admin/agencies",
        done="created",
        template="admin/agencies.html",
        context=context,
    )


async def edit_page(request: Request) -> Response:
    state = AppState.of(request)
    me = await require_role(request, SUPER if request.method == "POST" else VIEWERS)
    agency_id = request.path_params["agency_id"]
    row = await scope.fetch_in_scope(state.db, agencies, agency_id, scope.agencies(me))

    async def context() -> dict[str, Any]:
        return {"row": row}

    return await form_page(
        request,
        save=lambda data: save(
            state.db,
            me,
            agency_id,
            data,
            request_ip(request),
            versions.form_version(data.get("version")),
        ),
        done_url=f"/admin/agencies/{agency_id}",
        done="saved",
        template="admin/agency.html",
        context=context,
        version=lambda: version(state.db, agency_id),
        fields=FIELDS,
    )


async def version(db: Database, agency_id: int) -> str:
    return (await versions.current(db, agencies, agency_id))[1]
