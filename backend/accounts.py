"""Admin accounts: argon2id password hashes, creating and changing admins, signing in."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from databases import Database
from starlette.concurrency import run_in_threadpool

from backend import audit, identifiers
from backend.db import (
    CONFLICT_ERRORS,
    admin_sessions,
    admin_users,
    is_unique_violation,
    units,
    utcnow,
)
from backend.employees import ValidationError
from backend.i18n import LANGUAGES

ROLES = ("super_admin", "agency_admin", "unit_operator", "leader")
_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters


MIN_PASSWORD = 10
# Verified against when the username is unknown, so a wrong name takes as long as a wrong password.
_DUMMY_HASH = PasswordHasher().hash("presensi-dummy-password")


def check_role(role: str, agency_id: int | None, unit_id: int | None) -> None:
    if role not in ROLES:
        raise AccountError(
            "role must be one of {roles}, got {role!r}", roles=", ".join(ROLES), role=role
        )
    if role == "super_admin" and (agency_id is not None or unit_id is not None):
        raise AccountError("a super admin has no agency or unit")
    if role == "agency_admin" and agency_id is None:
        raise AccountError("an agency admin needs an agency (--agency-id)")
    if role == "unit_operator" and unit_id is None:
        raise AccountError("a unit operator needs --unit-id (a unit)")
    if role == "leader" and agency_id is None and unit_id is None:
        raise AccountError("a leader needs an agency or a unit (--agency-id or --unit-id)")


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise AccountError("the password must have at least {n} characters", n=MIN_PASSWORD)
    if len(password) > 1024:
        raise AccountError("the password is too long")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    return _hasher.check_needs_rehash(stored_hash)


class AccountError(ValidationError):
    """A bad account change; the message is a catalogue id (see ``ValidationError``)."""


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
    check_role(role, agency_id, unit_id)
    check_password(password)
    username = identifiers.username(username)
    if not username or len(username) > 64 or any(ch.isspace() for ch in username):
        raise AccountError("the username must be 1–64 characters without spaces")
    # Hashed before the transaction: Argon2 takes a while, and a write transaction holds
    # SQLite's write lock until it ends.
    password_hash = await run_in_threadpool(hash_password, password)
    now = utcnow()
    try:
        async with db.transaction():
            if await db.fetch_val(
                sa.select(admin_users.c.id).where(admin_users.c.username == username)
            ):
                raise AccountError("username {username!r} is taken", username=username)
            admin_id = await db.fetch_val(
                admin_users.insert()
                .values(
                    username=username,
                    password_hash=password_hash,
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
    except CONFLICT_ERRORS as exc:
        if is_unique_violation(exc):  # the same username created at once (PostgreSQL)
            raise AccountError("username {username!r} is taken", username=username) from exc
        raise
    return int(admin_id)


async def unit_agency(db: Database, unit_id: int | None) -> int | None:
    if unit_id is None:
        return None
    return await db.fetch_val(sa.select(units.c.agency_id).where(units.c.id == unit_id))


async def authenticate(db: Database, username: str, password: str) -> Any:
    """The active admin with this username and password, or None. Upgrades old hashes."""
    row = await db.fetch_one(
        admin_users.select().where(admin_users.c.username == identifiers.username(username)[:64])
    )
    stored = row["password_hash"] if row is not None else _DUMMY_HASH
    ok = await run_in_threadpool(verify_password, stored, password)
    if row is None or not ok or not row["active"]:
        return None
    if needs_rehash(stored):
        new_hash = await run_in_threadpool(hash_password, password)
        await db.execute(
            admin_users.update().where(admin_users.c.id == row["id"]).values(password_hash=new_hash)
        )
    return row


async def set_password(
    db: Database, admin_id: int, password: str, *, actor: str, ip: str = ""
) -> None:
    """Set a new password and end every session of that admin."""
    check_password(password)
    new_hash = await run_in_threadpool(hash_password, password)
    now = utcnow()
    async with db.transaction():
        await db.execute(
            admin_users.update()
            .where(admin_users.c.id == admin_id)
            .values(password_hash=new_hash, password_changed_at=now)
        )
        await db.execute(
            admin_sessions.update()
            .where(admin_sessions.c.admin_id == admin_id)
            .where(admin_sessions.c.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        await audit.record(
            db, actor=actor, action="admin.password", target=f"admin:{admin_id}", ip=ip
        )


async def update_admin(
    db: Database,
    admin_id: int,
    *,
    role: str,
    agency_id: int | None,
    unit_id: int | None,
    active: bool,
    actor: str,
    ip: str = "",
) -> None:
    """Change an admin's role, scope or active flag; a deactivated admin is signed out."""
    check_role(role, agency_id, unit_id)
    async with db.transaction():
        await db.execute(
            admin_users.update()
            .where(admin_users.c.id == admin_id)
            .values(role=role, agency_id=agency_id, unit_id=unit_id, active=active)
        )
        if not active:
            await db.execute(
                admin_sessions.update()
                .where(admin_sessions.c.admin_id == admin_id)
                .where(admin_sessions.c.revoked_at.is_(None))
                .values(revoked_at=utcnow())
            )
        await audit.record(
            db,
            actor=actor,
            action="admin.update",
            target=f"admin:{admin_id}",
            detail={"role": role, "agency_id": agency_id, "unit_id": unit_id, "active": active},
            ip=ip,
        )


async def set_language(db: Database, admin_id: int, language: str) -> None:
    if language not in LANGUAGES:
        raise AccountError("unknown language {language!r}", language=language)
    await db.execute(
        admin_users.update().where(admin_users.c.id == admin_id).values(language=language)
    )
