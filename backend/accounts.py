"""Admin accounts: argon2id password hashes and creating admins."""

from __future__ import annotations

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from databases import Database

from backend import audit
from backend.db import admin_users, utcnow

ROLES = ("super_admin", "agency_admin", "unit_operator", "leader")
_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    return _hasher.check_needs_rehash(stored_hash)


class AccountError(ValueError):
    pass


async def create_admin(
    db: Database,
    *,
    username: str,
    password: str,
    role: str,
    agency_id: int | None = None,
    unit_id: int | None = None,
    actor: str,
) -> int:
    if role not in ROLES:
        raise AccountError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
    if role in ("agency_admin",) and agency_id is None:
        raise AccountError("an agency admin needs --agency")
    if role == "unit_operator" and unit_id is None:
        raise AccountError("a unit operator needs --unit")
    if role == "leader" and agency_id is None and unit_id is None:
        raise AccountError("a leader needs --agency or --unit")
    if len(password) < 10:
        raise AccountError("the password must have at least 10 characters")
    username = username.strip()
    if not username or len(username) > 64:
        raise AccountError("the username must be 1–64 characters")
    now = utcnow()
    async with db.transaction():
        if await db.fetch_val(
            sa.select(admin_users.c.id).where(admin_users.c.username == username)
        ):
            raise AccountError(f"username {username!r} is taken")
        admin_id = await db.fetch_val(
            admin_users.insert()
            .values(
                username=username,
                password_hash=hash_password(password),
                role=role,
                agency_id=agency_id,
                unit_id=unit_id,
                password_changed_at=now,
                created_at=now,
            )
            .returning(admin_users.c.id)
        )
        await audit.record(
            db,
            actor=actor,
            action="admin.create",
            target=f"admin:{admin_id}",
            detail={"role": role},
        )
    return int(admin_id)
