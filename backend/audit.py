"""Append-only audit log: who did what, when, from where."""

from __future__ import annotations

import json
from typing import Any

from databases import Database

from backend.db import audit_log, utcnow


async def record(
    db: Database,
    *,
    actor: str,
    action: str,
    target: str = "",
    detail: dict[str, Any] | None = None,
    ip: str = "",
) -> None:
    await db.execute(
        audit_log.insert().values(
            at=utcnow(),
            actor=actor[:100],
            action=action,
            target=target[:200],
            detail=json.dumps(detail or {}, separators=(",", ":"), default=str),
            ip=ip[:64],
        )
    )
