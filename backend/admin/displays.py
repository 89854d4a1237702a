"""Displays: create (shows the pairing code once), rename, new pairing code, revoke, and their
online state, which the list page refreshes live from ``status.json``."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from databases import Database
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from backend import audit, versions
from backend.admin import fields, scope
from backend.admin.offices import choices as office_choices
from backend.admin.pages import (
    Field,
    form_data,
    form_page,
    local_time,
    optional_int,
    paginate,
    redirect,
    render,
)
from backend.admin.security import READERS, WRITERS, Principal, Refused, request_ip, require_role
from backend.db import as_utc, displays, offices, utcnow
from backend.employees import ValidationError
from backend.i18n import gettext_lazy as _
from backend.settings import Settings
from backend.state import AppState
from backend.templating import current_language
from display_server import pairing

STATES = {
    "online": _("online"),
    "offline": _("offline"),
    "unpaired": _("waiting for pairing"),
    "revoked": _("revoked"),
}


def query(me: Principal, office_id: int | None = None) -> sa.Select[Any]:
    stmt = (
        sa.select(
            displays.c.id,
            displays.c.name,
            displays.c.office_id,
            displays.c.paired_at,
            displays.c.last_seen_at,
            displays.c.last_seen_ip,
            displays.c.revoked_at,
            displays.c.created_at,
            displays.c.credential_hash.is_not(None).label("paired"),
            offices.c.name.label("office_name"),
            offices.c.timezone,
        )
        .select_from(displays.join(offices))
        .where(scope.displays(me))
        .order_by(displays.c.revoked_at.is_not(None), offices.c.name, displays.c.name)
    )
    if office_id is not None:
        stmt = stmt.where(displays.c.office_id == office_id)
    return stmt


def state_of(row: Any, settings: Settings) -> str:
    if row["revoked_at"] is not None:
        return "revoked"
    if not row["paired"]:
        return "unpaired"
    seen = row["last_seen_at"]
    fresh = timedelta(seconds=3 * settings.qr_period)
    return "online" if seen is not None and utcnow() - as_utc(seen) <= fresh else "offline"


def describe(row: Any, settings: Settings) -> dict[str, Any]:
    """A display as the admin API and the live list see it."""
    state = state_of(row, settings)
    return {
        "id": row["id"],
        "name": row["name"],
        "office_id": row["office_id"],
        "office": row["office_name"],
        "state": state,
        "state_label": STATES[state].render(current_language.get()),
        "last_seen_at": as_utc(row["last_seen_at"]).isoformat() if row["last_seen_at"] else None,
        "last_seen": local_time(row["last_seen_at"], row["timezone"]),
        "last_seen_ip": row["last_seen_ip"] or "",
    }


async def create(
    db: Database, settings: Settings, me: Principal, data: dict[str, Any], ip: str = ""
) -> tuple[int, str]:
    if not me.can_write:
        raise Refused()
    name = fields.text(data.get("name"), fields.NAME)
    office_id = fields.int_or_none(data.get("office_id"))
    allowed = await db.fetch_val(
        sa.select(offices.c.id).where(offices.c.id == (office_id or 0)).where(scope.offices(me))
    )
    if allowed is None:
        raise ValidationError("choose an office")
    return await pairing.create_display(
        db, settings.secret_key, allowed, name, actor=me.actor, ip=ip
    )


async def fetch(db: Database, me: Principal, display_id: int, *, writable: bool = False) -> Any:
    if writable and not me.can_write:
        raise Refused()
    row = await db.fetch_one(query(me).where(displays.c.id == display_id))
    if row is None:
        raise HTTPException(404)
    return row


async def rename(
    db: Database,
    me: Principal,
    display_id: int,
    name: Any,
    ip: str = "",
    expected: versions.Expected = None,
) -> None:
    await fetch(db, me, display_id, writable=True)
    name = fields.text(name, fields.NAME)
    async with versions.guard(db, displays, display_id, expected, scope.displays(me)):
        await db.execute(displays.update().where(displays.c.id == display_id).values(name=name))
        await audit.record(
            db,
            actor=me.actor,
            action="display.rename",
            target=f"display:{display_id}",
            detail={"name": name},
            ip=ip,
        )


async def new_pairing_code(
    db: Database, settings: Settings, me: Principal, display_id: int, ip: str = ""
) -> str:
    """A fresh code, to pair a display that is not paired yet or to move it to another computer
    (pairing replaces the old credential)."""
    row = await fetch(db, me, display_id, writable=True)
    if row["revoked_at"] is not None:
        raise HTTPException(409, "display revoked")
    return await pairing.issue_pairing_code(
        db, settings.secret_key, display_id, actor=me.actor, ip=ip
    )


async def revoke(state: AppState, me: Principal, display_id: int, ip: str = "") -> bool:
    await fetch(state.db, me, display_id, writable=True)
    return await pairing.revoke_display(state.db, display_id, me.actor, ip=ip, events=state.events)


# -- pages ----------------------------------------------------------------------------------


async def list_page(request: Request) -> Response:
    state = AppState.of(request)
    me = await require_role(request, WRITERS if request.method == "POST" else READERS)
    form_error = None
    if request.method == "POST":
        data = await form_data(request)
        try:
            display_id, code = await create(state.db, state.settings, me, data, request_ip(request))
        except ValidationError as exc:
            form_error = exc.render(current_language.get())
        else:
            row = await fetch(state.db, me, display_id)
            return render(request, "admin/display_code.html", {"row": row, "code": code})
    office_id = optional_int(request.query_params.get("office"))
    rows, pager = await paginate(state.db, request, query(me, office_id))
    return render(
        request,
        "admin/displays.html",
        {
            "rows": [describe(r, state.settings) for r in rows],
            "pager": pager,
            "offices": await office_choices(state.db, me),
            "office_filter": office_id,
            "form_error": form_error,
            "fresh_seconds": 3 * state.settings.qr_period,
        },
        status_code=400 if form_error else 200,
    )


async def status_json(request: Request) -> Response:
    state = AppState.of(request)
    me = await require_role(request, READERS)
    rows = await state.db.fetch_all(query(me).limit(500))
    response = JSONResponse({"displays": [describe(r, state.settings) for r in rows]})
    response.headers["Cache-Control"] = "no-store"
    return response


async def detail_page(request: Request) -> Response:
    state = AppState.of(request)
    me = await require_role(request, WRITERS if request.method == "POST" else READERS)
    display_id = request.path_params["display_id"]
    await fetch(state.db, me, display_id)

    async def context() -> dict[str, Any]:
        row = await fetch(state.db, me, display_id)
        return {"row": row, "info": describe(row, state.settings)}

    async def version() -> str:
        return (await versions.current(state.db, displays, display_id))[1]

    return await form_page(
        request,
        save=lambda data: rename(
            state.db,
            me,
            display_id,
            data.get("name"),
            request_ip(request),
            versions.form_version(data.get("version")),
        ),
        done_url=f"/admin/displays/{display_id}",
        done="saved",
        template="admin/display.html",
        context=context,
        version=version,
        fields=(Field("name", _("Name")),),
    )


async def pairing_code_page(request: Request) -> Response:
    state = AppState.of(request)
    me = await require_role(request, WRITERS)
    display_id = request.path_params["display_id"]
    code = await new_pairing_code(state.db, state.settings, me, display_id, request_ip(request))
    row = await fetch(state.db, me, display_id)
    return render(request, "admin/display_code.html", {"row": row, "code": code})


async def revoke_page(request: Request) -> Response:
    state = AppState.of(request)
    me = await require_role(request, WRITERS)
    display_id = request.path_params["display_id"]
    await revoke(state, me, display_id, request_ip(request))
    return redirect(f"/admin/displays/{display_id}", "revoked")
