"""Organisation in the console and the admin API: an employee's position, echelon and atasan
langsung, acting supervisors (Plt/Plh), and the org chart of a unit.

The rules themselves (no self-supervision, one agency, no loops) are in
``backend.organisation``; this module reads them from forms and JSON bodies, checks scope and
writes the audit log.
"""

from __future__ import annotations

from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from databases import Database
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from backend import audit, identifiers
from backend import organisation as org
from backend.admin import fields, scope
from backend.admin.pages import error_text, form_data, paginate, redirect, render
from backend.admin.security import READERS, WRITERS, Principal, Refused, request_ip, require_role
from backend.db import delegations, employees, units, utcnow
from backend.employees import ValidationError
from backend.errors import ApiError
from backend.i18n import gettext_lazy as _
from backend.recaps import DEFAULT_TZ
from backend.state import AppState

ORG_FIELDS = ("position", "position_kind", "echelon", "supervisor_nip")
POSITION = _("position")


def _text_or_none(data: dict[str, Any], name: str) -> str | None:
    value = data.get(name)
    if value is not None and not isinstance(value, str):
        raise ApiError("validation_failed", detail=f"{name}: a string or null")
    return value


async def supervisor_id_for(db: Any, nip: str | None) -> int | None:
    """The employee with ``nip`` (None or empty: no supervisor); unknown is refused."""
    if nip is None or not nip.strip():
        return None
    found = await db.fetch_val(
        sa.select(employees.c.id).where(employees.c.nip == identifiers.nip(nip))
    )
    if found is None:
        raise ApiError("unknown_supervisor")
    return int(found)


async def apply(
    db: Database, me: Principal, employee_id: int, data: dict[str, Any], row: Any, ip: str
) -> None:
    """Within the caller's write transaction: store the organisation fields ``data`` names
    (``supervisor_nip`` null or empty clears); the rest stays."""
    sent = [name for name in ORG_FIELDS if name in data]
    if not sent:
        return
    values: dict[str, Any] = {}
    if "position" in data:
        text = fields.text(_text_or_none(data, "position"), POSITION, required=False)
        values["position"] = text or None
    if "position_kind" in data:
        values["position_kind"] = org.normalise_position_kind(_text_or_none(data, "position_kind"))
    if "echelon" in data:
        values["echelon"] = org.normalise_echelon(_text_or_none(data, "echelon"))
    if "supervisor_nip" in data:
        supervisor = await supervisor_id_for(db, _text_or_none(data, "supervisor_nip"))
        if supervisor != row["supervisor_id"]:
            await org.check_supervisor(db, employee_id, supervisor)
        values["supervisor_id"] = supervisor
    changed = {k: v for k, v in values.items() if v != row[k]}
    if not changed:
        return
    await db.execute(employees.update().where(employees.c.id == employee_id).values(**changed))
    await audit.record(
        db,
        actor=me.actor,
        action="employee.organisation",
        target=f"employee:{employee_id}",
        detail=changed,
        ip=ip,
    )


# -- delegations ----------------------------------------------------------------------------

SUP = sa.alias(employees, "sup")
DEL = sa.alias(employees, "dlg")


def delegation_query(me: Principal, *, active: bool = False) -> sa.Select[Any]:
    """Delegations whose supervisor or delegate the principal may see, newest first (only
    those in force today with ``active``)."""
    sup_unit = sa.alias(units, "sup_unit")
    del_unit = sa.alias(units, "del_unit")

    def visible(alias: Any, unit: Any) -> Any:
        if me.is_super:
            return sa.true()
        if me.unit_id is not None:
            return alias.c.unit_id == me.unit_id
        return unit.c.agency_id == me.agency_id

    query = (
        sa.select(
            delegations.c.id,
            delegations.c.start_date,
            delegations.c.end_date,
            delegations.c.created_at,
            delegations.c.cancelled_at,
            SUP.c.id.label("supervisor_id"),
            SUP.c.nip.label("supervisor_nip"),
            SUP.c.name.label("supervisor_name"),
            DEL.c.id.label("delegate_id"),
            DEL.c.nip.label("delegate_nip"),
            DEL.c.name.label("delegate_name"),
        )
        .select_from(
            delegations.join(SUP, SUP.c.id == delegations.c.supervisor_id)
            .join(sup_unit, sup_unit.c.id == SUP.c.unit_id)
            .join(DEL, DEL.c.id == delegations.c.delegate_id)
            .join(del_unit, del_unit.c.id == DEL.c.unit_id)
        )
        .where(sa.or_(visible(SUP, sup_unit), visible(DEL, del_unit)))
        .order_by(delegations.c.start_date.desc(), delegations.c.id.desc())
    )
    if active:
        today = utcnow().astimezone(ZoneInfo(DEFAULT_TZ)).date()
        query = query.where(
            delegations.c.cancelled_at.is_(None),
            delegations.c.start_date <= today,
            delegations.c.end_date >= today,
        )
    return query


