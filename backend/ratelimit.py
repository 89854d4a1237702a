"""Attempt counters for the limits that protect secrets (enrolment, pairing, sign-in).

On PostgreSQL several server processes answer the same clients, so the counts live in the
``rate_limits`` table: one row per limit and key, raised by a single atomic upsert, so
``--workers 4`` gives an attacker no more guesses than one process. On SQLite the server is one
process (``presensi serve`` refuses more), so the counts stay in memory: exact, and no extra
write competing with check-ins for SQLite's one write lock.

Keys for clients are networks, not addresses: an IPv6 client gets a whole /64 from its provider,
so ``client_key`` counts the /64 (IPv4 by address).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import time
from collections import deque
from collections.abc import Callable
from typing import Protocol

import sqlalchemy as sa
from databases import Database
from sqlalchemy.dialects import postgresql, sqlite

from backend.db import rate_limits

PRUNE_EVERY = 60.0  # seconds between deletions of ended windows, per process


def client_key(ip: str) -> str:
    """The key a client's address is counted under: IPv4 by address, IPv6 by its /64."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ip
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network(f"{address}/64", strict=False))
    return str(address)


class Counter(Protocol):
    """Attempts per key within ``window`` seconds, at most ``limit``."""

    name: str
    limit: int
    window: int

    async def hit(self, key: str) -> bool:
        """Count an attempt; False when the key is already at its limit (not counted then)."""

    async def blocked(self, key: str) -> bool:
        """Whether the key is at its limit; counts nothing."""

    async def add(self, key: str) -> None:
        """Count an attempt whatever the count (a failure after a ``blocked`` check)."""

    async def clear(self, key: str) -> None:
        """Forget the key (a successful sign-in clears its account's failures)."""

    async def reset(self) -> None:
        """Forget every key of this limit."""


class MemoryCounter:
    """A sliding window per key, kept in the process (SQLite: one process)."""

    def __init__(
        self, name: str, limit: int, window: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.name, self.limit, self.window = name, limit, window
        self.clock = clock
        self._hits: dict[str, deque[float]] = {}

    def _recent(self, key: str, now: float) -> deque[float]:
        hits = self._hits.setdefault(key, deque())
        while hits and hits[0] <= now - self.window:
            hits.popleft()
        return hits

    async def hit(self, key: str) -> bool:
        now = self.clock()
        if len(self._recent(key, now)) >= self.limit:
            return False
        await self.add(key)
        return True

    async def blocked(self, key: str) -> bool:
        return len(self._recent(key, self.clock())) >= self.limit

    async def add(self, key: str) -> None:
        now = self.clock()
        self._recent(key, now).append(now)
        if len(self._hits) > 100_000:
            self.prune(now)

    def prune(self, now: float) -> None:
        for key in [k for k, v in self._hits.items() if not v or v[-1] <= now - self.window]:
            del self._hits[key]

    async def clear(self, key: str) -> None:
        self._hits.pop(key, None)

    async def reset(self) -> None:
        self._hits.clear()


class TableCounter:
    """A window per key in the ``rate_limits`` table, shared by every process on the database.

    A key's window starts at its first attempt and lasts ``window`` seconds; one row per key,
    raised (or restarted, once its window has ended) by a single atomic upsert. Unlike a
    sliding window, a burst at a window's end and the next one's start can reach twice the
    limit; over any longer span the rate stays at the limit per window.
    """

    def __init__(
        self,
        db: Database,
        name: str,
        limit: int,
        window: int,
        *,
        secret: bytes,
        dialect: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.db = db
        self.name, self.limit, self.window = name, limit, window
        self.secret = secret
        self.insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        self.clock = clock  # wall-clock seconds, the same in every process
        self._pruned_at = float("-inf")

    def _key_hash(self, key: str) -> str:
        # Keys are NIPs, usernames (sometimes a password typed in the wrong field) and
        # networks: keyed, so the table does not hold them, and of a fixed length.
        message = f"presensi/ratelimit/v1|{self.name}|{key}".encode()
        return hmac.new(self.secret, message, hashlib.sha256).hexdigest()

    async def _upsert(self, key: str, *, only_under_limit: bool) -> bool:
        now = int(self.clock())
        t = rate_limits.c
        stmt = self.insert(rate_limits).values(
            name=self.name,
            key_hash=self._key_hash(key),
            window_start=now,
            hits=1,
            expires_at=now + self.window,
        )
        ended = t.expires_at <= now
        upsert = stmt.on_conflict_do_update(
            index_elements=[t.name, t.key_hash],
            set_={
                "hits": sa.case((ended, 1), else_=t.hits + 1),
                "window_start": sa.case((ended, now), else_=t.window_start),
                "expires_at": sa.case((ended, now + self.window), else_=t.expires_at),
            },
            # No row comes back when the key is at its limit: refused, and not counted.
            where=sa.or_(ended, t.hits < self.limit) if only_under_limit else None,
        ).returning(t.hits)
        counted = await self.db.fetch_one(upsert)
        if now - self._pruned_at >= PRUNE_EVERY:
            await self.prune(now)
        return counted is not None

    async def hit(self, key: str) -> bool:
        return await self._upsert(key, only_under_limit=True)

    async def add(self, key: str) -> None:
        await self._upsert(key, only_under_limit=False)

    async def blocked(self, key: str) -> bool:
        t = rate_limits.c
        hits = await self.db.fetch_val(
            sa.select(t.hits).where(
                t.name == self.name,
                t.key_hash == self._key_hash(key),
                t.expires_at > int(self.clock()),
            )
        )
        return hits is not None and hits >= self.limit

    async def prune(self, now: float | None = None) -> None:
        """Delete every window that has ended (of every limit: they share the table)."""
        now = self.clock() if now is None else now
        self._pruned_at = now
        await self.db.execute(rate_limits.delete().where(rate_limits.c.expires_at <= int(now)))

    async def clear(self, key: str) -> None:
        t = rate_limits.c
        await self.db.execute(
            rate_limits.delete().where(t.name == self.name, t.key_hash == self._key_hash(key))
        )

    async def reset(self) -> None:
        await self.db.execute(rate_limits.delete().where(rate_limits.c.name == self.name))


class Limits:
    """The app's counters by name: in the table on PostgreSQL, in memory on SQLite."""

    def __init__(self, db: Database, database_url: str, secret: bytes) -> None:
        self.db = db
        self.shared = database_url.startswith("postgresql")
        self.secret = secret
        self._counters: dict[str, Counter] = {}

    def counter(self, name: str, limit: int, window: int) -> Counter:
        if name not in self._counters:
            self._counters[name] = (
                TableCounter(self.db, name, limit, window, secret=self.secret, dialect="postgresql")
                if self.shared
                else MemoryCounter(name, limit, window)
            )
        return self._counters[name]
