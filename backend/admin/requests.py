"""Requests from the phone, for operators: the lists and the decisions (one or in bulk), on
the admin API (``/api/v1/admin/requests``) and the console page (``/admin/requests``)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from backend import requests as staff_requests_domain
from backend.admin import fields, scope
from backend.admin.pages import render
from backend.admin.security import READERS, WRITERS, Principal, require_role
from backend.db import employees, staff_requests
from backend.errors import ApiError
from backend.state import AppState

MAX_BULK = 200
HELD = ("operator", "all")
STATUS_CHOICES = (*staff_requests_domain.STATUSES, "all")


def listing(me: Principal, status: str, held: str) -> Any:
    if status not in (*staff_requests_domain.STATUSES, "all"):
        raise ApiError(
            "validation_failed", detail="status: pending, approved, rejected, cancelled or all"
        )
    if held not in HELD:
        raise ApiError("validation_failed", detail="held: operator or all")
    query = (
        staff_requests.select()
        .where(
            staff_requests.c.employee_id.in_(sa.select(employees.c.id).where(scope.employees(me)))
        )
        .order_by(staff_requests.c.created_at.desc(), staff_requests.c.id.desc())
    )
    if status != "all":
        query = query.where(staff_requests.c.status == status)
    if held == "operator":  # the ones nobody else decides: no supervisor, or escalated
        query = query.where(
            sa.or_(staff_requests.c.holder_id.is_(None), staff_requests.c.escalations > 0)
        )
    return query


def decider(me: Principal) -> staff_requests_domain.Decider:
    return staff_requests_domain.Decider(actor=me.actor, operator_scope=scope.employees(me))


async def api_list(request: Request, me: Principal) -> Any:
    db = AppState.of(request).db
    p = request.query_params
    query = listing(me, p.get("status", "pending"), p.get("held", "all"))
    page = max(1, fields.int_or_none(p.get("page")) or 1)
    per_page = min(500, max(1, fields.int_or_none(p.get("per_page")) or 50))
    total = await db.fetch_val(sa.select(sa.func.count()).select_from(query.subquery()))
    rows = await db.fetch_all(query.limit(per_page).offset((page - 1) * per_page))
    items = await staff_requests_domain.describe(db, list(rows))
    return {"items": items, "page": page, "per_page": per_page, "total": total}


async def api_get(request: Request, me: Principal) -> Any:
    db = AppState.of(request).db
    row = await db.fetch_one(
        listing(me, "all", "all").where(staff_requests.c.id == request.path_params["request_id"])
    )
    if row is None:
        raise ApiError("not_found", detail="request")
    return (await staff_requests_domain.describe(db, [row]))[0]


async def api_decide(request: Request, me: Principal) -> Any:
    from backend.admin.api import body_of

    db = AppState.of(request).db
    data = await body_of(request)
    return await staff_requests_domain.decide(
        db, request.path_params["request_id"], data, decider(me)
    )


async def decide_many(db: Any, me: Principal, data: Any) -> dict[str, Any]:
    """Each request decided on its own: one refused does not undo the others."""
    ids = data.get("request_ids") if isinstance(data, dict) else None
    if (
        not isinstance(ids, list)
        or not ids
        or len(ids) > MAX_BULK
        or not all(isinstance(i, int) and not isinstance(i, bool) and 0 < i < 2**31 for i in ids)
    ):
        raise ApiError("validation_failed", detail=f"request_ids: 1 to {MAX_BULK} ids")
    one = {"decision": data.get("decision"), "note": data.get("note", "")}
    if (
        not isinstance(one["decision"], str)
        or one["decision"] not in staff_requests_domain.DECISIONS
    ):
        raise ApiError("validation_failed", detail="decision: approve or reject")
    results = []
    for request_id in dict.fromkeys(ids):
        try:
            done = await staff_requests_domain.decide(db, request_id, one, decider(me))
            results.append({"request_id": request_id, "status": done["status"]})
        except ApiError as exc:
            results.append({"request_id": request_id, "error": exc.code})
    return {"results": results}


async def api_decide_many(request: Request, me: Principal) -> Any:
    from backend.admin.api import body_of

    return await decide_many(AppState.of(request).db, me, await body_of(request))


# -- console page ------------------------------------------------------------------------


async def list_page(request: Request) -> Response:
    me = await require_role(request, READERS)
    db = AppState.of(request).db
    status = request.query_params.get("status", "pending")
    held = request.query_params.get("held", "all")
    if status not in (*staff_requests_domain.STATUSES, "all"):
        status = "pending"
    if held not in HELD:
        held = "all"
    rows = await db.fetch_all(listing(me, status, held).limit(500))
    items = await staff_requests_domain.describe(db, list(rows))
    return render(
        request,
        "admin/requests.html",
        {"items": items, "status": status, "held": held, "statuses": STATUS_CHOICES},
    )


async def decide_page(request: Request) -> Response:
    me = await require_role(request, WRITERS)
    form = await request.form()
    ids = [fields.int_or_none(str(v)) for v in form.getlist("request_id")]
    data = {
        "request_ids": [i for i in ids if i is not None],
        "decision": str(form.get("decision", "")),
        "note": str(form.get("note", "")),
    }
    db = AppState.of(request).db
    try:
        outcome = await decide_many(db, me, data)
    except ApiError:
        return RedirectResponse("/admin/requests?status=pending", status_code=303)
    rows = await db.fetch_all(listing(me, "pending", "all").limit(500))
    items = await staff_requests_domain.describe(db, list(rows))
    return render(
        request,
        "admin/requests.html",
        {
            "items": items,
            "status": "pending",
            "held": "all",
            "statuses": STATUS_CHOICES,
            "results": outcome["results"],
        },
    )
