"""``/healthz``: the process is up. ``/readyz``: it can serve, with the database reachable and
its schema at the migrations' head, through the connections requests use: ``databases``' pool
and the check-in path's own (``HotPath.ready()``, a ``SELECT 1`` on the writer's connections).
Load balancers and the container healthcheck use them."""

from __future__ import annotations

import asyncio
import functools

from starlette.requests import Request
from starlette.responses import JSONResponse

from backend import migrate
from backend.state import AppState

# A database that does not answer (a cluster restarting) is "not ready", not a hung probe.
CHECK_TIMEOUT = 3.0


@functools.cache
def _head() -> str | None:
    return migrate.head_revision()


async def healthz(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


def _unavailable(what: str, exc: BaseException) -> JSONResponse:
    return JSONResponse(
        {"status": "unavailable", "reason": f"{what}: {exc.__class__.__name__}"},
        status_code=503,
        headers={"Retry-After": "5"},
    )


async def readyz(request: Request) -> JSONResponse:
    state = AppState.of(request)
    try:
        current = await asyncio.wait_for(
            state.db.fetch_val("SELECT version_num FROM alembic_version"), CHECK_TIMEOUT
        )
    except Exception as exc:  # any failure to reach or read the database means "not ready"
        return _unavailable("database", exc)
    # The check-in path holds connections of its own (the writer's): they must work too, or a
    # restarted PostgreSQL leaves the morning rush failing while this says "ready".
    try:
        checkin_ready = await asyncio.wait_for(state.hot.ready(), CHECK_TIMEOUT)
    except Exception as exc:
        return _unavailable("check-in path", exc)
    if checkin_ready is False:  # HotPath.ready() answers False for a failed SELECT 1
        return _unavailable("check-in path", ConnectionError())
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
