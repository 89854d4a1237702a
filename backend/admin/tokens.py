"""API tokens for other government systems: created with a role and scope, shown once, stored
only as a keyed hash, revocable."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from databases import Database
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from backend import audit
from backend.admin import fields, scope
from backend.admin.grants import checked_grant
from backend.admin.offices import unit_choices
from backend.admin.pages import form_data, paginate, redirect, render
from backend.admin.security import (
    ORG_ADMINS,
    Principal,
    hash_api_token,
    new_api_token,
    request_ip,
    require_role,
)
from backend.admin.units import agency_choices
from backend.db import agencies, api_tokens, units, utcnow
from backend.employees import ValidationError
from backend.state import AppState
from backend.templating import current_language


def query(me: Principal) -> sa.Select[Any]:
    return (
        sa.select(
            api_tokens,
            agencies.c.name.label("agency_name"),
            units.c.name.label("unit_name"),
        )
        .select_from(
            api_tokens.outerjoin(agencies, agencies.c.id == api_tokens.c.agency_id).outerjoin(
                units, units.c.id == api_tokens.c.unit_id
            )
        )
        .where(scope.api_tokens(me))
        .order_by(api_tokens.c.revoked_at.is_not(None), api_tokens.c.created_at.desc())
    )


async def create(
    db: Database, secret_key: bytes, me: Principal, data: dict[str, Any], ip: str = ""
) -> tuple[int, str]:
    grant = await checked_grant(db, me, data)
    name = fields.text(data.get("name"), fields.NAME, max_length=100)
    raw = new_api_token()
    async with db.transaction():
        token_id = await db.fetch_val(
            api_tokens.insert()
            .values(
                name=name,
                token_hash=hash_api_token(secret_key, raw),
                prefix=raw[:10],
                created_by=me.id if me.kind == "admin" else None,
                created_at=utcnow(),
                **grant,
            )
            .returning(api_tokens.c.id)
        )
        await audit.record(
            db,
            actor=me.actor,
            action="api_token.create",
            target=f"token:{token_id}",
            detail={"name": name, **grant},
            ip=ip,
        )
    return int(token_id), raw


async def revoke(db: Database, me: Principal, token_id: int, ip: str = "") -> None:
    await scope.fetch_in_scope(db, api_tokens, token_id, scope.api_tokens(me))
    async with db.transaction():
        await db.execute(
            api_tokens.update()
            .where(api_tokens.c.id == token_id)
            .where(api_tokens.c.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )
        await audit.record(
            db, actor=me.actor, action="api_token.revoke", target=f"token:{token_id}", ip=ip
        )


async def list_page(request: Request) -> Response:
    state = AppState.of(request)
    me = await require_role(request, ORG_ADMINS)
    form_error = None
    if request.method == "POST":
        data = await form_data(request)
        try:
            _token_id, raw = await create(
                state.db, state.settings.secret_key, me, data, request_ip(request)
            )
            return render(
                request, "admin/token_created.html", {"token": raw, "name": data.get("name")}
            )
        except ValidationError as exc:
            form_error = exc.render(current_language.get())
    rows, pager = await paginate(state.db, request, query(me))
    from backend.accounts import ROLES

    return render(
        request,
        "admin/tokens.html",
        {
            "rows": rows,
            "pager": pager,
            "form_error": form_error,
            "roles": ROLES if me.is_super else ROLES[1:],
            "agencies": await agency_choices(state.db, me),
            "units": await unit_choices(state.db, me),
        },
        status_code=400 if form_error else 200,
    )


async def revoke_page(request: Request) -> Response:
    state = AppState.of(request)
    me = await require_role(request, ORG_ADMINS)
    token_id = request.path_params["token_id"]
    if token_id <= 0:
        raise HTTPException(404)
    await revoke(state.db, me, token_id, request_ip(request))
    return redirect("/admin/tokens", "revoked")
