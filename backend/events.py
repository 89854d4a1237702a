"""In-process publish/subscribe for live views (display ticker, live monitor).

Subscribers get an ``asyncio.Queue``; a slow subscriber loses old events rather than holding
memory. Across several processes on PostgreSQL the same bus is fed by LISTEN/NOTIFY.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import Any

QUEUE_SIZE = 100


class EventBus:
    def __init__(self) -> None:
        self._subscribers: dict[str, set[asyncio.Queue[dict[str, Any]]]] = {}

    def publish(self, topic: str, event: dict[str, Any]) -> None:
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
