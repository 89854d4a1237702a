"""Publish/subscribe for live views (display ticker, live monitor, display revocation).

Subscribers get an ``asyncio.Queue``; a slow subscriber loses old events rather than holding
memory. On SQLite there is one process and the bus stays in it. On PostgreSQL several processes
serve the same agency, so ``PostgresBridge`` carries every published event to the others over
LISTEN/NOTIFY: a display connected to one process sees the scans another process accepted.
Live views are best effort: an event published while the bridge is reconnecting is lost (the
records are not; they are in the database). Both connections come back by themselves after
PostgreSQL restarts or terminates them: the listener with backoff as soon as it is lost, the
sender when a NOTIFY fails (the batch is sent again once on the new connection).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

log = logging.getLogger("presensi.events")

QUEUE_SIZE = 100
CHANNEL = "presensi_events"
MAX_PAYLOAD = 7900  # PostgreSQL refuses NOTIFY payloads from 8000 bytes
NOTIFY_BATCH = 500
RECONNECT_DELAYS = (0.5, 1.0, 2.0, 5.0)
CONNECT_TIMEOUT = 5.0  # a cluster that is starting up or unreachable must not hang a reconnect


class EventBus:
    def __init__(self) -> None:
        self._subscribers: dict[str, set[asyncio.Queue[dict[str, Any]]]] = {}
        # Set by a bridge: also hands each published event to the other processes.
        self.forward: Callable[[str, dict[str, Any]], None] | None = None

    def publish(self, topic: str, event: dict[str, Any]) -> None:
        self.deliver(topic, event)
        if self.forward is not None:
            self.forward(topic, event)

    def deliver(self, topic: str, event: dict[str, Any]) -> None:
        """Hand an event to this process's subscribers only."""
        for queue in tuple(self._subscribers.get(topic, ())):
            if queue.full():
                queue.get_nowait()  # drop the oldest: a live view wants the newest
            queue.put_nowait(event)

    @contextlib.contextmanager
    def subscribe(self, topic: str) -> Iterator[asyncio.Queue[dict[str, Any]]]:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(QUEUE_SIZE)
        self._subscribers.setdefault(topic, set()).add(queue)
        try:
            yield queue
        finally:
            self._subscribers[topic].discard(queue)

    def subscriber_count(self, topic: str) -> int:
        return len(self._subscribers.get(topic, ()))


class PostgresBridge:
    """Forward this process's events to the others and deliver theirs, over LISTEN/NOTIFY.

    Each process tags what it sends with a random origin and ignores its own notifications
    (it has already delivered them locally). Sending is batched: the events published while
    one NOTIFY round trip is in flight go together in the next.
    """

    def __init__(self, bus: EventBus, database_url: str) -> None:
        self.bus = bus
        self.dsn = database_url.replace("postgresql+asyncpg://", "postgresql://", 1)
        self.origin = secrets.token_hex(8)
        self._listener: Any = None
        self._sender: Any = None
        self._outbox: list[str] = []
        self._flushing: asyncio.Task[None] | None = None
        self._reconnecting: asyncio.Task[None] | None = None
        self._closed = False
        self.received = 0

    async def start(self) -> None:
        self._sender = await self._connect()
        await self._listen()
        self.bus.forward = self._enqueue

    async def _connect(self) -> Any:
        import asyncpg

        return await asyncpg.connect(self.dsn, timeout=CONNECT_TIMEOUT)

    async def _listen(self) -> None:
        conn = await self._connect()
        try:
            await conn.add_listener(CHANNEL, self._on_notify)
        except BaseException:
            conn.terminate()
            raise
        conn.add_termination_listener(self._on_lost)
        self._listener = conn

    @property
    def listening(self) -> bool:
        """Whether the LISTEN connection is up (False while it reconnects)."""
        return self._listener is not None and not self._listener.is_closed()

    def _on_lost(self, _conn: Any) -> None:
        if not self._closed and self._reconnecting is None:
            log.warning("event listener connection lost; reconnecting")
            self._reconnecting = asyncio.get_running_loop().create_task(self._reconnect())

    async def _reconnect(self) -> None:
        try:
            attempt = 0
            while not self._closed:
                try:
                    await self._listen()
                    log.info("event listener reconnected")
                    return
                except Exception as exc:  # refused, starting up (57P03), timed out, ...
                    delay = RECONNECT_DELAYS[min(attempt, len(RECONNECT_DELAYS) - 1)]
                    log.warning("event listener reconnect failed (%s); retry in %ss", exc, delay)
                    attempt += 1
                    await asyncio.sleep(delay)
        finally:
            self._reconnecting = None

    def _on_notify(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        try:
            message = json.loads(payload)
            if message["o"] == self.origin:
                return
            topic, event = message["t"], message["e"]
        except (ValueError, KeyError, TypeError):
            log.warning("ignored a malformed event notification")
            return
        self.received += 1
        self.bus.deliver(topic, event)

    def _enqueue(self, topic: str, event: dict[str, Any]) -> None:
        payload = json.dumps({"o": self.origin, "t": topic, "e": event}, separators=(",", ":"))
        if len(payload.encode()) > MAX_PAYLOAD:
            log.warning("event on %r too large to forward (%d bytes)", topic, len(payload))
            return
        self._outbox.append(payload)
        if self._flushing is None and not self._closed:
            self._flushing = asyncio.get_running_loop().create_task(self._flush())

    async def _flush(self) -> None:
        try:
            while self._outbox:
                batch = self._outbox[:NOTIFY_BATCH]
                del self._outbox[:NOTIFY_BATCH]
                for attempt in (1, 2):
                    try:
                        await self._notify(batch)
                        break
                    except Exception as exc:  # a live view misses events; the records are safe
                        if attempt == 1 and self._sender.is_closed() and await self._reopen():
                            continue  # the connection was lost (a restart): send it again
                        log.warning("could not forward %d events: %s", len(batch), exc)
                        break
        finally:
            self._flushing = None

    async def _notify(self, batch: list[str]) -> None:
        await self._sender.execute(
            "SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p", CHANNEL, batch
        )

    async def _reopen(self) -> bool:
        try:
            self._sender = await self._connect()
        except Exception as exc:  # down for now: the next batch tries again
            log.warning("event sender reconnect failed (%s)", exc)
            return False
        log.info("event sender reconnected")
        return True

    async def close(self) -> None:
        if self._flushing is not None:
            await asyncio.shield(self._flushing)
        self._closed = True
        self.bus.forward = None
        if self._reconnecting is not None:
            self._reconnecting.cancel()
        for conn in (self._listener, self._sender):
            if conn is not None and not conn.is_closed():
                await conn.close()


@contextlib.asynccontextmanager
async def bridged(bus: EventBus, database_url: str) -> AsyncIterator[PostgresBridge | None]:
    """Connect the bus to the other processes while the app runs (PostgreSQL only)."""
    if database_url.startswith("sqlite"):
        yield None
        return
    bridge = PostgresBridge(bus, database_url)
    await bridge.start()
    try:
        yield bridge
    finally:
        await bridge.close()
