"""The "Indikasi kecurangan" review page: fraud-pattern clusters (backend/fraud.py) with the
scans behind them, for agency admins, who confirm or dismiss each; the decision is kept and
audited. The scans' reported positions are shown here, to the roles that review."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from backend import fraud
from backend.admin.pages import form_data, page_number, redirect, render, translate
from backend.admin.recaps import resolve_scope
from backend.admin.security import ORG_ADMINS, Principal, request_ip, require_role
from backend.db import (
    as_utc,
    checkins,
    displays,
    employees,
    fraud_cluster_scans,
    fraud_clusters,
    offices,
    units,
)
from backend.i18n import gettext_lazy as _
from backend.state import AppState

PER_PAGE = 50
STATUSES = ("open", "confirmed", "dismissed")
LABELS = {
    "shared_client": _(
        "Several employees from one phone (same address and browser within 60 seconds)"
    ),
    "shared_coordinates": _("Identical coordinates for different employees on different days"),
    "impossible_travel": _("Scans at two offices too far apart for the time between them"),
    "console_token": _("Scans with a code printed by an operator (presensi display token)"),
    "platform_changed": _("A phone whose operating system changed"),
}


def labels() -> dict[str, str]:
    return {k: translate(v) for k, v in LABELS.items()}


async def list_page(request: Request) -> Response:
    me = await require_role(request, ORG_ADMINS)
    where = await resolve_scope(request, me, monthly=False)
    db = AppState.of(request).db
    status = request.query_params.get("status", "open")
    pattern = request.query_params.get("pattern", "")
    size = sa.select(sa.func.count()).where(fraud_cluster_scans.c.cluster_id == fraud_clusters.c.id)
    query = (
        sa.select(fraud_clusters, size.scalar_subquery().label("scans"))
        .where(fraud_clusters.c.agency_id == where.agency_id)
        .order_by(fraud_clusters.c.last_at.desc(), fraud_clusters.c.id.desc())
    )
    if status in STATUSES:
        query = query.where(fraud_clusters.c.status == status)
    if pattern in fraud.PATTERNS:
        query = query.where(fraud_clusters.c.pattern == pattern)
    number = page_number(request)
    rows = await db.fetch_all(query.limit(PER_PAGE).offset((number - 1) * PER_PAGE))
    return render(
        request,
        "admin/fraud.html",
        {
            "rows": rows,
            "status": status,
            "pattern": pattern,
            "statuses": STATUSES,
            "patterns": fraud.PATTERNS,
            "agency_id": where.agency_id,
            "page": number,
            "more": len(rows) == PER_PAGE,
            "pattern_labels": labels(),
        },
    )


async def _cluster(request: Request, me: Principal) -> Any:
    db = AppState.of(request).db
    query = fraud_clusters.select().where(fraud_clusters.c.id == request.path_params["cluster_id"])
    if not me.is_super:
        query = query.where(fraud_clusters.c.agency_id == me.agency_id)
    row = await db.fetch_one(query)
    if row is None:
        raise HTTPException(404)
    return row


async def scans(db: Any, cluster_id: int) -> list[dict[str, Any]]:
    """The scans behind a cluster, oldest first, with who, where and from which client."""
    found = await db.fetch_all(
        sa.select(
            checkins.c.id,
            checkins.c.at,
            checkins.c.local_date,
            checkins.c.kind,
            checkins.c.status,
            checkins.c.flags,
            checkins.c.client_ip,
            checkins.c.user_agent,
            checkins.c.device_id,
            checkins.c.latitude,
            checkins.c.longitude,
            checkins.c.accuracy_m,
            employees.c.id.label("employee_id"),
            employees.c.nip,
            employees.c.name,
            units.c.name.label("unit"),
            offices.c.name.label("office"),
            offices.c.timezone,
            displays.c.name.label("display"),
        )
        .select_from(
            fraud_cluster_scans.join(checkins, checkins.c.id == fraud_cluster_scans.c.checkin_id)
            .join(employees, employees.c.id == checkins.c.employee_id)
            .join(units, units.c.id == employees.c.unit_id)
            .join(offices, offices.c.id == checkins.c.office_id)
            .join(displays, displays.c.id == checkins.c.display_id)
        )
        .where(fraud_cluster_scans.c.cluster_id == cluster_id)
        .order_by(checkins.c.at, checkins.c.id)
    )
    return [
        {
            **dict(r._mapping),
            "at": as_utc(r["at"]).astimezone(ZoneInfo(r["timezone"])),
            "flags": [f for f in r["flags"].split(",") if f],
        }
        for r in found
    ]


async def detail_page(request: Request, form_error: str | None = None) -> Response:
    me = await require_role(request, ORG_ADMINS)
    cluster = await _cluster(request, me)
    return render(
        request,
        "admin/fraud_cluster.html",
        {
            "c": cluster,
            "scans": await scans(AppState.of(request).db, cluster["id"]),
            "form_error": form_error,
            "pattern_labels": labels(),
        },
        status_code=400 if form_error else 200,
    )


async def decide(request: Request) -> Response:
    me = await require_role(request, ORG_ADMINS)
    cluster = await _cluster(request, me)
    data = await form_data(request)
    decision = data.get("decision", "")
    if decision not in fraud.DECISIONS:
        return await detail_page(request, form_error="confirmed / dismissed")
    await fraud.decide(
        AppState.of(request).db,
        cluster["id"],
        decision,
        data.get("note", ""),
        me.actor,
        request_ip(request),
    )
    return redirect(f"/admin/fraud/{cluster['id']}", "saved")