def delegation_view(row: Any) -> dict[str, Any]:
    def iso(value: Any) -> Any:
        return value.isoformat() if value is not None else None

    return {
        "id": row["id"],
        "supervisor": {"nip": row["supervisor_nip"], "name": row["supervisor_name"]},
        "delegate": {"nip": row["delegate_nip"], "name": row["delegate_name"]},
        "start_date": iso(row["start_date"]),
        "end_date": iso(row["end_date"]),
        "created_at": iso(row["created_at"]),
        "cancelled_at": iso(row["cancelled_at"]),
    }


def _nip_field(data: dict[str, Any], name: str) -> str:
    value = data.get(name)
    if not isinstance(value, str) or not value.strip():
        raise ApiError("validation_failed", detail=f"{name}: the employee's NIP")
    return identifiers.nip(value)


def _date_field(data: dict[str, Any], name: str) -> date:
    try:
        return fields.day(data.get(name))
    except ValidationError as exc:
        raise ApiError("validation_failed", detail=f"{name}: {exc}") from exc


async def create_delegation(db: Database, me: Principal, data: dict[str, Any], ip: str) -> int:
    """The supervisor must be in the principal's scope; the delegate in the same agency."""
    if not me.can_write:
        raise Refused()
    supervisor_nip = _nip_field(data, "supervisor_nip")
    delegate_nip = _nip_field(data, "delegate_nip")
    start, end = _date_field(data, "start_date"), _date_field(data, "end_date")
    async with db.transaction():
        people = {
            r["nip"]: r
            for r in await db.fetch_all(
                sa.select(employees.c.id, employees.c.nip, scope.employees(me).label("mine"))
                .select_from(employees.join(units))
                .where(employees.c.nip.in_([supervisor_nip, delegate_nip]))
            )
        }
        supervisor, delegate = people.get(supervisor_nip), people.get(delegate_nip)
        if supervisor is None or not supervisor["mine"]:
            raise ApiError("not_found", detail="supervisor_nip: no such employee")
        if delegate is None:
            raise ApiError("not_found", detail="delegate_nip: no such employee")
        delegation_id = await org.create_delegation(
            db,
            supervisor_id=supervisor["id"],
            delegate_id=delegate["id"],
            start_date=start,
            end_date=end,
            created_by=me.id if me.kind == "admin" else None,
        )
        await audit.record(
            db,
            actor=me.actor,
            action="delegation.create",
            target=f"delegation:{delegation_id}",
            detail={
                "supervisor": supervisor_nip,
                "delegate": delegate_nip,
                "start_date": start,
                "end_date": end,
            },
            ip=ip,
        )
    return delegation_id


async def fetch_delegation(db: Database, me: Principal, delegation_id: int) -> Any:
    row = await db.fetch_one(delegation_query(me).where(delegations.c.id == delegation_id))
    if row is None:
        raise HTTPException(404)
    return row


async def cancel_delegation(db: Database, me: Principal, delegation_id: int, ip: str) -> None:
    """Only a writer who may see the delegation's supervisor cancels it."""
    if not me.can_write:
        raise Refused()
    async with db.transaction():
        row = await fetch_delegation(db, me, delegation_id)
        supervisor_visible = await db.fetch_val(
            sa.select(employees.c.id)
            .select_from(employees.join(units))
            .where(employees.c.id == row["supervisor_id"], scope.employees(me))
        )
        if supervisor_visible is None:
            raise Refused()
        if not await org.cancel_delegation(db, delegation_id):
            raise ApiError("delegation_not_active")
        await audit.record(
            db,
            actor=me.actor,
            action="delegation.cancel",
            target=f"delegation:{delegation_id}",
            ip=ip,
        )


async def delegations_of(db: Database, me: Principal, employee_id: int) -> list[Any]:
    """Delegations where the employee is the supervisor or the delegate (the employee page)."""
    query = delegation_query(me).where(
        sa.or_(delegations.c.supervisor_id == employee_id, delegations.c.delegate_id == employee_id)
    )
    return list(await db.fetch_all(query))


