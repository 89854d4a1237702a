"""The agency's TPP deduction rules: one percentage per event, defaults until changed."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from backend import tpp
from backend.admin.pages import form_data, redirect, render
from backend.admin.presence import error_text
from backend.admin.recaps import resolve_scope
from backend.admin.security import ORG_ADMINS, READERS, require_role
from backend.errors import ApiError
from backend.state import AppState


async def rules_page(request: Request, form_error: str | None = None) -> Response:
    me = await require_role(request, READERS)
    where = await resolve_scope(request, me, monthly=False)
    rules = await tpp.rules_for(AppState.of(request).db, where.agency_id)
    rows = [
        (code, tpp.LABELS[code], tpp.percent(rules[code]), tpp.percent(tpp.DEFAULT_RULES[code]))
        for code in tpp.DEFAULT_RULES
    ]
    return render(
        request,
        "admin/tpp.html",
        {"rows": rows, "form_error": form_error},
        status_code=400 if form_error else 200,
    )


async def save(request: Request) -> Response:
    me = await require_role(request, ORG_ADMINS)
    where = await resolve_scope(request, me, monthly=False)
    db = AppState.of(request).db
    data = await form_data(request)
    current = await tpp.rules_for(db, where.agency_id)
    try:
        wanted = {code: tpp.parse_percent(data.get(code, "")) for code in tpp.DEFAULT_RULES}
    except ApiError as exc:
        return await rules_page(request, error_text(exc))
    for code, points in wanted.items():
        if points != current[code]:
            await tpp.set_rule(
                db, agency_id=where.agency_id, code=code, basis_points=points, actor=me.actor
            )
    return redirect("/admin/tpp", "saved")
