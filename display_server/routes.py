"""Routes of the office display: pairing, the page, its websocket and its static files."""

from __future__ import annotations

from pathlib import Path

from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles

from display_server import views, websocket

STATIC_DIR = Path(__file__).parent / "static"

routes: list[BaseRoute] = [
    Route("/display", views.display_page, methods=["GET"]),
    Route("/display/pair", views.pair_display, methods=["POST"]),
    WebSocketRoute("/display/ws", websocket.display_socket),
    Mount("/display/static", app=StaticFiles(directory=STATIC_DIR), name="display_static"),
]
