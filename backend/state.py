"""What every request handler shares: settings, the database, limiters, the event bus."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

from databases import Database
from starlette.requests import HTTPConnection

from backend.checkin.reads import HotPath
from backend.events import EventBus
from backend.fraud import FraudWatch
from backend.ratelimit import Counter, Limits
from backend.settings import Settings


@dataclass
class AppState:
    settings: Settings
    db: Database
    events: EventBus = field(default_factory=EventBus)
    limits: Limits = field(init=False)  # shared by every process on PostgreSQL
    enrol_nip_limiter: Counter = field(init=False)
    enrol_ip_limiter: Counter = field(init=False)
    extras: dict[str, Any] = field(default_factory=dict)
    hot: HotPath = field(init=False)  # cached check-in reads and the group-commit writer
    fraud: FraudWatch = field(init=False)  # fraud patterns as scans arrive, and nightly

    def __post_init__(self) -> None:
        s = self.settings
        self.hot = HotPath.for_url(self.db, s.database_url, signature_helpers=s.signature_helpers)
        self.fraud = FraudWatch(
            self.db, retention_days=s.location_retention_days, timezone=s.default_timezone
        )
        self.limits = Limits(self.db, s.database_url, s.secret_key)
        self.enrol_nip_limiter = self.limits.counter(
            "enrol_nip", s.enrol_limit_per_nip, s.enrol_limit_window
        )
        self.enrol_ip_limiter = self.limits.counter(
            "enrol_ip", s.enrol_limit_per_ip, s.enrol_limit_window
        )

    @staticmethod
    def of(conn: HTTPConnection) -> AppState:
        state: AppState = conn.app.state.presensi
        return state


def client_ip(conn: HTTPConnection, settings: Settings) -> str:
    """The client's address; X-Forwarded-For is believed only from a trusted proxy."""
    peer = conn.client.host if conn.client else ""
    if peer not in settings.trusted_proxies:
        return peer
    return forwarded_client(peer, conn.headers.get("x-forwarded-for", ""), settings)


def forwarded_client(peer: str, forwarded: str, settings: Settings) -> str:
    """The client behind a trusted proxy ``peer``, from its X-Forwarded-For header."""
    # The proxy appends the address it saw; take the right-most one that is not a proxy.
    for hop in reversed([h.strip() for h in forwarded.split(",") if h.strip()]):
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            return peer
        if hop not in settings.trusted_proxies:
            return hop
    return peer
