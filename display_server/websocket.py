"""``/display/ws``: the paired display's live feed of tokens and check-ins.

Close codes: 4403 for a foreign Origin or a network outside the office's allow-list, 4401 for a
missing, unknown or revoked credential (also sent when an admin revokes the display), 1001 when
the server shuts down. The socket is accepted before it is closed so the page can read the code.

An ASGI app rather than a Starlette endpoint function, so that the hub gets the connection's
``send`` and writes tokens through it directly (display_server/rotation.py).
"""

from __future__ import annotations

import asyncio
import contextlib

from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect

from backend.db import displays, utcnow
from backend.state import AppState, client_ip
from display_server.pairing import CREDENTIAL_COOKIE, authenticate, network_allowed
from display_server.rotation import CLOSE_REVOKED, Close, Connection, hub_of, send

CLOSE_FORBIDDEN = 4403
CLOSE_UNAUTHORISED = CLOSE_REVOKED  # 4401


class DisplaySocket:
    """The ASGI app of ``WebSocketRoute("/display/ws")``."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await serve_display(WebSocket(scope, receive, send), send)


display_socket = DisplaySocket()


async def serve_display(websocket: WebSocket, asgi_send: Send) -> None:
    state = AppState.of(websocket)
    settings = state.settings
    await websocket.accept()
    if websocket.headers.get("origin") != settings.public_origin:
        await websocket.close(CLOSE_FORBIDDEN)
        return
    display = await authenticate(
        state.db, settings.secret_key, websocket.cookies.get(CREDENTIAL_COOKIE)
    )
    if display is None:
        await websocket.close(CLOSE_UNAUTHORISED)
        return
    ip = client_ip(websocket, settings)
    if not network_allowed(display.allowed_networks, ip):
        await websocket.close(CLOSE_FORBIDDEN)
        return
    await state.db.execute(
        displays.update()
        .where(displays.c.id == display.id)
        .values(last_seen_at=utcnow(), last_seen_ip=ip[:64])
    )
    hub = hub_of(state)
    conn = Connection(display.id, ip, asgi_send, office_id=display.office_id)
    reader = asyncio.create_task(_read_until_closed(websocket, conn))
    try:
        await hub.add(conn)
        await _send_queued(websocket, conn)
    finally:
        hub.remove(conn)
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader


async def _send_queued(websocket: WebSocket, conn: Connection) -> None:
    while True:
        item = await conn.queue.get()
        if isinstance(item, Close):
            if item.code:
                with contextlib.suppress(WebSocketDisconnect, RuntimeError):
                    await websocket.close(item.code)
            return
        if not await send(conn, item):
            return


async def _read_until_closed(websocket: WebSocket, conn: Connection) -> None:
    """The page sends nothing we need; reading notices the peer going away at once."""
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            conn.queue.put_nowait(Close(0))
            return
