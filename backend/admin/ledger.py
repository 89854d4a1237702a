"""The chain's head at the end of each day (backend/ledger.py): shown, printable, exported.

An inspector (Inspektorat) keeps a printout or an export; ``presensi verify-log --heads`` later
proves that no record before those heads was changed. The heads cover the whole server, and
show hashes and counts only, never a record.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from zoneinfo import ZoneInfo

from starlette.requests import Request
from starlette.responses import Response

from backend import csvsafe, ledger
from backend.admin import fields
from backend.admin.pages import render
from backend.admin.security import ORG_ADMINS, require_role
from backend.db import utcnow
from backend.errors import ApiError
from backend.state import AppState

ROLES = (*ORG_ADMINS, "leader")
DEFAULT_DAYS = 31


def _range(request: Request, zone: str) -> tuple[date, date]:
    """``from`` and ``to`` (YYYY-MM-DD), by default the last 31 days up to today."""
    params = request.query_params
    try:
        end = fields.day(params["to"]) if params.get("to") else None
        start = fields.day(params["from"]) if params.get("from") else None
    except ValueError as exc:
        raise ApiError("validation_failed", detail=str(exc)) from None
    if end is None:
        end = utcnow().astimezone(ZoneInfo(zone)).date()
    if start is None:
        start = end - timedelta(days=DEFAULT_DAYS - 1)
    if end < start or (end - start).days >= ledger.MAX_DAYS:
        raise ApiError(
            "validation_failed", detail=f"from..to: at most {ledger.MAX_DAYS} days, from first"
        )
    return start, end


async def _heads(request: Request) -> tuple[list[ledger.DayHead], str, date, date]:
    await require_role(request, ROLES)
    state = AppState.of(request)
    zone = state.settings.default_timezone
    start, end = _range(request, zone)
    return await ledger.daily_heads(state.db, zone, start, end), zone, start, end


async def heads_page(request: Request) -> Response:
    heads, zone, start, end = await _heads(request)
    return render(
        request,
        "admin/ledger.html",
        {
            "heads": list(reversed(heads)),
            "zone": zone,
            "start": start,
            "end": end,
            "query": request.url.query,
        },
    )


def _download(body: str, media_type: str, name: str) -> Response:
    return Response(
        body,
        media_type=media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
        },
    )


async def heads_csv(request: Request) -> Response:
    heads, _, start, end = await _heads(request)
    return _download(
        csvsafe.text(ledger.heads_csv_rows(heads)),
        "text/csv; charset=utf-8",
        f"presensi-ledger-heads-{start}-{end}.csv",
    )


async def heads_json(request: Request) -> Response:
    heads, zone, start, end = await _heads(request)
    return _download(
        json.dumps(ledger.heads_document(heads, zone), indent=1),
        "application/json",
        f"presensi-ledger-heads-{start}-{end}.json",
    )
