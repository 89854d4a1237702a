"""Webhooks: subscriptions to the changes feed, delivered by the Standard Webhooks rules.

A subscription names a URL and event types (``<type>.<action>`` from the feed, ``*`` for all)
and gets a ``whsec_`` secret. A worker in each server process (``running``) turns new changes
into deliveries — one row per subscription and change, queued in a transaction with the
subscription's position so none is skipped or queued twice — and sends them off the request
path: at most ``CONCURRENCY`` at once, ``TIMEOUT`` seconds each, signed with the
``standardwebhooks`` package (``webhook-id`` is the same on every retry). A failed delivery is
retried with exponential backoff; a later change of the same record waits for it (order per
record). When a delivery still fails 24 hours after it was queued, the subscription is paused
with its reason (shown in the console) until an admin resumes it.

Server-side request forgery: only ``https`` URLs (``http`` with WEBHOOK_ALLOW_HTTP), and no
loopback, link-local, private or otherwise special address unless its network is listed in
WEBHOOK_ALLOWED_NETWORKS — checked when subscribing and again on every delivery after DNS
resolution; the request then goes to the address that was checked (no DNS rebinding).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ipaddress
import json
import logging
import secrets
import socket
import ssl
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from databases import Database
from standardwebhooks.webhooks import Webhook

from backend import audit, changes
from backend.admin.security import Principal
from backend.db import as_utc, utcnow, webhook_deliveries, webhooks
from backend.errors import ApiError
from backend.settings import Settings

log = logging.getLogger("presensi.webhooks")

TIMEOUT = 5.0
CONCURRENCY = 4
BATCH = 200
GIVE_UP_AFTER = timedelta(hours=24)
BASE_DELAY = 5.0  # seconds before the first retry; doubles each time
MAX_DELAY = 3600.0
LEASE = timedelta(seconds=60)  # a delivery being sent is not picked again meanwhile
MAX_EVENTS = 50


# -- subscriptions --------------------------------------------------------------------------


def _refused(address: ipaddress.IPv4Address | ipaddress.IPv6Address, settings: Settings) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    for network in settings.webhook_allowed_networks:
        if address in ipaddress.ip_network(network, strict=False):
            return False
    return not address.is_global or address.is_multicast


def _parts(url: Any, settings: Settings) -> tuple[str, str, int, str]:
    if not isinstance(url, str) or not url or len(url) > 2000:
        raise ApiError("webhook_url_refused", detail="url: an https URL up to 2000 characters")
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise ApiError("webhook_url_refused", detail="url: not a URL") from None
    allowed = ("https", "http") if settings.webhook_allow_http else ("https",)
    if parts.scheme not in allowed or not parts.hostname:
        raise ApiError(
            "webhook_url_refused", detail=f"url: the scheme must be {' or '.join(allowed)}"
        )
    if parts.username or parts.password:
        raise ApiError("webhook_url_refused", detail="url: no user or password in the URL")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80), path


async def resolve(url: str, settings: Settings) -> tuple[str, str, int, str, str]:
    """(scheme, host, port, path, address) with the address checked; ApiError otherwise."""
    scheme, host, port, path = _parts(url, settings)
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise ApiError(
            "webhook_url_refused", detail="url: the host name does not resolve"
        ) from None
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
    if not addresses:
        raise ApiError("webhook_url_refused", detail="url: the host name does not resolve")
    for address in addresses:
        if _refused(address, settings):
            raise ApiError(
                "webhook_url_refused",
                detail="url: a loopback, link-local or private address is not allowed",
            )
    return scheme, host, port, path, str(addresses[0])


def _events(value: Any) -> list[str]:
    if not isinstance(value, list) or not value or len(value) > MAX_EVENTS:
        raise ApiError("validation_failed", detail=f"events: a list of 1-{MAX_EVENTS} event types")
    out = []
    for item in value:
        if not isinstance(item, str) or not (
            item == "*"
            or (item.count(".") == 1 and all(p.isidentifier() or p == "*" for p in item.split(".")))
        ):
            raise ApiError("validation_failed", detail="events: <type>.<action> or *")
        out.append(item)
    return sorted(set(out))


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def matches(patterns: list[str], event: str) -> bool:
    type_, _, action = event.partition(".")
    return any(p == "*" or p == event or p == f"{type_}.*" or p == f"*.{action}" for p in patterns)


async def create(
    db: Database, settings: Settings, me: Principal, data: dict[str, Any], ip: str = ""
) -> tuple[int, str]:
    url = data.get("url")
    await resolve(url, settings)  # type: ignore[arg-type]
    events = _events(data.get("events"))
    secret = new_secret()
    # The changes so far are not sent: the subscription starts at the feed's current end.
    await changes.publish(db)
    top = await db.fetch_val(sa.select(sa.func.max(changes.seq_column(db))))
    async with db.transaction():
        webhook_id = await db.fetch_val(
            webhooks.insert()
            .values(
                url=str(url).strip(),
                events=",".join(events),
                secret=secret,
                agency_id=me.agency_id,
                unit_id=me.unit_id,
                cursor=int(top or 0),
                created_by=me.actor,
                created_at=utcnow(),
            )
            .returning(webhooks.c.id)
        )
        await audit.record(
            db,
            actor=me.actor,
            action="webhook.create",
            target=f"webhook:{webhook_id}",
            detail={"url": str(url).strip(), "events": events},
            ip=ip,
        )
    return int(webhook_id), secret


def _scope(me: Principal) -> Any:
    if me.is_super:
        return sa.true()
    return webhooks.c.agency_id == me.agency_id


def view(r: Any) -> dict[str, Any]:
    return {
        "id": r["id"],
        "url": r["url"],
        "events": r["events"].split(","),
        "agency_id": r["agency_id"],
        "unit_id": r["unit_id"],
        "created_by": r["created_by"],
        "created_at": as_utc(r["created_at"]).isoformat(),
        "paused_at": as_utc(r["paused_at"]).isoformat() if r["paused_at"] else None,
        "paused_reason": r["paused_reason"] or None,
    }


async def listing(db: Database, me: Principal) -> list[dict[str, Any]]:
    rows = await db.fetch_all(
        webhooks.select()
        .where(webhooks.c.deleted_at.is_(None))
        .where(_scope(me))
        .order_by(webhooks.c.id)
    )
    return [view(r) for r in rows]


async def fetch(db: Database, me: Principal, webhook_id: int) -> dict[str, Any]:
    row = await db.fetch_one(
        webhooks.select()
        .where(webhooks.c.id == webhook_id)
        .where(webhooks.c.deleted_at.is_(None))
        .where(_scope(me))
    )
    if row is None:
        raise ApiError("not_found", detail="webhook")
    return view(row)


async def deliveries(db: Database, webhook_id: int, limit: int = 50) -> list[dict[str, Any]]:
    rows = await db.fetch_all(
        webhook_deliveries.select()
        .where(webhook_deliveries.c.webhook_id == webhook_id)
        .order_by(webhook_deliveries.c.seq.desc())
        .limit(limit)
    )

    def when(value: Any) -> str | None:
        return as_utc(value).isoformat() if value else None

    return [
        {
            "id": r["msg_id"],
            "seq": r["seq"],
            "event": r["event"],
            "status": r["status"],
            "attempts": r["attempts"],
            "response_code": r["response_code"],
            "latency_ms": r["latency_ms"],
            "error": r["last_error"] or None,
            "created_at": when(r["created_at"]),
            "next_attempt_at": when(r["next_attempt_at"]) if r["status"] == "pending" else None,
            "delivered_at": when(r["delivered_at"]),
        }
        for r in rows
    ]


async def delete(db: Database, me: Principal, webhook_id: int, ip: str = "") -> None:
    await fetch(db, me, webhook_id)
    async with db.transaction():
        await db.execute(
            webhooks.update().where(webhooks.c.id == webhook_id).values(deleted_at=utcnow())
        )
        await audit.record(
            db, actor=me.actor, action="webhook.delete", target=f"webhook:{webhook_id}", ip=ip
        )


async def resume(db: Database, me: Principal, webhook_id: int, ip: str = "") -> None:
    await fetch(db, me, webhook_id)
    async with db.transaction():
        await db.execute(
            webhooks.update()
            .where(webhooks.c.id == webhook_id)
            .values(paused_at=None, paused_reason="")
        )
        # The deliveries that were given up on are tried again now, from a fresh 24 hours.
        await db.execute(
            webhook_deliveries.update()
            .where(webhook_deliveries.c.webhook_id == webhook_id)
            .where(webhook_deliveries.c.status == "pending")
            .values(next_attempt_at=utcnow(), created_at=utcnow())
        )
        await audit.record(
            db, actor=me.actor, action="webhook.resume", target=f"webhook:{webhook_id}", ip=ip
        )


# -- delivery -------------------------------------------------------------------------------


@dataclass
class Reply:
    status: int | None
    error: str = ""


async def post(
    url: str, body: bytes, headers: dict[str, str], settings: Settings, seconds: float = TIMEOUT
) -> Reply:
    """One HTTP/1.1 POST to the checked address, within ``seconds`` in all."""
    try:
        async with asyncio.timeout(seconds):
            scheme, host, port, path, address = await resolve(url, settings)
            context = ssl.create_default_context() if scheme == "https" else None
            reader, writer = await asyncio.open_connection(
                address, port, ssl=context, server_hostname=host if context else None
            )
            try:
                host_header = host if port in (80, 443) else f"{host}:{port}"
                head = [
                    f"POST {path} HTTP/1.1",
                    f"Host: {host_header}",
                    "User-Agent: Presensi-Webhooks/1",
                    "Content-Type: application/json",
                    f"Content-Length: {len(body)}",
                    "Connection: close",
                    *(f"{k}: {v}" for k, v in headers.items()),
                ]
                writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
                await writer.drain()
                status_line = await reader.readline()
                parts = status_line.decode("latin-1").split(" ", 2)
                if len(parts) < 2 or not parts[1].isdigit():
                    return Reply(None, "not an HTTP answer")
                return Reply(int(parts[1]))
            finally:
                writer.close()
                with contextlib.suppress(Exception):
                    await writer.wait_closed()
    except ApiError as exc:
        return Reply(None, exc.detail or "refused")
    except TimeoutError:
        return Reply(None, f"no answer within {seconds:g} s")
    except (OSError, ssl.SSLError) as exc:
        return Reply(None, type(exc).__name__)


Clock = Callable[[], datetime]


@dataclass
class Dispatcher:
    """Queues and sends deliveries; ``step()`` does one round (the tests drive it)."""

    db: Database
    settings: Settings
    clock: Clock = utcnow
    base_delay: float = BASE_DELAY
    concurrency: int = CONCURRENCY
    sender: Callable[..., Any] = post
    _pruned: float = field(default=0.0)

    async def step(self) -> int:
        """Queue new changes and send what is due; returns how many deliveries were tried."""
        await self.queue()
        return await self.send_due()

    async def queue(self) -> int:
        active = await self.db.fetch_all(
            sa.select(webhooks.c.id)
            .where(webhooks.c.deleted_at.is_(None))
            .where(webhooks.c.paused_at.is_(None))
        )
        if not active:
            return 0
        await changes.publish(self.db)
        queued = 0
        for row in active:
            queued += await self._queue_one(row["id"])
        return queued

    async def _queue_one(self, webhook_id: int) -> int:
        queued = 0
        async with self.db.transaction():
            hook = await self.db.fetch_one(
                webhooks.select().where(webhooks.c.id == webhook_id).with_for_update()
            )
            if hook is None or hook["deleted_at"] is not None:
                return 0
            items = await changes.raw(self.db, int(hook["cursor"]), BATCH)
            if not items:
                return 0
            patterns = hook["events"].split(",")
            now = self.clock()
            rows = []
            for c, data, agency_id, unit_id in await changes.render(self.db, items):
                event = f"{c.type}.{c.action}"
                if not matches(patterns, event):
                    continue
                if not changes.visible(agency_id, unit_id, hook["agency_id"], hook["unit_id"]):
                    continue
                payload = {
                    "type": event,
                    "seq": c.seq,
                    "timestamp": c.at.isoformat(),
                    "data": data,
                }
                rows.append(
                    {
                        "webhook_id": webhook_id,
                        "seq": c.seq,
                        "msg_id": f"msg_{webhook_id}_{c.seq}",
                        "event": event,
                        "record": f"{c.type}:{c.record_id}",
                        "payload": json.dumps(payload, separators=(",", ":"), ensure_ascii=False),
                        "status": "pending",
                        "attempts": 0,
                        "created_at": now,
                        "next_attempt_at": now,
                    }
                )
            if rows:
                await self.db.execute_many(webhook_deliveries.insert(), rows)
                queued = len(rows)
            await self.db.execute(
                webhooks.update().where(webhooks.c.id == webhook_id).values(cursor=items[-1].seq)
            )
        return queued

    async def send_due(self) -> int:
        now = self.clock()
        earlier = webhook_deliveries.alias("earlier")
        blocked = (
            sa.select(earlier.c.id)
            .where(earlier.c.webhook_id == webhook_deliveries.c.webhook_id)
            .where(earlier.c.record == webhook_deliveries.c.record)
            .where(earlier.c.status == "pending")
            .where(earlier.c.seq < webhook_deliveries.c.seq)
            .exists()
        )
        due = await self.db.fetch_all(
            sa.select(webhook_deliveries, webhooks.c.url, webhooks.c.secret)
            .select_from(webhook_deliveries.join(webhooks))
            .where(webhook_deliveries.c.status == "pending")
            .where(webhook_deliveries.c.next_attempt_at <= now)
            .where(webhooks.c.deleted_at.is_(None))
            .where(webhooks.c.paused_at.is_(None))
            .where(~blocked)
            .order_by(webhook_deliveries.c.seq)
            .limit(BATCH)
        )
        claimed = []
        for d in due:
            got = await self.db.fetch_val(
                webhook_deliveries.update()
                .where(webhook_deliveries.c.id == d["id"])
                .where(webhook_deliveries.c.status == "pending")
                .where(webhook_deliveries.c.next_attempt_at == d["next_attempt_at"])
                .values(next_attempt_at=now + LEASE)
                .returning(webhook_deliveries.c.id)
            )
            if got is not None:
                claimed.append(d)
        if not claimed:
            return 0
        gate = asyncio.Semaphore(self.concurrency)

        async def one(d: Any) -> None:
            async with gate:
                await self._send(d)

        await asyncio.gather(*(one(d) for d in claimed))
        return len(claimed)

    async def _send(self, d: Any) -> None:
        signed_at = utcnow()  # the receiver checks it against its own clock: the real time
        signer = Webhook(d["secret"])
        headers = {
            "webhook-id": d["msg_id"],
            "webhook-timestamp": str(int(signed_at.timestamp())),
            "webhook-signature": signer.sign(d["msg_id"], signed_at, d["payload"]),
        }
        started = time.monotonic()
        reply = await self.sender(d["url"], d["payload"].encode(), headers, self.settings)
        latency = int((time.monotonic() - started) * 1000)
        attempts = d["attempts"] + 1
        values: dict[str, Any] = {
            "attempts": attempts,
            "response_code": reply.status,
            "latency_ms": latency,
        }
        if reply.status is not None and 200 <= reply.status < 300:
            values |= {"status": "delivered", "delivered_at": self.clock(), "last_error": ""}
            await self.db.execute(
                webhook_deliveries.update()
                .where(webhook_deliveries.c.id == d["id"])
                .values(**values)
            )
            return
        error = reply.error or f"HTTP {reply.status}"
        delay = min(MAX_DELAY, self.base_delay * 2 ** (attempts - 1))
        values |= {
            "last_error": error[:500],
            "next_attempt_at": self.clock() + timedelta(seconds=delay),
        }
        async with self.db.transaction():
            await self.db.execute(
                webhook_deliveries.update()
                .where(webhook_deliveries.c.id == d["id"])
                .values(**values)
            )
            if self.clock() - as_utc(d["created_at"]) >= GIVE_UP_AFTER:
                await self.db.execute(
                    webhooks.update()
                    .where(webhooks.c.id == d["webhook_id"])
                    .where(webhooks.c.paused_at.is_(None))
                    .values(
                        paused_at=self.clock(),
                        paused_reason=f"{d['event']} #{d['seq']}: {error}"[:500],
                    )
                )
                log.warning("webhook %s paused: deliveries failed for 24 hours", d["webhook_id"])

    async def prune(self) -> None:
        """Delivered rows and old changes past the retention (hourly)."""
        if time.monotonic() - self._pruned < 3600:
            return
        self._pruned = time.monotonic()
        days = self.settings.changes_retention_days
        await changes.prune(self.db, days, self.clock())
        cutoff = self.clock() - timedelta(days=days)
        await self.db.execute(
            webhook_deliveries.delete()
            .where(webhook_deliveries.c.status == "delivered")
            .where(webhook_deliveries.c.created_at < cutoff)
        )


@contextlib.asynccontextmanager
async def running(
    db: Database,
    settings: Settings,
    clock: Clock = utcnow,
    every: float = 1.0,
    enabled: Callable[[], bool] = lambda: True,
) -> AsyncIterator[Dispatcher]:
    """The worker of this process, polling every ``every`` seconds (while ``enabled()``: tests
    that drive a ``Dispatcher`` themselves switch it off)."""
    dispatcher = Dispatcher(db, settings, clock)
    stop = asyncio.Event()

    async def loop() -> None:
        while not stop.is_set():
            try:
                if enabled():
                    await dispatcher.step()
                    await dispatcher.prune()
            except asyncio.CancelledError:
                raise
            except Exception:  # the database away for a moment: try again next round
                log.warning("webhook round failed", exc_info=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every)

    task = asyncio.create_task(loop(), name="presensi-webhooks")
    try:
        yield dispatcher
    finally:
        # Let a round in flight finish rather than cancel it inside a query: a cancelled
        # `databases` query on SQLite can leave its driver connection unclosed.
        stop.set()
        try:
            await asyncio.wait_for(asyncio.shield(task), 10)
        except TimeoutError:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
