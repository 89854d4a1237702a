"""The rotation loop: one task pushes every connected display its token at each window boundary.

Each websocket registers a ``Connection`` with the process's ``DisplayHub``. In the last moments
of a window the loop builds the next window's small JSON text for every display (the token
differs per display; nothing is rendered on the server, the page draws the QR); at the boundary,
never before, it writes them straight through each connection's ASGI ``send``, in chunks of
``SEND_CHUNK`` displays per task, with no task wake-up per display. A send only waits when the
peer has stopped reading (its transport paused writing); that holds up the rest of its chunk
at most until uvicorn's ping timeout drops the peer, and the peer is skipped while its send
is pending. The hub also feeds the check-in ticker and closes revoked displays through each
connection's own queue and task, and refreshes ``displays.last_seen_at`` for all connected
displays in batched UPDATEs once per period.

During an apel session of its office (backend/apel.py) a display is sent the session's apel
token instead of the daily one; every token message says which it is (``"kind"``: ``"daily"``
or ``"apel"``, with the session's ``"apel": {"id", "name"}``). The sessions come from the
process's in-memory schedule, refreshed before each rotation (one query every few seconds).

At 10,000 displays on one core this costs ~0.2 CPU s per rotation, ~20 µs per display, most of
it the socket write (scripts/bench/displays).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from starlette.types import Send

from backend import apel, tokens
from backend.db import displays, utcnow
from backend.state import AppState
from display_server.pairing import REVOKED_TOPIC

log = logging.getLogger("presensi.display")

CHECKIN_TOPIC = "checkin"
CLOSE_REVOKED = 4401
TOUCH_CHUNK = 500  # ids per UPDATE: well under SQLite's bound-parameter limit
SEND_CHUNK = 200  # displays per sending task at the boundary
PREPARE_AHEAD = 1.0  # seconds before the boundary when the next tokens are computed (not sent)
EXTRAS_KEY = "display_hub"


@dataclass(frozen=True)
class Close:
    """Queued for a connection that must close with ``code``."""

    code: int


@dataclass(eq=False)
class Connection:
    """One display websocket and its ASGI ``send``. Messages are JSON objects without their
    closing brace: ``"server_time"`` is appended when sending, for the page's clock. Tokens are
    sent by the hub; ticker entries and closes wait in ``queue`` for the connection's task."""

    display_id: int
    ip: str
    send: Send
    office_id: int | None = None  # for the office's apel sessions
    queue: asyncio.Queue[str | Close] = field(default_factory=asyncio.Queue)
    closing: bool = False  # a close is queued: no more tokens
    sending: bool = False  # a send is waiting for the peer to read


def server_time() -> str:
    """The closing member of every message, stamped as late as possible."""
    return f',"server_time":{time.time():.3f}}}'


async def send(conn: Connection, message: str) -> bool:
    """Send one open-ended message; False if the peer is gone (its reader ends the socket)."""
    conn.sending = True
    try:
        await conn.send({"type": "websocket.send", "text": message + server_time()})
    except (OSError, RuntimeError):  # disconnected, or closed meanwhile (uvicorn's errors)
        conn.closing = True
        return False
    finally:
        conn.sending = False
    return True


