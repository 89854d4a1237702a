"""The baseline for scripts/bench/checkin: one bare Starlette endpoint, served by uvicorn with
exactly the options ``presensi serve`` uses.

    python scripts/bench/bare_app.py PORT
"""

from __future__ import annotations

import sys
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from backend.cli import uvicorn_options
from backend.settings import load_settings


async def hello(request: Request) -> JSONResponse:
    return JSONResponse({"ok": True})


app = Starlette(routes=[Route("/", hello)])

if __name__ == "__main__":
    uvicorn.run(app, **uvicorn_options(load_settings(), host="127.0.0.1", port=int(sys.argv[1])))
