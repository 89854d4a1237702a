"""Routes of the office display: pairing, the page, and its websocket."""

from __future__ import annotations

from starlette.routing import BaseRoute

routes: list[BaseRoute] = []
