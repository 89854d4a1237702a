"""Device binding: enrolment codes, the phone's P-256 public key, and its signatures.

The phone's private key is made by WebCrypto with ``extractable: false`` and never leaves it;
the server keeps the public JWK and checks every scan's signature against it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric import ec
from databases import Database

from backend import audit
from backend.checkin.verifier import SIGNATURE, key_from_point, signature_matches
from backend.checkin.verifier import p1363_to_der as p1363_to_der  # part of this module's interface
from backend.db import as_utc, devices, employees, enrolment_codes, utcnow
from backend.errors import ApiError

# No look-alikes (0/O, 1/I/L, 5/S, 2/Z, 8/B): codes are read off paper and typed on a phone.
CODE_ALPHABET = "ACDEFGHJKMNPQRTUVWXY34679"
CODE_LENGTH = 8
_P256_COORD = 32


def b64url_decode(text: str) -> bytes:
    if not isinstance(text, str) or not text.isascii():
        raise ValueError("not base64url text")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def normalise_code(code: str) -> str:
    """People type codes with spaces, dashes or in lower case."""
    return "".join(ch for ch in code.upper() if ch.isalnum())


def hash_code(secret_key: bytes, purpose: str, code: str) -> str:
    """Keyed hash per purpose: a leaked database does not let anyone brute-force 8-char codes."""
    message = f"presensi/{purpose}/v1|{normalise_code(code)}".encode()
    return hmac.new(secret_key, message, hashlib.sha256).hexdigest()


def public_point(jwk: Any) -> bytes:
    """A P-256 public JWK, exactly as WebCrypto exports it, as an uncompressed SEC1 point
    (not yet checked to lie on the curve); raise ValueError for anything else."""
    if not isinstance(jwk, dict):
        raise ValueError("public_key must be a JWK object")
    if jwk.get("kty") != "EC" or jwk.get("crv") != "P-256":
        raise ValueError("public_key must be an EC P-256 JWK")
    if "d" in jwk:
        raise ValueError("public_key contains a private key")
    try:
        x, y = b64url_decode(jwk["x"]), b64url_decode(jwk["y"])
    except (KeyError, ValueError, binascii.Error) as exc:
        raise ValueError("public_key x and y must be base64url") from exc
    if len(x) != _P256_COORD or len(y) != _P256_COORD:
        raise ValueError("public_key x and y must be 32 bytes each")
    return b"\x04" + x + y


def load_public_key(jwk: Any) -> ec.EllipticCurvePublicKey:
    """``public_point`` parsed; raises ValueError for a point not on the curve."""
    return key_from_point(public_point(jwk))


def raw_signature(signature_b64: str) -> bytes | None:
    """A WebCrypto P-256 signature (base64url ``r||s``) as 64 bytes, or None if it is not one."""
    try:
        raw = b64url_decode(signature_b64)
    except (ValueError, binascii.Error):
        return None
    return raw if len(raw) == SIGNATURE else None


def verify_signature(key: ec.EllipticCurvePublicKey, signature_b64: str, message: bytes) -> bool:
    raw = raw_signature(signature_b64)
    return raw is not None and signature_matches(key, raw, message)


@dataclass(frozen=True)
class EnrolledDevice:
    device_id: str
    employee_id: int
    nip: str
    name: str


async def issue_enrolment_code(
    db: Database, secret_key: bytes, employee_id: int, *, ttl: int, created_by: str, ip: str = ""
) -> str:
    """A fresh single-use code. Older unused codes for the employee stop working."""
    code = new_code()
    now = utcnow()
    async with db.transaction():
        # FOR UPDATE (PostgreSQL): two codes issued at once for one employee take turns, so
        # only the later one stays usable (SQLite: BEGIN IMMEDIATE already).
        await db.fetch_val(
            sa.select(employees.c.id).where(employees.c.id == employee_id).with_for_update()
        )
        await db.execute(
            enrolment_codes.update()
            .where(enrolment_codes.c.employee_id == employee_id)
            .where(enrolment_codes.c.used_at.is_(None))
            .values(used_at=now)
        )
        await db.execute(
            enrolment_codes.insert().values(
                employee_id=employee_id,
                code_hash=hash_code(secret_key, "enrol", code),
                created_at=now,
                expires_at=now + timedelta(seconds=ttl),
                created_by=created_by,
            )
        )
        await audit.record(
            db,
            actor=created_by,
            action="enrolment_code.issue",
            target=f"employee:{employee_id}",
            ip=ip,
        )
    return code


async def enrol(
    db: Database,
    secret_key: bytes,
    *,
    nip: str,
    code: str,
    jwk: dict[str, Any],
    user_agent: str,
    ip: str,
) -> EnrolledDevice:
    """Bind a phone's key to the employee whose code it is; revoke their previous phone."""
    code_hash = hash_code(secret_key, "enrol", code)
    now = utcnow()
    async with db.transaction():
        row = await db.fetch_one(
            enrolment_codes.select()
            .with_only_columns(
                enrolment_codes.c.id,
                enrolment_codes.c.expires_at,
                enrolment_codes.c.used_at,
                employees.c.id.label("employee_id"),
                employees.c.nip,
                employees.c.name,
                employees.c.active,
            )
            .select_from(enrolment_codes.join(employees))
            .where(enrolment_codes.c.code_hash == code_hash)
        )
        if (
            row is None
            or row["nip"] != nip
            or row["used_at"] is not None
            or as_utc(row["expires_at"]) <= now
        ):
            raise ApiError("invalid_code")
        if not row["active"]:
            raise ApiError("employee_inactive")
        # Claiming the code with a guarded UPDATE makes two racing enrolments end in one device.
        claimed = await db.fetch_val(
            enrolment_codes.update()
            .where(enrolment_codes.c.id == row["id"])
            .where(enrolment_codes.c.used_at.is_(None))
            .values(used_at=now)
            .returning(enrolment_codes.c.id)
        )
        if claimed is None:
            raise ApiError("invalid_code")
        revoked = await db.fetch_all(
            devices.update()
            .where(devices.c.employee_id == row["employee_id"])
            .where(devices.c.revoked_at.is_(None))
            .values(revoked_at=now)
            .returning(devices.c.id)
        )
        device_id = "d_" + secrets.token_urlsafe(16)
        await db.execute(
            devices.insert().values(
                id=device_id,
                employee_id=row["employee_id"],
                public_key=json.dumps(
                    {k: jwk[k] for k in ("kty", "crv", "x", "y")}, separators=(",", ":")
                ),
                user_agent=user_agent[:400],
                created_at=now,
            )
        )
        await audit.record(
            db,
            actor=f"employee:{row['nip']}",
            action="device.enrol",
            target=f"device:{device_id}",
            detail={"revoked": [r["id"] for r in revoked], "user_agent": user_agent[:200]},
            ip=ip,
        )
    return EnrolledDevice(device_id, row["employee_id"], row["nip"], row["name"])
