"""The admin JSON API under ``/api/v1/admin``, for other government systems.

The same operations as the admin pages, with an API token (``Authorization: Bearer pst_…``)
instead of a session; a token has a role and scope like an admin, so the same checks apply.
Admin accounts and API tokens themselves are managed only from the pages. Errors are
``{"error": {"code", "message", "message_en", "detail"?}}``.

Every object answered carries its version as the ``ETag`` header (``backend.versions``); a
write that sends ``If-Match`` is refused with 412 ``precondition_failed`` (and the current
``ETag``) when the object changed since, and nothing is written. Without ``If-Match`` a write
is not checked, as before.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from backend import employees as staff
from backend import versions
from backend.admin import (
    agencies,
    apel,
    audit,
    discipline,
    displays,
    employees,
    fields,
    offices,
    organisation,
    phones,
    requests,
    scope,
    units,
)
from backend.admin.pages import PER_PAGE
from backend.admin.security import (
    ORG_ADMINS,
    READERS,
    SUPER,
    WRITERS,
    Principal,
    Refused,
    request_ip,
    require_token,
)
from backend.api import read_json
from backend.db import agencies as agencies_table
from backend.db import displays as displays_table
from backend.db import employees as employees_table
from backend.db import offices as offices_table
from backend.db import units as units_table
from backend.employees import ValidationError
from backend.errors import ApiError, error_response
from backend.state import AppState

MAX_JSON = 64 * 1024
MAX_PER_PAGE = 500
Handler = Callable[[Request, Principal], Awaitable[Any]]


def plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def as_dict(row: Any, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    return {k: plain(v) for k, v in dict(row._mapping).items() if k not in skip}


def endpoint(roles: tuple[str, ...], handler: Handler, status: int = 200) -> Callable[..., Any]:
    """An API route: token and role checked first, domain errors turned into API errors."""

    async def run(request: Request) -> Response:
        me = await require_token(request, roles)
        try:
            body = await handler(request, me)
        except ValidationError as exc:
            raise ApiError("validation_failed", detail=str(exc)) from exc
        except Refused as exc:
            raise ApiError("forbidden") from exc
        except HTTPException as exc:
            if exc.status_code == 404:
                raise ApiError("not_found") from exc
            raise ApiError("validation_failed", detail=str(exc.detail)) from exc
        except versions.Conflict as exc:
            headers = {"ETag": versions.etag(exc.version)}
            return error_response(ApiError("precondition_failed"), headers)
        if isinstance(body, Response):
            return body
        return JSONResponse(body, status_code=status)

    return run


async def body_of(request: Request) -> dict[str, Any]:
    data = await read_json(request, MAX_JSON)
    if not isinstance(data, dict):
        raise ApiError("invalid_request", detail="expected a JSON object")
    return data


async def paged(
    request: Request, query: sa.Select[Any], convert: Callable[[Any], Any] | None = None
) -> dict[str, Any]:
    db = AppState.of(request).db
    page = fields.int_or_none(request.query_params.get("page")) or 1
    per_page = min(
        MAX_PER_PAGE, fields.int_or_none(request.query_params.get("per_page")) or PER_PAGE
    )
    total = await db.fetch_val(sa.select(sa.func.count()).select_from(query.subquery()))
    rows = await db.fetch_all(query.limit(per_page).offset((max(page, 1) - 1) * per_page))
    items = [(convert or as_dict)(r) for r in rows]
    return {"items": items, "page": page, "per_page": per_page, "total": total}


def versioned(body: dict[str, Any], table: sa.Table, row: Any, status: int = 200) -> Response:
    """An object with its version as the ETag."""
    headers = {"ETag": versions.etag(versions.of_row(table, row))}
    return JSONResponse(body, status_code=status, headers=headers)


def expected(request: Request) -> versions.Expected:
    return versions.if_match(request.headers.get("if-match"))


async def merged(request: Request, table: sa.Table, row_id: int) -> dict[str, Any]:
    """PATCH: the stored values with the sent ones on top (scope is checked by the save)."""
    db = AppState.of(request).db
    row = await db.fetch_one(table.select().where(table.c.id == row_id))
    return (as_dict(row) if row else {}) | await body_of(request)


def ident(request: Request, name: str) -> int:
    value: int = request.path_params[name]
    return value


# -- handlers -------------------------------------------------------------------------------


async def me_(request: Request, me: Principal) -> Any:
    return {"name": me.name, "role": me.role, "agency_id": me.agency_id, "unit_id": me.unit_id}


async def list_agencies(request: Request, me: Principal) -> Any:
    return await paged(request, agencies.query(me, request.query_params.get("q", "")))


def crud(
    module: Any, table: sa.Table, id_param: str, clause: Callable[[Principal], Any]
) -> tuple[Handler, Handler, Handler]:
    """GET, POST and PATCH handlers for a record that ``module.save`` validates and writes
    (``clause``: the principal's scope); all answer with the stored row and its ETag."""

    async def stored(db: Any, record_id: int, status: int = 200) -> Response:
        row = await db.fetch_one(table.select().where(table.c.id == record_id))
        return versioned(as_dict(row), table, row, status)

    async def get(request: Request, me: Principal) -> Any:
        db = AppState.of(request).db
        row = await scope.fetch_in_scope(db, table, ident(request, id_param), clause(me))
        return versioned(as_dict(row), table, row)

    async def create(request: Request, me: Principal) -> Any:
        db = AppState.of(request).db
        record_id = await module.save(db, me, None, await body_of(request), request_ip(request))
        return await stored(db, record_id, 201)

    async def update(request: Request, me: Principal) -> Any:
        db = AppState.of(request).db
        record_id = ident(request, id_param)
        data = await merged(request, table, record_id)
        await module.save(db, me, record_id, data, request_ip(request), expected(request))
        return await stored(db, record_id)

    return get, create, update


get_agency, create_agency, update_agency = crud(
    agencies, agencies_table, "agency_id", scope.agencies
)


async def list_units(request: Request, me: Principal) -> Any:
    agency_id = fields.int_or_none(request.query_params.get("agency_id"))
    return await paged(request, units.query(me, request.query_params.get("q", ""), agency_id))


get_unit, create_unit, update_unit = crud(units, units_table, "unit_id", scope.units)


async def list_offices(request: Request, me: Principal) -> Any:
    return await paged(request, offices.query(me, request.query_params.get("q", "")))


get_office, create_office, update_office = crud(offices, offices_table, "office_id", scope.offices)


def employee_view(row: Any) -> dict[str, Any]:
    return as_dict(row, skip=("timezone", "unit_name", "device_id")) | {
        "enrolled": bool(row["device_id"])
    }


async def list_employees(request: Request, me: Principal) -> Any:
    p = request.query_params
    query = employees.query(
        me, p.get("q", ""), fields.int_or_none(p.get("unit_id")), p.get("status", "")
    )
    return await paged(request, query, employee_view)


async def get_employee(request: Request, me: Principal) -> Any:
    db = AppState.of(request).db
    row = await db.fetch_one(
        employees.query(me).where(employees_table.c.id == ident(request, "employee_id"))
    )
    if row is None:
        raise HTTPException(404)
    return versioned(employee_view(row), employees_table, row)


async def create_employee(request: Request, me: Principal) -> Any:
    employee_id = await employees.create(
        AppState.of(request).db, me, await body_of(request), request_ip(request)
    )
    request.path_params["employee_id"] = employee_id
    response = await get_employee(request, me)
    response.status_code = 201
    return response


async def update_employee(request: Request, me: Principal) -> Any:
    data = await body_of(request)
    if "active" in data and not isinstance(data["active"], bool):  # JSON true or false only
        raise ValidationError("expected true or false, got {value!r}", value=str(data["active"]))
    await employees.update(
        AppState.of(request).db,
        me,
        ident(request, "employee_id"),
        data,
        request_ip(request),
        expected(request),
    )
    return await get_employee(request, me)


async def import_employees(request: Request, me: Principal) -> Any:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "text/csv":
        raise ApiError("unsupported_media_type", detail="send the file as text/csv")
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > employees.MAX_UPLOAD:
            raise ApiError("payload_too_large")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ApiError("invalid_request", detail="the file is not UTF-8") from exc
    dry_run = fields.boolean(request.query_params.get("dry_run", ""))
    agency_id = fields.int_or_none(request.query_params.get("agency_id"))
    db = AppState.of(request).db
    report = await employees.check_import(db, me, text, agency_id)
    errors = [
        {"line": line, "message": e.render("id"), "message_en": e.render("en")}
        for line, e in report.errors
    ]
    imported = 0
    if report.ok and not dry_run:
        imported = await staff.import_rows(db, report.rows, actor=me.actor)
    body = {
        "ok": report.ok,
        "rows": report.total,
        "valid": len(report.rows),
        "errors": errors,
        "imported": imported,
    }
    return JSONResponse(body, status_code=200 if report.ok else 422)


async def issue_code(request: Request, me: Principal) -> Any:
    state = AppState.of(request)
    row, code = await phones.issue_code(
        state.db, state.settings, me, ident(request, "employee_id"), request_ip(request)
    )
    return {
        "nip": row["nip"],
        "code": code,
        "expires_in": state.settings.enrolment_code_ttl,
        "enrol_url": phones.enrol_url(state.settings, row["nip"]),
    }


async def get_device(request: Request, me: Principal) -> Any:
    db = AppState.of(request).db
    employee_id = ident(request, "employee_id")
    await scope.fetch_in_scope(db, employees_table, employee_id, scope.employees(me))
    row = await phones.current_device(db, employee_id)
    return {"device": as_dict(row, skip=("public_key",)) if row else None}


async def revoke_device(request: Request, me: Principal) -> Any:
    db = AppState.of(request).db
    employee_id = ident(request, "employee_id")
    row = await phones.current_device(db, employee_id)
    if row is None or not await phones.revoke_device(
        db, me, employee_id, row["id"], request_ip(request)
    ):
        raise HTTPException(404)
    return {"revoked": row["id"]}


def display_view(row: Any, settings: Any) -> dict[str, Any]:
    info = displays.describe(row, settings)
    return {k: v for k, v in info.items() if k not in ("last_seen", "state_label")}


async def list_displays(request: Request, me: Principal) -> Any:
    state = AppState.of(request)
    office_id = fields.int_or_none(request.query_params.get("office_id"))
    return await paged(
        request, displays.query(me, office_id), lambda r: display_view(r, state.settings)
    )


async def create_display(request: Request, me: Principal) -> Any:
    state = AppState.of(request)
    display_id, code = await displays.create(
        state.db, state.settings, me, await body_of(request), request_ip(request)
    )
    return {"id": display_id, "pairing_code": code}


async def get_display(request: Request, me: Principal) -> Any:
    state = AppState.of(request)
    row = await displays.fetch(state.db, me, ident(request, "display_id"))
    return versioned(display_view(row, state.settings), displays_table, row)


async def rename_display(request: Request, me: Principal) -> Any:
    state = AppState.of(request)
    data = await body_of(request)
    await displays.rename(
        state.db,
        me,
        ident(request, "display_id"),
        data.get("name"),
        request_ip(request),
        expected(request),
    )
    return await get_display(request, me)


async def display_pairing_code(request: Request, me: Principal) -> Any:
    state = AppState.of(request)
    display_id = ident(request, "display_id")
    code = await displays.new_pairing_code(
        state.db, state.settings, me, display_id, request_ip(request)
    )
    return {"id": display_id, "pairing_code": code}


async def revoke_display(request: Request, me: Principal) -> Any:
    state = AppState.of(request)
    display_id = ident(request, "display_id")
    await displays.revoke(state, me, display_id, request_ip(request))
    return await get_display(request, me)


async def list_audit(request: Request, me: Principal) -> Any:
    state = AppState.of(request)
    return await paged(
        request, audit.query(me, dict(request.query_params), state.settings.default_timezone)
    )


async def list_delegations(request: Request, me: Principal) -> Any:
    query = organisation.delegation_query(
        me, active=fields.boolean(request.query_params.get("active", ""))
    )
    return await paged(request, query, organisation.delegation_view)


async def create_delegation(request: Request, me: Principal) -> Any:
    db = AppState.of(request).db
    delegation_id = await organisation.create_delegation(
        db, me, await body_of(request), request_ip(request)
    )
    row = await organisation.fetch_delegation(db, me, delegation_id)
    return organisation.delegation_view(row)


async def cancel_delegation(request: Request, me: Principal) -> Any:
    db = AppState.of(request).db
    delegation_id = ident(request, "delegation_id")
    await organisation.cancel_delegation(db, me, delegation_id, request_ip(request))
    return organisation.delegation_view(await organisation.fetch_delegation(db, me, delegation_id))


GET, POST, PATCH, DELETE = ["GET"], ["POST"], ["PATCH"], ["DELETE"]

routes: list[BaseRoute] = [
    Route("/me", endpoint(READERS, me_), methods=GET),
    Route("/agencies", endpoint((*ORG_ADMINS, "leader"), list_agencies), methods=GET),
    Route("/agencies", endpoint(SUPER, create_agency, 201), methods=POST),
    Route("/agencies/{agency_id:id}", endpoint((*ORG_ADMINS, "leader"), get_agency), methods=GET),
    Route("/agencies/{agency_id:id}", endpoint(SUPER, update_agency), methods=PATCH),
    Route("/units", endpoint(READERS, list_units), methods=GET),
    Route("/units", endpoint(ORG_ADMINS, create_unit, 201), methods=POST),
    Route("/units/{unit_id:id}", endpoint(READERS, get_unit), methods=GET),
    Route("/units/{unit_id:id}", endpoint(ORG_ADMINS, update_unit), methods=PATCH),
    Route("/offices", endpoint(READERS, list_offices), methods=GET),
    Route("/offices", endpoint(ORG_ADMINS, create_office, 201), methods=POST),
    Route("/offices/{office_id:id}", endpoint(READERS, get_office), methods=GET),
    Route("/offices/{office_id:id}", endpoint(ORG_ADMINS, update_office), methods=PATCH),
    Route("/employees", endpoint(READERS, list_employees), methods=GET),
    Route("/employees", endpoint(WRITERS, create_employee, 201), methods=POST),
    Route("/employees/import", endpoint(WRITERS, import_employees), methods=POST),
    Route("/employees/{employee_id:id}", endpoint(READERS, get_employee), methods=GET),
    Route("/employees/{employee_id:id}", endpoint(WRITERS, update_employee), methods=PATCH),
    Route(
        "/employees/{employee_id:id}/enrolment-code",
        endpoint(WRITERS, issue_code, 201),
        methods=POST,
    ),
    Route("/employees/{employee_id:id}/device", endpoint(READERS, get_device), methods=GET),
    Route(
        "/employees/{employee_id:id}/device/revoke", endpoint(WRITERS, revoke_device), methods=POST
    ),
    Route("/displays", endpoint(READERS, list_displays), methods=GET),
    Route("/displays", endpoint(WRITERS, create_display, 201), methods=POST),
    Route("/displays/{display_id:id}", endpoint(READERS, get_display), methods=GET),
    Route("/displays/{display_id:id}", endpoint(WRITERS, rename_display), methods=PATCH),
    Route(
        "/displays/{display_id:id}/pairing-code",
        endpoint(WRITERS, display_pairing_code, 201),
        methods=POST,
    ),
    Route("/displays/{display_id:id}/revoke", endpoint(WRITERS, revoke_display), methods=POST),
    Route("/audit", endpoint(ORG_ADMINS, list_audit), methods=GET),
    Route("/apel", endpoint(READERS, apel.api_list), methods=GET),
    Route("/apel", endpoint(WRITERS, apel.api_create, 201), methods=POST),
    Route("/apel/{apel_id:id}", endpoint(WRITERS, apel.api_delete), methods=["DELETE"]),
    Route("/apel/{apel_id:id}/attendance", endpoint(READERS, apel.api_attendance), methods=GET),
    Route("/requests", endpoint(READERS, requests.api_list), methods=GET),
    Route("/requests/decisions", endpoint(WRITERS, requests.api_decide_many), methods=POST),
    Route("/requests/{request_id:id}", endpoint(READERS, requests.api_get), methods=GET),
    Route("/requests/{request_id:id}", endpoint(WRITERS, requests.api_decide), methods=POST),
    Route("/delegations", endpoint(READERS, list_delegations), methods=GET),
    Route("/delegations", endpoint(WRITERS, create_delegation, 201), methods=POST),
    Route(
        "/delegations/{delegation_id:id}",
        endpoint(WRITERS, cancel_delegation),
        methods=DELETE,
    ),
    Route("/discipline", endpoint(READERS, discipline.api_report), methods=GET),
]


# -- OpenAPI --------------------------------------------------------------------------------

SUMMARIES: dict[tuple[str, str], str] = {
    ("GET", "/me"): "The token's own role and scope",
    ("GET", "/agencies"): "List agencies (q, page, per_page)",
    ("POST", "/agencies"): "Create an agency {code, name}",
    ("GET", "/agencies/{agency_id}"): "One agency",
    ("PATCH", "/agencies/{agency_id}"): "Change an agency's code or name",
    ("GET", "/units"): "List units (q, agency_id, page, per_page)",
    ("POST", "/units"): "Create a unit {agency_id (super admin only), code, name}",
    ("GET", "/units/{unit_id}"): "One unit",
    ("PATCH", "/units/{unit_id}"): "Change a unit's code or name",
    ("GET", "/offices"): "List offices",
    ("POST", "/offices"): "Create an office {agency_id, unit_id?, name, address?, timezone, "
    "allowed_networks?, latitude?, longitude?, radius_m?}",
    ("GET", "/offices/{office_id}"): "One office",
    ("PATCH", "/offices/{office_id}"): "Change an office",
    ("GET", "/employees"): "List employees (q: name or NIP, unit_id, status active/inactive)",
    ("POST", "/employees"): "Add an employee {nip, name, unit_id, kind?, office_id?}",
    ("POST", "/employees/import"): "Import a CSV file (text/csv; nip,name,unit[,kind][,office]"
    "[,jabatan][,jenis_jabatan][,eselon][,atasan_nip]); "
    "?dry_run=true checks only. Any bad row: nothing is imported, 422 with every bad line",
    ("GET", "/employees/{employee_id}"): "One employee",
    ("PATCH", "/employees/{employee_id}"): "Change name, kind, unit_id, office_id, active, "
    "position, position_kind (struktural, fungsional, pelaksana), echelon (I.a … IV.b or null) "
    "or supervisor_nip (null clears)",
    ("POST", "/employees/{employee_id}/enrolment-code"): "Issue a one-time enrolment code "
    "(older unused codes stop working)",
    ("GET", "/employees/{employee_id}/device"): "The employee's bound phone, or null",
    ("POST", "/employees/{employee_id}/device/revoke"): "Revoke the employee's bound phone",
    ("GET", "/displays"): "List displays with their state (online, offline, unpaired, revoked)",
    ("POST", "/displays"): "Create a display {name, office_id}; returns its pairing code",
    ("GET", "/displays/{display_id}"): "One display",
    ("PATCH", "/displays/{display_id}"): "Rename a display {name}",
    ("POST", "/displays/{display_id}/pairing-code"): "A new pairing code (moves the display to "
    "another computer)",
    ("POST", "/displays/{display_id}/revoke"): "Revoke a display for good",
    ("GET", "/audit"): "The audit log (action prefix, actor, target, from, to dates)",
    ("GET", "/apel"): "List apel sessions",
    ("POST", "/apel"): "Schedule an apel session {office_id, name, weekday? (0-6) or date? "
    "(YYYY-MM-DD), start, end (HH:MM), unit_ids}; 409 apel_overlaps",
    ("DELETE", "/apel/{apel_id}"): "End an apel session (past occurrences stay in recaps)",
    ("GET", "/apel/{apel_id}/attendance"): "Who attended an apel session on a day (date, "
    "default today or the session's date)",
    ("GET", "/requests"): "Requests from the phones (status: pending (default), approved, "
    "rejected, cancelled, all; held: all (default) or operator: no supervisor, or escalated)",
    ("POST", "/requests/decisions"): "Decide several requests {request_ids, decision: "
    "approve|reject, note?}; each is decided on its own, results per id",
    ("GET", "/requests/{request_id}"): "One request with its history of hand-overs",
    ("POST", "/requests/{request_id}"): "Decide a request {decision: approve|reject, note?}",
    ("GET", "/delegations"): "Acting supervisors (Plt/Plh), newest first (active=true: "
    "today's only)",
    ("POST", "/delegations"): "Let a delegate decide for a supervisor {supervisor_nip, "
    "delegate_nip, start_date, end_date}",
    ("DELETE", "/delegations/{delegation_id}"): "Cancel a delegation (the row is kept)",
    ("GET", "/discipline"): "PP 94/2021: the levels table and everyone with days absent "
    "without reason in a year (year, unit_id, agency_id for a super admin), from the last count",
}


def _operation(method: str, path: str) -> dict[str, Any]:
    from backend.openapi import ERROR_RESPONSE, json_body, json_response

    created = not path.endswith(("/revoke", "/import")) and not path.startswith("/requests")
    ok = "201" if method == "POST" and created else "200"
    operation: dict[str, Any] = {
        "summary": SUMMARIES[(method, path)],
        "tags": ["admin"],
        "security": [{"apiToken": []}],
        "responses": {
            ok: json_response("Done", {"type": "object"}),
            **{code: ERROR_RESPONSE for code in ("400", "401", "403", "404", "422")},
        },
    }
    params = re.findall(r"\{(\w+)\}", path)
    if params:
        operation["parameters"] = [
            {
                "name": p,
                "in": "path",
                "required": True,
                "schema": {"type": "integer", "minimum": 0, "maximum": fields.MAX_ID},
            }
            for p in params
        ]
    if path.endswith("}") and method in ("GET", "PATCH"):
        operation["responses"][ok] = operation["responses"][ok] | {
            "headers": {
                "ETag": {
                    "description": "The object's version, for If-Match",
                    "schema": {"type": "string"},
                }
            }
        }
    if method == "PATCH":
        operation.setdefault("parameters", []).append(
            {
                "name": "If-Match",
                "in": "header",
                "required": False,
                "description": "The ETag of the object as read; when it changed since, the "
                "write is refused with 412 precondition_failed. Without it the write is "
                "not checked.",
                "schema": {"type": "string"},
            }
        )
        operation["responses"]["412"] = ERROR_RESPONSE
    if path.endswith("/import"):
        operation["requestBody"] = {
            "required": True,
            "content": {"text/csv": {"schema": {"type": "string"}}},
        }
    elif method in ("POST", "PATCH") and not path.endswith(("/revoke", "/pairing-code", "-code")):
        operation["requestBody"] = json_body({"type": "object"})
    return operation


def register_openapi() -> None:
    from backend.openapi import register

    for method, path in SUMMARIES:
        register(
            "/api/v1/admin" + path,
            {method.lower(): _operation(method, path)},
            security_schemes={
                "apiToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An API token created by an admin at /admin/tokens "
                    "(starts with pst_); it has a role and scope like an admin.",
                }
            },
        )


register_openapi()