async def delegations_page(request: Request) -> Response:
    state = AppState.of(request)
    me = await require_role(request, WRITERS if request.method == "POST" else READERS)
    form_error, status, sent = None, 200, {}
    if request.method == "POST":
        sent = await form_data(request)
        try:
            await create_delegation(state.db, me, sent, request_ip(request))
            return redirect("/admin/delegations", "created")
        except ApiError as exc:
            form_error, status = error_text(exc), 400
    rows, pager = await paginate(state.db, request, delegation_query(me))
    return render(
        request,
        "admin/delegations.html",
        {"rows": rows, "pager": pager, "form_error": form_error, "sent": sent},
        status_code=status,
    )


async def cancel_page(request: Request) -> Response:
    state = AppState.of(request)
    me = await require_role(request, WRITERS)
    await form_data(request)
    await cancel_delegation(state.db, me, request.path_params["delegation_id"], request_ip(request))
    return redirect("/admin/delegations", "cancelled")


# -- org chart ------------------------------------------------------------------------------


async def chart(db: Database, me: Principal, unit_id: int) -> dict[str, Any]:
    """The unit's reporting lines as a tree: each node an employee with the staff reporting to
    them; supervisors outside the unit head their own branch. Vacancies: a struktural post
    whose holder is inactive, staff whose supervisor is inactive, and active staff without a
    supervisor (only the unit's head may have none)."""
    unit = await scope.fetch_in_scope(db, units, unit_id, scope.units(me))
    sup = sa.alias(employees, "sup")
    rows = await db.fetch_all(
        sa.select(
            employees.c.id,
            employees.c.nip,
            employees.c.name,
            employees.c.position,
            employees.c.position_kind,
            employees.c.echelon,
            employees.c.active,
            employees.c.supervisor_id,
            sup.c.nip.label("supervisor_nip"),
            sup.c.name.label("supervisor_name"),
            sup.c.unit_id.label("supervisor_unit_id"),
            sup.c.active.label("supervisor_active"),
        )
        .select_from(employees.outerjoin(sup, sup.c.id == employees.c.supervisor_id))
        .where(employees.c.unit_id == unit_id)
        .order_by(employees.c.echelon.is_(None), employees.c.echelon, employees.c.name)
    )
    people = {r["id"]: dict(r._mapping) | {"reports": []} for r in rows}
    outside: dict[int, dict[str, Any]] = {}
    roots: list[dict[str, Any]] = []
    for person in people.values():
        boss = person["supervisor_id"]
        if boss in people:
            people[boss]["reports"].append(person)
        elif boss is not None:
            head = outside.setdefault(
                boss,
                {
                    "id": boss,
                    "nip": person["supervisor_nip"],
                    "name": person["supervisor_name"],
                    "active": person["supervisor_active"],
                    "outside": True,
                    "reports": [],
                },
            )
            head["reports"].append(person)
        else:
            roots.append(person)
    vacancies = []
    for p in people.values():
        if p["active"] and p["supervisor_id"] is not None and not p["supervisor_active"]:
            vacancies.append(("supervisor_inactive", p))
        elif not p["active"] and p["position_kind"] == "struktural" and p["reports"]:
            vacancies.append(("holder_inactive", p))
    heads = [p for p in roots if p["active"]]
    # One head of the unit without a supervisor is the normal case; beyond that it is a gap.
    for p in heads[1:] if heads and heads[0]["position_kind"] == "struktural" else heads:
        vacancies.append(("no_supervisor", p))
    return {
        "unit": unit,
        "roots": roots + list(outside.values()),
        "vacancies": vacancies,
        "count": len(people),
    }


async def chart_page(request: Request) -> Response:
    state = AppState.of(request)
    me = await require_role(request, READERS)
    data = await chart(state.db, me, request.path_params["unit_id"])
    return render(request, "admin/org_chart.html", data)


async def employee_context(db: Database, me: Principal, employee_id: int) -> dict[str, Any]:
    """What the employee page shows of the organisation: the supervisor, the direct reports,
    the delegations."""
    reports = await db.fetch_all(
        sa.select(employees.c.id, employees.c.nip, employees.c.name, employees.c.active)
        .where(employees.c.supervisor_id == employee_id)
        .order_by(employees.c.name)
    )
    return {
        "reports": reports,
        "delegations": await delegations_of(db, me, employee_id),
        "position_kinds": org.POSITION_KINDS,
        "echelons": org.ECHELONS,
    }
