"""Employees: search, create, edit, deactivate, CSV import (dry run, per-row report) and export."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from databases import Database
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response

from backend import employees as staff
from backend import versions
from backend.admin import discipline as discipline_admin
from backend.admin import fields, organisation, scope
from backend.admin.offices import choices as office_choices
from backend.admin.offices import unit_choices
from backend.admin.pages import (
    Field,
    form_data,
    form_page,
    optional_int,
    paginate,
    redirect,
    render,
)
from backend.admin.security import READERS, WRITERS, Principal, Refused, request_ip, require_role
from backend.db import agencies, devices, employees, offices, passkeys, units
from backend.employees import ValidationError
from backend.i18n import gettext_lazy as _
from backend.state import AppState
from backend.templating import current_language

MAX_UPLOAD = 10 * 1024 * 1024


def query(
    me: Principal,
    q: str = "",
    unit_id: int | None = None,
    status: str = "",
) -> sa.Select[Any]:
    phone = (
        sa.select(devices.c.employee_id, devices.c.id.label("device_id"))
        .where(devices.c.revoked_at.is_(None))
        .subquery()
    )
    boss = sa.alias(employees, "boss")
    stmt = (
        sa.select(
            employees,
            units.c.code.label("unit"),
            units.c.name.label("unit_name"),
            offices.c.name.label("office"),
            offices.c.timezone,
            phone.c.device_id,
            boss.c.nip.label("supervisor_nip"),
            boss.c.name.label("supervisor_name"),
        )
        .select_from(
            employees.join(units)
            .outerjoin(offices, offices.c.id == employees.c.office_id)
            .outerjoin(phone, phone.c.employee_id == employees.c.id)
            .outerjoin(boss, boss.c.id == employees.c.supervisor_id)
        )
        .where(scope.employees(me))
        .order_by(employees.c.name, employees.c.id)
    )
    if q:
        like = f"%{q.lower()}%"
        stmt = stmt.where(
            sa.or_(sa.func.lower(employees.c.name).like(like), employees.c.nip.like(like))
        )
    if unit_id is not None:
        stmt = stmt.where(employees.c.unit_id == unit_id)
    if status == "active":
        stmt = stmt.where(employees.c.active.is_(True))
    elif status == "inactive":
        stmt = stmt.where(employees.c.active.is_(False))
    return stmt


async def check_placement(
    db: Database, me: Principal, unit_id: int | None, office_id: int | None
) -> tuple[int, int | None]:
    """The unit must be in the principal's scope, the office in the unit's agency."""
    if unit_id is None:
        raise ValidationError("choose a unit")
    unit = await db.fetch_one(units.select().where(units.c.id == unit_id).where(scope.units(me)))
    if unit is None:
        raise ValidationError("choose a unit")
    if office_id is not None:
        office = await scope.require_usable(
            db, offices, office_id, scope.offices_to_place_in(me), fields.OFFICE
        )
        if office["agency_id"] != unit["agency_id"]:
            raise ValidationError("the office is not in this agency")
    return unit_id, office_id


async def create(db: Database, me: Principal, data: dict[str, Any], ip: str = "") -> int:
    if not me.can_write:
        raise Refused()
    unit_id, office_id = await check_placement(
        db, me, fields.int_or_none(data.get("unit_id")), fields.int_or_none(data.get("office_id"))
    )
    return await staff.add_employee(
        db,
        nip=str(data.get("nip") or ""),
        name=str(data.get("name") or ""),
        kind=str(data.get("kind") or "asn"),
        unit_id=unit_id,
        office_id=office_id,
        actor=me.actor,
        ip=ip,
    )


async def update(
    db: Database,
    me: Principal,
    employee_id: int,
    data: dict[str, Any],
    ip: str = "",
    expected: versions.Expected = None,
) -> None:
    """Change what ``data`` names (the rest stays); refused with ``versions.Conflict`` when the
    employee is no longer at an ``expected`` version."""
    if not me.can_write:
        raise Refused()
    async with versions.guard(db, employees, employee_id, expected, scope.employees(me)) as row:
        unit_id, office_id = await check_placement(
            db,
            me,
            fields.int_or_none(data.get("unit_id", row["unit_id"])),
            fields.int_or_none(data.get("office_id", row["office_id"])),
        )
        await staff.update_employee(
            db,
            employee_id,
            name=str(data.get("name", row["name"])),
            kind=str(data.get("kind", row["kind"])),
            unit_id=unit_id,
            office_id=office_id,
            actor=me.actor,
            ip=ip,
        )
        if "active" in data and fields.boolean(data["active"]) != row["active"]:
            await staff.set_active(
                db, employee_id, fields.boolean(data["active"]), actor=me.actor, ip=ip
            )
        await organisation.apply(db, me, employee_id, data, row, ip)


async def toggle_active(
    db: Database,
    me: Principal,
    employee_id: int,
    wanted: bool | None = None,
    ip: str = "",
    expected: versions.Expected = None,
) -> None:
    """(De)activate: to ``wanted``, or (None) the other way round from what is stored."""
    if not me.can_write:
        raise Refused()
    async with versions.guard(db, employees, employee_id, expected, scope.employees(me)) as row:
        active = not row["active"] if wanted is None else wanted
        if active != row["active"]:
            await staff.set_active(db, employee_id, active, actor=me.actor, ip=ip)


async def version(db: Database, employee_id: int) -> str:
    return (await versions.current(db, employees, employee_id))[1]


# What an edit conflict on the employee page shows.
FIELDS = (
    Field("name", _("Name")),
    Field("kind", _("Kind")),
    Field("unit_id", _("Unit"), choices="units"),
    Field("office_id", _("Office"), choices="offices"),
    Field("position", _("Position")),
    Field("position_kind", _("Position kind")),
    Field("echelon", _("Echelon")),
)
ACTIVE_FIELDS = (Field("active", _("Status"), boolean=True),)


async def import_agency(db: Database, me: Principal, requested: int | None) -> int:
    """The agency an import goes into: a super admin names it, everyone else has one."""
    if not me.is_super:
        if requested is not None and requested != me.agency_id:
            raise Refused()  # never silently imported into the caller's own agency
        return int(me.agency_id)  # type: ignore[arg-type]
    if requested is not None:
        return requested
    ids = [r["id"] for r in await db.fetch_all(sa.select(agencies.c.id))]
    if len(ids) != 1:
        raise ValidationError("choose an agency")
    return int(ids[0])


async def check_import(
    db: Database, me: Principal, text: str, agency_id: int | None
) -> staff.ImportReport:
    if not me.can_write:
        raise Refused()
    agency = await import_agency(db, me, agency_id)
    allowed = {me.unit_id} if me.unit_id is not None else None
    return await staff.check_csv(db, agency, text, allowed_units=allowed)


# -- pages ----------------------------------------------------------------------------------


async def _form_context(db: Database, me: Principal) -> dict[str, Any]:
    return {
        "units": await unit_choices(db, me),
        "offices": await office_choices(db, me),
        "kinds": staff.KINDS,
    }


async def list_page(request: Request) -> Response:
    state = AppState.of(request)
    me = await require_role(request, WRITERS if request.method == "POST" else READERS)
    form_error = None
    if request.method == "POST":
        try:
            employee_id = await create(state.db, me, await form_data(request), request_ip(request))
            return redirect(f"/admin/employees/{employee_id}", "created")
        except ValidationError as exc:
            form_error = exc.render(current_language.get())
    q = request.query_params.get("q", "").strip()
    unit_id = optional_int(request.query_params.get("unit"))
    status = request.query_params.get("status", "")
    rows, pager = await paginate(state.db, request, query(me, q, unit_id, status))
    return render(
        request,
        "admin/employees.html",
        {
            "rows": rows,
            "pager": pager,
            "q": q,
            "unit_filter": unit_id,
            "status": status,
            "form_error": form_error,
            "export_query": request.url.query,
        }
        | await _form_context(state.db, me),
        status_code=400 if form_error else 200,
    )


async def _detail(
    request: Request, save: Any, fields_: tuple[Field, ...], refill: bool = True
) -> Response:
    """The employee page; ``save`` is what its POST does (edit the details, or (de)activate)."""
    state = AppState.of(request)
    me = await require_role(request, WRITERS if request.method == "POST" else READERS)
    employee_id = request.path_params["employee_id"]
    await scope.fetch_in_scope(state.db, employees, employee_id, scope.employees(me))

    async def context() -> dict[str, Any]:
        row = await state.db.fetch_one(query(me).where(employees.c.id == employee_id))
        phones = await state.db.fetch_all(
            sa.select(*devices.c, passkeys.c.device_id.is_not(None).label("passkey"))
            .select_from(devices.outerjoin(passkeys))
            .where(devices.c.employee_id == employee_id)
            .order_by(devices.c.created_at.desc())
        )
        from backend import leave, requests

        year = (await requests.today_of(state.db, employee_id)).year
        balance = await leave.annual_balance(state.db, employee_id, year)
        return (
            {"row": row, "phones": phones, "leave": balance}
            | await _form_context(state.db, me)
            | await organisation.employee_context(state.db, me, employee_id)
            | await discipline_admin.employee_context(state.db, employee_id)
        )

    return await form_page(
        request,
        save=lambda data: save(state.db, me, employee_id, data, request_ip(request)),
        done_url=f"/admin/employees/{employee_id}",
        done="saved",
        template="admin/employee.html",
        context=context,
        version=lambda: version(state.db, employee_id),
        fields=fields_,
        refill=refill,
    )


async def detail_page(request: Request) -> Response:
    async def save(db: Database, me: Principal, employee_id: int, data: Any, ip: str) -> None:
        expected = versions.form_version(data.get("version"))
        await update(db, me, employee_id, data, ip, expected)

    return await _detail(request, save, FIELDS)


async def set_active_page(request: Request) -> Response:
    async def save(db: Database, me: Principal, employee_id: int, data: Any, ip: str) -> None:
        wanted = fields.boolean(data["active"]) if data.get("active") else None
        expected = versions.form_version(data.get("version"))
        await toggle_active(db, me, employee_id, wanted, ip, expected)

    return await _detail(request, save, ACTIVE_FIELDS, refill=False)


async def export_csv(request: Request) -> Response:
    state = AppState.of(request)
    me = await require_role(request, READERS)
    q = request.query_params.get("q", "").strip()
    unit_id = optional_int(request.query_params.get("unit"))
    rows = await state.db.fetch_all(query(me, q, unit_id, request.query_params.get("status", "")))
    return Response(
        staff.export_csv(rows),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": 'attachment; filename="pegawai.csv"',
            "Cache-Control": "no-store",
        },
    )


async def import_page(request: Request) -> Response:
    state = AppState.of(request)
    me = await require_role(request, WRITERS)
    context: dict[str, Any] = {"agencies": [], "report": None, "imported": None}
    if me.is_super:
        context["agencies"] = await state.db.fetch_all(agencies.select().order_by(agencies.c.name))
    if request.method == "POST":
        form = await request.form()
        try:
            status = await _import_upload(request, me, form, context)
        finally:
            await form.close()  # the upload's temporary file
        return render(request, "admin/import.html", context, status_code=status)
    return render(request, "admin/import.html", context)


async def _import_upload(
    request: Request, me: Principal, form: Any, context: dict[str, Any]
) -> int:
    """Check (and unless a dry run, import) the uploaded file; fills ``context``; the status."""
    db = AppState.of(request).db
    upload = form.get("file")
    dry_run = form.get("mode") != "import"
    lang = current_language.get()
    try:
        if not isinstance(upload, UploadFile) or not upload.filename:
            raise ValidationError("choose a CSV file")
        data = await upload.read(MAX_UPLOAD + 1)
        if len(data) > MAX_UPLOAD:
            raise ValidationError("the file is larger than 10 MB")
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise ValidationError("the file is not UTF-8 text") from exc
        agency_id = optional_int(str(form.get("agency_id") or ""))
        report = await check_import(db, me, text, agency_id)
    except ValidationError as exc:
        context["form_error"] = exc.render(lang)
        return 400
    context["report"] = report
    context["errors"] = [(line, e.render(lang)) for line, e in report.errors]
    context["dry_run"] = dry_run
    if not report.ok:
        return 400
    if not dry_run:
        try:
            context["imported"] = await staff.import_rows(db, report.rows, actor=me.actor)
        except ValidationError as exc:  # another import added one of these NIPs meanwhile
            context["form_error"] = exc.render(lang)
            return 409
    return 200
