"""The agency's TPP deduction rules: one percentage per event, defaults until changed."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from databases import Database
from starlette.requests import Request
from starlette.responses import Response

from backend import tpp, versions
from backend.admin.pages import Field, form_page
from backend.admin.recaps import resolve_scope
from backend.admin.security import ORG_ADMINS, READERS, Principal, require_role
from backend.db import agencies, tpp_rules
from backend.errors import ApiError
from backend.state import AppState


def normal_percent(text: str) -> str:
    """ "1,50" -> "1.5", as the page shows it; text that is not a percentage stays as sent."""
    try:
        return tpp.percent(tpp.parse_percent(text))
    except ApiError:
        return text


# The page edits the agency's rules as one set, with one version.
FIELDS = tuple(Field(code, tpp.LABELS[code], parse=normal_percent) for code in tpp.DEFAULT_RULES)


def stored(agency_id: int) -> sa.Select[Any]:
    return (
        sa.select(tpp_rules.c.code, tpp_rules.c.basis_points)
        .where(tpp_rules.c.agency_id == agency_id)
        .order_by(tpp_rules.c.code)
    )


def shown(rows: list[dict[str, Any]]) -> dict[str, str]:
    """Each code's percentage as the page shows it: the agency's own, else the default."""
    rules = dict(tpp.DEFAULT_RULES) | {
        r["code"]: r["basis_points"] for r in rows if r["code"] in tpp.DEFAULT_RULES
    }
    return {code: tpp.percent(points) for code, points in rules.items()}


async def save(
    db: Database, me: Principal, agency_id: int, data: dict[str, str], expected: versions.Expected
) -> None:
    wanted = {code: tpp.parse_percent(data.get(code, "")) for code in tpp.DEFAULT_RULES}
    async with versions.guard_set(db, agencies, agency_id, stored(agency_id), expected, shown):
        current = await tpp.rules_for(db, agency_id)
        for code, points in wanted.items():
            if points != current[code]:
                await tpp.set_rule(
                    db, agency_id=agency_id, code=code, basis_points=points, actor=me.actor
                )


async def rules_page(request: Request) -> Response:
    me = await require_role(request, ORG_ADMINS if request.method == "POST" else READERS)
    where = await resolve_scope(request, me, monthly=False)
    db = AppState.of(request).db

    async def context() -> dict[str, Any]:
        rules = await tpp.rules_for(db, where.agency_id)
        rows = [
            (code, tpp.LABELS[code], tpp.percent(rules[code]), tpp.percent(tpp.DEFAULT_RULES[code]))
            for code in tpp.DEFAULT_RULES
        ]
        return {"rows": rows, "row": {code: value for code, _l, value, _d in rows}}

    async def version() -> str:
        return (await versions.of_set(db, stored(where.agency_id)))[1]

    return await form_page(
        request,
        save=lambda data: save(
            db, me, where.agency_id, data, versions.form_version(data.get("version"))
        ),
        done_url="/admin/tpp",
        done="saved",
        template="admin/tpp.html",
        context=context,
        version=version,
        fields=FIELDS,
    )
