"""``/healthz``: the process is up. ``/readyz``: it can serve, with the database reachable and
its schema at the migrations' head. Load balancers and the container healthcheck use them."""

from __future__ import annotations

import functools

from starlette.requests import Request
from starlette.responses import JSONResponse

from backend import migrate
from backend.state import AppState


@functools.cache
def _head() -> str | None:
    return migrate.head_revision()


async def healthz(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> JSONResponse:
    state = AppState.of(request)
    try:
        current = await state.db.fetch_val("SELECT version_num FROM alembic_version")
    except Exception as exc:  # any failure to reach or read the database means "not ready"
        return JSONResponse(
            {"status": "unavailable", "reason": f"database: {exc.__class__.__name__}"},
            status_code=503,
        )
    if not await state.hot.ready():  # the check-in path's own connections, not only the pool
        return JSONResponse(
            {"status": "unavailable", "reason": "database: check-in connections"},
            status_code=503,
        )
    head = _head()
    if current != head:
        return JSONResponse(
            {
                "status": "unavailable",
                "reason": "migrations pending: run `presensi migrate`",
                "revision": current,
                "head": head,
            },
            status_code=503,
        )
    return JSONResponse({"status": "ready", "revision": current})
