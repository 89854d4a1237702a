"""Admin accounts: super admins manage everyone, agency admins the admins of their agency."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from databases import Database
from starlette.requests import Request
from starlette.responses import Response

from backend import accounts, versions
from backend.admin import scope
from backend.admin.grants import checked_grant
from backend.admin.offices import unit_choices
from backend.admin.pages import Field, form_page, paginate
from backend.admin.security import ORG_ADMINS, Principal, request_ip, require_role
from backend.admin.units import agency_choices
from backend.db import admin_sessions, admin_users, agencies, units
from backend.employees import ValidationError
from backend.i18n import gettext_lazy as _
from backend.state import AppState

# What an edit conflict on an admin's page shows.
FIELDS = (
    Field("role", _("Role")),
    Field("agency_id", _("Agency"), choices="agencies"),
    Field("unit_id", _("Unit"), choices="units"),
    Field("active", _("Status"), boolean=True),
)


def query(me: Principal, q: str = "") -> sa.Select[Any]:
    stmt = (
        sa.select(
            admin_users.c.id,
            admin_users.c.username,
            admin_users.c.role,
            admin_users.c.agency_id,
            admin_users.c.unit_id,
            admin_users.c.active,
            admin_users.c.language,
            agencies.c.name.label("agency_name"),
            units.c.name.label("unit_name"),
        )
        .select_from(
            admin_users.outerjoin(agencies, agencies.c.id == admin_users.c.agency_id).outerjoin(
                units, units.c.id == admin_users.c.unit_id
            )
        )
        .where(scope.admin_users(me))
        .order_by(admin_users.c.username)
    )
    if q:
        stmt = stmt.where(sa.func.lower(admin_users.c.username).like(f"%{q.lower()}%"))
    return stmt


async def create(db: Database, me: Principal, data: dict[str, Any], ip: str = "") -> int:
    grant = await checked_grant(db, me, data)
    return await accounts.create_admin(
        db,
        username=str(data.get("username") or ""),
        password=str(data.get("password") or ""),
        actor=me.actor,
        **grant,
    )


async def update(
    db: Database,
    me: Principal,
    admin_id: int,
    data: dict[str, Any],
    ip: str = "",
    expected: versions.Expected = None,
) -> None:
    async with versions.guard(db, admin_users, admin_id, expected, scope.admin_users(me)):
        grant = await checked_grant(db, me, data)
        active = bool(data.get("active"))
        if admin_id == me.id and (not active or grant["role"] != me.role):
            # Locking yourself out is never what was meant; another admin can do it.
            raise ValidationError("you cannot change your own role or deactivate yourself")
        await accounts.update_admin(db, admin_id, active=active, actor=me.actor, ip=ip, **grant)
    # Hashing takes a while: not while holding the write lock, and not part of the version.
    password = str(data.get("password") or "")
    if password:
        await accounts.set_password(db, admin_id, password, actor=me.actor, ip=ip)


async def _context(db: Database, me: Principal) -> dict[str, Any]:
    roles = accounts.ROLES if me.is_super else accounts.ROLES[1:]
    return {
        "roles": roles,
        "agencies": await agency_choices(db, me),
        "units": await unit_choices(db, me),
    }


async def list_page(request: Request) -> Response:
    state = AppState.of(request)
    me = await require_role(request, ORG_ADMINS)

    async def context() -> dict[str, Any]:
        q = request.query_params.get("q", "").strip()
        rows, pager = await paginate(state.db, request, query(me, q))
        return {"rows": rows, "pager": pager, "q": q} | await _context(state.db, me)

    return await form_page(
        request,
        save=lambda data: create(state.db, me, data, request_ip(request)),
        done_url="/admin/users",
        done="created",
        template="admin/users.html",
        context=context,
    )


async def edit_page(request: Request) -> Response:
    state = AppState.of(request)
    me = await require_role(request, ORG_ADMINS)
    admin_id = request.path_params["admin_id"]
    await scope.fetch_in_scope(state.db, admin_users, admin_id, scope.admin_users(me))

    async def context() -> dict[str, Any]:
        row = await state.db.fetch_one(query(me).where(admin_users.c.id == admin_id))
        sessions = await state.db.fetch_all(
            admin_sessions.select()
            .where(admin_sessions.c.admin_id == admin_id)
            .order_by(admin_sessions.c.created_at.desc())
            .limit(10)
        )
        return {"row": row, "sessions": sessions} | await _context(state.db, me)

    return await form_page(
        request,
        save=lambda data: update(
            state.db,
            me,
            admin_id,
            data,
            request_ip(request),
            versions.form_version(data.get("version")),
        ),
        done_url=f"/admin/users/{admin_id}",
        done="saved",
        template="admin/user.html",
        context=context,
        version=lambda: version(state.db, admin_id),
        fields=FIELDS,
    )


async def version(db: Database, admin_id: int) -> str:
    return (await versions.current(db, admin_users, admin_id))[1]