class DisplayHub:
    """Every display websocket of this process, and the loop that rotates their tokens."""

    def __init__(self, state: AppState) -> None:
        self.state = state
        self.connections: dict[int, set[Connection]] = {}
        self.offices: dict[int, int] = {}  # display id -> office id, for apel sessions
        self._tasks: list[asyncio.Task[None]] = []
        self._sending: set[asyncio.Task[int]] = set()
        # JSON-quoted once: every message repeats it.
        self._url_prefix = json.dumps(tokens.scan_url(state.settings.public_url, ""))[:-1]

    # -- connections --------------------------------------------------------------------------

    async def add(self, conn: Connection) -> None:
        """Register for the rotations and send the current token. Nothing between the two can
        rotate, so the page never gets an older token after a newer one."""
        if conn.office_id is not None:
            self.offices[conn.display_id] = conn.office_id
        await self.refresh_apel()
        self.connections.setdefault(conn.display_id, set()).add(conn)
        await send(conn, self.token_message(conn.display_id, self.window_now()))

    def remove(self, conn: Connection) -> None:
        conns = self.connections.get(conn.display_id)
        if conns is not None:
            conns.discard(conn)
            if not conns:
                del self.connections[conn.display_id]
                self.offices.pop(conn.display_id, None)

    def close_display(self, display_id: int, code: int = CLOSE_REVOKED) -> None:
        for conn in tuple(self.connections.get(display_id, ())):
            conn.closing = True
            conn.queue.put_nowait(Close(code))

    def count(self) -> int:
        return sum(len(c) for c in self.connections.values())

    # -- messages -----------------------------------------------------------------------------

    def window_now(self) -> int:
        return tokens.current_window(self.state.settings.qr_period)

    async def refresh_apel(self) -> None:
        """Read the apel sessions again if the copy in memory is old; a failure keeps it."""
        try:
            await self.state.hot.apel.fresh()
        except Exception:
            log.exception("could not read the apel sessions")

    def token_message(self, display_id: int, window: int) -> str:
        """The token message, open-ended like every queued message (see ``Connection``)."""
        s = self.state.settings
        office_id = self.offices.get(display_id)
        session = None
        if office_id is not None:
            session = self.state.hot.apel.held_at(office_id, apel.window_start(window, s.qr_period))
        if session is None:
            token = tokens.issue(s.qr_keys, display_id, window)
            kind = '"kind":"daily"'
        else:
            token = tokens.issue_apel(s.qr_keys, display_id, window, session.id)
            about = json.dumps({"id": session.id, "name": session.name}, ensure_ascii=False)
            kind = f'"kind":"apel","apel":{about}'
        # Token characters are [A-Za-z0-9._-], safe inside a JSON string as they are.
        return (
            f'{{"type":"token",{kind},"token":"{token}","url":{self._url_prefix}{token}",'
            f'"window":{window},"expires_at":{tokens.window_expires_at(window, s.qr_period)}'
        )

    def prepare(self, window: int) -> dict[int, str]:
        """The token messages of ``window`` for every connected display, ahead of sending."""
        return {
            display_id: self.token_message(display_id, window) for display_id in self.connections
        }

    async def rotate(self, window: int, prepared: dict[int, str]) -> int:
        """Send the token of ``window`` to every connection (``prepared`` holds most of the
        messages; displays connected since are computed now); returns how many were sent."""
        batch: list[tuple[Connection, str]] = []
        for display_id, conns in self.connections.items():
            message = prepared.get(display_id) or self.token_message(display_id, window)
            batch.extend((conn, message) for conn in conns)
        if not batch:
            return 0
        expires_at = tokens.window_expires_at(window, self.state.settings.qr_period)
        # The burst leaves little garbage; a full collection over 10,000 sockets' objects in
        # the middle of it would delay every display after it.
        collecting = gc.isenabled()
        gc.disable()
        try:
            chunks = [
                asyncio.create_task(send_chunk(batch[start : start + SEND_CHUNK], expires_at))
                for start in range(0, len(batch), SEND_CHUNK)
            ]
            for task in chunks:  # a chunk held up by a peer may finish after we return
                self._sending.add(task)
                task.add_done_callback(self._sending.discard)
            done, _held_up = await asyncio.wait(chunks, timeout=self.state.settings.qr_period / 2)
        finally:
            if collecting:
                gc.enable()
        return sum(task.result() for task in done)

    # -- background tasks ---------------------------------------------------------------------

    async def _rotation_loop(self) -> None:
        period = self.state.settings.qr_period
        window = self.window_now()
        while True:
            window += 1
            boundary = window * period
            await sleep_until(boundary - min(PREPARE_AHEAD, period / 4))
            await self.refresh_apel()
            prepared = self.prepare(window)
            await sleep_until(boundary)  # never early: the token is not valid before
            now_window = self.window_now()
            if now_window > window:  # the machine slept or the clock jumped: skip ahead
                window, prepared = now_window, {}
            await self.rotate(window, prepared)
            # Mid-window, away from the burst of sends that follows the boundary.
            await sleep_until(boundary + period / 2)
            try:
                await self.touch_connected()
            except Exception:
                log.exception("could not record the displays' last-seen time")

    async def touch_connected(self) -> None:
        """Refresh last_seen_at of every connected display; close those revoked meanwhile."""
        ids = sorted(self.connections)
        now = utcnow()
        for start in range(0, len(ids), TOUCH_CHUNK):
            await self.state.db.execute(
                displays.update()
                .where(displays.c.id.in_(ids[start : start + TOUCH_CHUNK]))
                .where(displays.c.revoked_at.is_(None))
                .values(last_seen_at=now)
            )
        # Revoked by another process, or by a caller without the event. One query for all:
        # revoked displays are few, and an IN list per chunk cost more than the UPDATEs.
        rows = await self.state.db.fetch_all(
            sa.select(displays.c.id).where(displays.c.revoked_at.is_not(None))
        )
        for row in rows:
            if int(row[0]) in self.connections:
                self.close_display(int(row[0]))

    async def _forward_checkins(self) -> None:
        with self.state.events.subscribe(CHECKIN_TOPIC) as queue:
            while True:
                event = await queue.get()
                conns = self.connections.get(event.get("display_id", -1))
                if not conns:
                    continue
                message = json.dumps(checkin_message(event), separators=(",", ":"))[:-1]
                for conn in tuple(conns):
                    conn.queue.put_nowait(message)

    async def _close_revoked(self) -> None:
        with self.state.events.subscribe(REVOKED_TOPIC) as queue:
            while True:
                event = await queue.get()
                self.close_display(int(event["display_id"]))

    async def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._rotation_loop(), name="display-rotation"),
            asyncio.create_task(self._forward_checkins(), name="display-checkins"),
            asyncio.create_task(self._close_revoked(), name="display-revoked"),
        ]
        # The subscriptions must exist before start() returns, or an early event is lost.
        await asyncio.sleep(0)

    async def stop(self) -> None:
        for task in (*self._tasks, *self._sending):
            task.cancel()
        for task in (*self._tasks, *self._sending):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        for display_id in tuple(self.connections):
            self.close_display(display_id, 1001)  # going away: the page reconnects


