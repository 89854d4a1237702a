"""Displays and their pairing codes.

An admin creates a display and gets a short pairing code (single use, minutes). The TU computer
enters it at ``/display`` and receives a long-lived credential; both are stored only as keyed
hashes.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from databases import Database

from backend import audit
from backend.db import as_utc, displays, offices, utcnow
from backend.devices import hash_code, new_code
from backend.events import EventBus

log = logging.getLogger("presensi.display")

PAIRING_TTL = timedelta(minutes=15)


class UnknownOffice(LookupError):
    pass


async def issue_pairing_code(
    db: Database, secret_key: bytes, display_id: int, *, actor: str, ip: str = ""
) -> str:
    code = new_code()
    now = utcnow()
    async with db.transaction():  # the code and its audit entry together
        await db.execute(
            displays.update()
            .where(displays.c.id == display_id)
            .values(
                pairing_code_hash=hash_code(secret_key, "pair", code),
                pairing_expires_at=now + PAIRING_TTL,
            )
        )
        await audit.record(
            db, actor=actor, action="display.pairing_code", target=f"display:{display_id}", ip=ip
        )
    return code


async def create_display(
    db: Database, secret_key: bytes, office_id: int, name: str, *, actor: str, ip: str = ""
) -> tuple[int, str]:
    """Create a display for an office; returns its id and a fresh pairing code."""
    async with db.transaction():
        if (
            await db.fetch_val(
                offices.select().with_only_columns(offices.c.id).where(offices.c.id == office_id)
            )
            is None
        ):
            raise UnknownOffice(office_id)
        display_id = await db.fetch_val(
            displays.insert()
            .values(office_id=office_id, name=name, created_at=utcnow())
            .returning(displays.c.id)
        )
        await audit.record(
            db,
            actor=actor,
            action="display.create",
            target=f"display:{display_id}",
            ip=ip,
            detail={"office_id": office_id, "name": name},
        )
        code = await issue_pairing_code(db, secret_key, display_id, actor=actor, ip=ip)
    return int(display_id), code


# --- pairing a browser, checking its credential, revoking -------------------------------------

CREDENTIAL_COOKIE = "presensi_display"
CREDENTIAL_MAX_AGE = 400 * 24 * 3600  # the longest Chromium keeps a cookie; renewed on each visit
REVOKED_TOPIC = "display_revoked"  # event bus topic: {"display_id": int}


class PairingRefused(Exception):
    """Pairing failed; ``reason`` is ``invalid_code`` or ``network_not_allowed``."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class PairedDisplay:
    id: int
    name: str
    office_id: int
    office_name: str
    office_timezone: str
    allowed_networks: str


def hash_credential(secret_key: bytes, credential: str) -> str:
    """Keyed hash of a display credential (case-sensitive, unlike the typed codes)."""
    return hmac.new(
        secret_key, b"presensi/display-credential/v1|" + credential.encode(), hashlib.sha256
    ).hexdigest()


def network_allowed(allowed_networks: str, ip: str) -> bool:
    """True when the office has no allow-list or ``ip`` is inside one of its CIDRs."""
    cidrs = [c.strip() for c in allowed_networks.split(",") if c.strip()]
    if not cidrs:
        return True
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    for cidr in cidrs:
        try:
            if address in ipaddress.ip_network(cidr, strict=False):
                return True
        except ValueError:
            log.warning("office allow-list has an invalid network %r; ignored", cidr)
    return False


def _display_query() -> sa.Select[Any]:
    return sa.select(
        displays.c.id,
        displays.c.name,
        displays.c.office_id,
        displays.c.revoked_at,
        displays.c.pairing_expires_at,
        offices.c.name.label("office_name"),
        offices.c.timezone.label("office_timezone"),
        offices.c.allowed_networks,
    ).select_from(displays.join(offices))


def _paired(row: Any) -> PairedDisplay:
    return PairedDisplay(
        id=int(row["id"]),
        name=str(row["name"]),
        office_id=int(row["office_id"]),
        office_name=str(row["office_name"]),
        office_timezone=str(row["office_timezone"]),
        allowed_networks=str(row["allowed_networks"] or ""),
    )


async def pair(db: Database, secret_key: bytes, code: str, *, ip: str) -> tuple[PairedDisplay, str]:
    """Exchange a pairing code for a new display credential; returns the display and it.

    The code is single use; a wrong, used, expired or revoked one raises
    ``PairingRefused("invalid_code")`` and a client outside the office's allow-list
    ``PairingRefused("network_not_allowed")`` (the code then stays usable).
    """
    code_hash = hash_code(secret_key, "pair", code)
    credential = secrets.token_urlsafe(32)
    now = utcnow()
    async with db.transaction():
        row = await db.fetch_one(_display_query().where(displays.c.pairing_code_hash == code_hash))
        if (
            row is None
            or row["revoked_at"] is not None
            or row["pairing_expires_at"] is None
            or as_utc(row["pairing_expires_at"]) <= now
        ):
            raise PairingRefused("invalid_code")
        if not network_allowed(row["allowed_networks"] or "", ip):
            raise PairingRefused("network_not_allowed")
        # The WHERE on the code hash makes two concurrent uses of one code pair only one browser.
        claimed = await db.fetch_val(
            displays.update()
            .where(displays.c.id == row["id"])
            .where(displays.c.pairing_code_hash == code_hash)
            .values(
                pairing_code_hash=None,
                pairing_expires_at=None,
                credential_hash=hash_credential(secret_key, credential),
                paired_at=now,
                last_seen_at=now,
                last_seen_ip=ip[:64],
            )
            .returning(displays.c.id)
        )
        if claimed is None:
            raise PairingRefused("invalid_code")
        await audit.record(
            db,
            actor=f"display:{row['id']}",
            action="display.pair",
            target=f"display:{row['id']}",
            ip=ip,
        )
    return _paired(row), credential


async def authenticate(
    db: Database, secret_key: bytes, credential: str | None
) -> PairedDisplay | None:
    """The display a credential belongs to, or None when it is missing, unknown or revoked."""
    if not credential or len(credential) > 200:
        return None
    row = await db.fetch_one(
        _display_query().where(
            displays.c.credential_hash == hash_credential(secret_key, credential)
        )
    )
    if row is None or row["revoked_at"] is not None:
        return None
    return _paired(row)


async def revoke_display(
    db: Database, display_id: int, actor: str, *, ip: str = "", events: EventBus | None = None
) -> bool:
    """Switch a display off for good; False when it does not exist or was already revoked.

    With ``events`` (``AppState.events``) its open websockets close within a second; without,
    the rotation loop notices within one QR period.
    """
    async with db.transaction():
        revoked = await db.fetch_val(
            displays.update()
            .where(displays.c.id == display_id)
            .where(displays.c.revoked_at.is_(None))
            .values(revoked_at=utcnow(), pairing_code_hash=None, pairing_expires_at=None)
            .returning(displays.c.id)
        )
        if revoked is None:
            return False
        await audit.record(
            db, actor=actor, action="display.revoke", target=f"display:{display_id}", ip=ip
        )
    if events is not None:
        events.publish(REVOKED_TOPIC, {"display_id": display_id})
    return True
