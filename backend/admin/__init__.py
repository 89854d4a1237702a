"""The admin console: one view module per area; ``routes`` is mounted at /admin."""

from __future__ import annotations

from starlette.routing import BaseRoute

routes: list[BaseRoute] = []
# JSON admin API for other government systems, mounted under /api/v1/admin.
api_routes: list[BaseRoute] = []