async def send_chunk(batch: list[tuple[Connection, str]], expires_at: float) -> int:
    """Send each its message; a peer whose last send still waits is skipped this time. What a
    held-up chunk has left when the window ends is dropped: a newer token is on its way, and a
    page must never get an older token after a newer one."""
    sent = 0
    for conn, message in batch:
        if conn.closing or conn.sending:
            continue
        if time.time() >= expires_at:
            break
        sent += await send(conn, message)
    return sent


async def sleep_until(wall_time: float) -> None:
    """Sleep to a wall-clock time. asyncio's timer runs on the monotonic clock and may wake a
    little early, so the wall clock is checked again after each sleep."""
    for _ in range(1000):
        delay = wall_time - time.time()
        if delay <= 0:
            return
        await asyncio.sleep(delay)


def checkin_message(event: dict[str, Any]) -> dict[str, Any]:
    """Ticker entry for a check-in event: first name only, never the NIP."""
    name = str(event.get("name") or "").split()
    at = event.get("at")
    return {
        "type": "checkin",
        "name": name[0] if name else "",
        "at": at.isoformat() if isinstance(at, datetime) else at,
    }


def hub_of(state: AppState) -> DisplayHub:
    hub: DisplayHub = state.extras[EXTRAS_KEY]
    return hub


@contextlib.asynccontextmanager
async def running(state: AppState) -> AsyncIterator[DisplayHub]:
    """Run the display hub for the app's lifetime (entered in the app's lifespan)."""
    hub = DisplayHub(state)
    state.extras[EXTRAS_KEY] = hub
    await hub.start()
    try:
        yield hub
    finally:
        await hub.stop()
        state.extras.pop(EXTRAS_KEY, None)
