"""Displays and their pairing codes.

An admin creates a display and gets a short pairing code (single use, minutes). The TU computer
enters it at ``/display`` and receives a long-lived credential; both are stored only as keyed
hashes.
"""

from __future__ import annotations

from datetime import timedelta

from databases import Database

from backend import audit
from backend.db import displays, offices, utcnow
from backend.devices import hash_code, new_code

PAIRING_TTL = timedelta(minutes=15)


class UnknownOffice(LookupError):
    pass


async def issue_pairing_code(
    db: Database, secret_key: bytes, display_id: int, *, actor: str, ip: str = ""
) -> str:
    code = new_code()
    now = utcnow()
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
