"""Phones: enrolment codes (shown once, with a QR that opens the scanner's enrolment) and revoking
a bound device."""

from __future__ import annotations

from typing import Any

import segno
import sqlalchemy as sa
from databases import Database
from markupsafe import Markup
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from backend import audit
from backend.admin import scope
from backend.admin.pages import redirect, render
from backend.admin.security import WRITERS, Principal, Refused, request_ip, require_role
from backend.db import devices, employees, passkeys, utcnow
from backend.devices import issue_enrolment_code
from backend.settings import Settings
from backend.state import AppState


def enrol_url(settings: Settings, nip: str) -> str:
    # Only the NIP: the code is typed by the person, so a photo of the QR alone enrols nothing.
    return f"{settings.public_url}/s#enrol={nip}"


def enrol_qr_svg(url: str) -> Markup:
    # make_qr, not make: a Micro QR would be chosen for short texts and phones cannot read it.
    qr = segno.make_qr(url, error="m")
    return Markup(qr.svg_inline(scale=5, omitsize=True, light="#fff"))  # noqa: S704 -- segno's own SVG


async def issue_code(
    db: Database, settings: Settings, me: Principal, employee_id: int, ip: str = ""
) -> tuple[Any, str]:
    """A fresh enrolment code for an active employee in scope; (employee row, code)."""
    if not me.can_write:
        raise Refused()
    row = await scope.fetch_in_scope(db, employees, employee_id, scope.employees(me))
    if not row["active"]:
        raise HTTPException(409, "employee inactive")
    code = await issue_enrolment_code(
        db,
        settings.secret_key,
        employee_id,
        ttl=settings.enrolment_code_ttl,
        created_by=me.actor,
        ip=ip,
    )
    return row, code


async def revoke_device(
    db: Database, me: Principal, employee_id: int, device_id: str, ip: str = ""
) -> bool:
    if not me.can_write:
        raise Refused()
    await scope.fetch_in_scope(db, employees, employee_id, scope.employees(me))
    async with db.transaction():
        revoked = await db.fetch_val(
            devices.update()
            .where(devices.c.id == device_id)
            .where(devices.c.employee_id == employee_id)
            .where(devices.c.revoked_at.is_(None))
            .values(revoked_at=utcnow())
            .returning(devices.c.id)
        )
        if revoked is None:
            return False
        await audit.record(
            db,
            actor=me.actor,
            action="device.revoke",
            target=f"device:{device_id}",
            detail={"employee_id": employee_id},
            ip=ip,
        )
    return True


async def current_device(db: Database, employee_id: int) -> Any:
    """The employee's phone, and whether it has a passkey (the owner's fingerprint)."""
    return await db.fetch_one(
        sa.select(*devices.c, passkeys.c.device_id.is_not(None).label("passkey"))
        .select_from(devices.outerjoin(passkeys))
        .where(devices.c.employee_id == employee_id)
        .where(devices.c.revoked_at.is_(None))
        .order_by(devices.c.created_at.desc())
    )


# -- pages ----------------------------------------------------------------------------------


async def code_page(request: Request) -> Response:
    state = AppState.of(request)
    me = await require_role(request, WRITERS)
    employee_id = request.path_params["employee_id"]
    row, code = await issue_code(state.db, state.settings, me, employee_id, request_ip(request))
    url = enrol_url(state.settings, row["nip"])
    hours = state.settings.enrolment_code_ttl // 3600
    return render(
        request,
        "admin/enrolment_code.html",
        {"row": row, "code": code, "qr": enrol_qr_svg(url), "url": url, "hours": hours},
    )


async def revoke_page(request: Request) -> Response:
    state = AppState.of(request)
    me = await require_role(request, WRITERS)
    employee_id = request.path_params["employee_id"]
    device_id = request.path_params["device_id"]
    if not await revoke_device(state.db, me, employee_id, device_id, request_ip(request)):
        raise HTTPException(404)
    return redirect(f"/admin/employees/{employee_id}#phone", "revoked")


def count_enrolled(me: Principal) -> sa.Select[Any]:
    return (
        sa.select(sa.func.count())
        .select_from(devices.join(employees))
        .where(devices.c.revoked_at.is_(None))
        .where(scope.employees(me))
    )
