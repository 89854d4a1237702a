"""The owner's fingerprint: a platform passkey (WebAuthn) per phone, and the policy asking for it.

An agency, or one of its units, may require that every check-in carries a WebAuthn assertion
made with user verification (fingerprint, face or the phone's PIN), so a lent phone is not
enough. The passkey is registered at enrolment (``POST /api/v1/devices/passkey``, right after
``POST /api/v1/devices``); a new enrolment is a new device, so it replaces the passkey too.

The assertion's challenge is SHA-256 of the scan's signed message (backend/checkin/flow.py):
the message holds a server-issued QR token that is valid for seconds and a nonce the phone
draws at random, so the challenge is fresh and unique without a round trip to fetch one
(docs/design.md). Only ES256 (P-256) passkeys are accepted, so the assertion's signature is
verified in the same batch and helper process as the device key's (backend/checkin/verifier.py).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from databases import Database

# The webauthn package (and the pyOpenSSL, cbor2 and asn1crypto it brings) is imported by the
# functions that use it, so a server whose agencies leave the policy off never loads it.
from backend import audit
from backend.checkin.verifier import SIGNATURE, Item
from backend.db import agencies, as_utc, devices, employees, passkeys, units, utcnow
from backend.employees import ValidationError
from backend.errors import ApiError

# off: no passkey; required: every check-in needs the owner's verification, a phone without a
# platform authenticator cannot check in; flag: such a phone checks in, flagged
# ``no_user_verification`` (a phone that has a passkey must still use it).
POLICIES = ("off", "required", "flag")
REGISTRATION_SECONDS = 15 * 60  # after enrolment, the phone may register its passkey this long
NO_USER_VERIFICATION = "no_user_verification"
_MAX_FIELD = 4096  # base64url characters of one assertion field; real ones are a few hundred


@functools.lru_cache(maxsize=4)
def relying_party(public_url: str) -> tuple[str, str]:
    """The WebAuthn RP ID (the public host name) and the origin a phone's page runs at."""
    parts = urlsplit(public_url)
    return parts.hostname or "", f"{parts.scheme}://{parts.netloc}"


def registration_challenge(secret_key: bytes, device_id: str) -> bytes:
    """Stateless: only the phone that enrolled ``device_id`` was told it."""
    return hmac.new(secret_key, f"presensi/passkey/v1|{device_id}".encode(), "sha256").digest()


def assertion_challenge(message: bytes) -> bytes:
    """The challenge a check-in's assertion signs: the scan's signed message, hashed."""
    return hashlib.sha256(message).digest()


async def policy_for(db: Database, employee_id: int) -> str:
    """The user verification policy that applies to an employee: the unit's, else the agency's."""
    row = await db.fetch_one(
        sa.select(units.c.user_verification.label("unit"), agencies.c.user_verification)
        .select_from(employees.join(units).join(agencies))
        .where(employees.c.id == employee_id)
    )
    if row is None:
        return "off"
    return str(row["unit"] or row["user_verification"])


def effective_policy(unit_policy: str | None, agency_policy: str) -> str:
    return unit_policy or agency_policy


def policy_field(value: Any, *, inherit: bool) -> str | None:
    """An admin's choice (console form or admin API); ``""`` is "as the agency" for a unit."""
    if inherit and value in (None, ""):
        return None
    if value is None:
        return "off"
    if value not in POLICIES:
        raise ValidationError("user_verification must be off, required or flag")
    return str(value)


async def enrolment_offer(
    db: Database, secret_key: bytes, public_url: str, *, device_id: str, employee_id: int, nip: str
) -> dict[str, Any]:
    """What the enrolment answer adds: the policy, and the passkey's creation options."""
    policy = await policy_for(db, employee_id)
    if policy == "off":
        return {"user_verification": "off"}
    from webauthn import generate_registration_options, options_to_json
    from webauthn.helpers.cose import COSEAlgorithmIdentifier
    from webauthn.helpers.structs import (
        AuthenticatorAttachment,
        AuthenticatorSelectionCriteria,
        ResidentKeyRequirement,
        UserVerificationRequirement,
    )

    rp_id, _origin = relying_party(public_url)
    options = generate_registration_options(
        rp_id=rp_id,
        rp_name="Presensi",
        user_name=nip,
        user_id=device_id.encode(),
        challenge=registration_challenge(secret_key, device_id),
        timeout=120_000,
        authenticator_selection=AuthenticatorSelectionCriteria(
            authenticator_attachment=AuthenticatorAttachment.PLATFORM,
            resident_key=ResidentKeyRequirement.DISCOURAGED,
            user_verification=UserVerificationRequirement.REQUIRED,
        ),
        supported_pub_key_algs=[COSEAlgorithmIdentifier.ECDSA_SHA_256],
    )
    return {"user_verification": policy, "passkey": json.loads(options_to_json(options))}


def _ec2_point(public_key: bytes) -> bytes:
    from webauthn.helpers import decode_credential_public_key
    from webauthn.helpers.cose import COSECRV, COSEAlgorithmIdentifier
    from webauthn.helpers.decode_credential_public_key import DecodedEC2PublicKey

    decoded = decode_credential_public_key(public_key)
    if (
        not isinstance(decoded, DecodedEC2PublicKey)
        or decoded.alg != COSEAlgorithmIdentifier.ECDSA_SHA_256
        or decoded.crv != COSECRV.P256
        or len(decoded.x) != 32
        or len(decoded.y) != 32
    ):
        raise ApiError("invalid_passkey", detail="the passkey must be ES256 (P-256)")
    return b"\x04" + decoded.x + decoded.y


async def register(
    db: Database,
    secret_key: bytes,
    public_url: str,
    *,
    device_id: Any,
    credential: Any,
    ip: str,
) -> str:
    """Verify a registration response for a freshly enrolled phone and keep its passkey."""
    from webauthn import verify_registration_response
    from webauthn.helpers import bytes_to_base64url
    from webauthn.helpers.cose import COSEAlgorithmIdentifier

    if not isinstance(device_id, str) or not isinstance(credential, dict) or len(device_id) > 40:
        raise ApiError("invalid_request", detail="device_id and credential are required")
    rp_id, origin = relying_party(public_url)
    try:
        verified = verify_registration_response(
            credential=credential,
            expected_challenge=registration_challenge(secret_key, device_id),
            expected_rp_id=rp_id,
            expected_origin=origin,
            require_user_verification=True,
            supported_pub_key_algs=[COSEAlgorithmIdentifier.ECDSA_SHA_256],
        )
    except Exception as exc:  # hostile input: whatever the parser raises, it is not a passkey
        raise ApiError("invalid_passkey", detail=type(exc).__name__) from exc
    point = _ec2_point(verified.credential_public_key)
    credential_id = bytes_to_base64url(verified.credential_id)
    if len(credential_id) > 400:
        raise ApiError("invalid_passkey", detail="credential id too long")
    now = utcnow()
    async with db.transaction():
        row = await db.fetch_one(
            sa.select(devices.c.created_at, devices.c.revoked_at, employees.c.nip)
            .select_from(devices.join(employees))
            .where(devices.c.id == device_id)
            .with_for_update()
        )
        if row is None or row["revoked_at"] is not None:
            raise ApiError("unknown_device")
        late = now - as_utc(row["created_at"]) > timedelta(seconds=REGISTRATION_SECONDS)
        taken = await db.fetch_val(
            sa.select(sa.func.count())
            .select_from(passkeys)
            .where(
                sa.or_(passkeys.c.device_id == device_id, passkeys.c.credential_id == credential_id)
            )
        )
        if late or taken:
            raise ApiError("passkey_not_allowed")
        await db.execute(
            passkeys.insert().values(
                device_id=device_id,
                credential_id=credential_id,
                public_key=point,
                sign_count=verified.sign_count,
                created_at=now,
            )
        )
        await audit.record(
            db,
            actor=f"employee:{row['nip']}",
            action="device.passkey",
            target=f"device:{device_id}",
            ip=ip,
        )
    return credential_id


@dataclass(frozen=True)
class Assertion:
    """A check-in's assertion, parsed and checked against the scan; its signature is checked
    in the scan's batch. ``error`` is the refusal's code when a check already failed."""

    credential_id: str = ""
    signature: bytes = b""  # raw r||s
    signed: bytes = b""  # authenticatorData || SHA-256(clientDataJSON)
    user_verified: bool = False
    error: str | None = None

    def item(self, point: bytes) -> Item:
        return (point, self.signature, self.signed)


def parse_assertion(data: Any, *, message: bytes, rp_id: str, origin: str) -> Assertion:
    """Everything about a check-in's assertion that needs neither the database nor a signature
    check: its shape, that it was made for this scan (challenge), at this site (origin, RP ID)
    by a user present. Never raises: a failed check is the result's ``error``."""
    from webauthn.helpers import (
        base64url_to_bytes,
        bytes_to_base64url,
        parse_authentication_credential_json,
        parse_authenticator_data,
        parse_client_data_json,
    )
    from webauthn.helpers.structs import ClientDataType

    try:
        if not isinstance(data, dict) or len(json.dumps(data)) > 3 * _MAX_FIELD:
            raise ValueError("not an assertion")
        credential = parse_authentication_credential_json(data)
        response = credential.response
        client_data = parse_client_data_json(response.client_data_json)
        authenticator = parse_authenticator_data(response.authenticator_data)
        r, s = decode_dss_signature(response.signature)
        half = SIGNATURE // 2
        signature = r.to_bytes(half, "big") + s.to_bytes(half, "big")
    except Exception:  # hostile input: whatever the parser raises, it is not an assertion
        return Assertion(error="invalid_assertion")
    if credential.raw_id != base64url_to_bytes(credential.id):
        return Assertion(error="invalid_assertion")
    if (
        client_data.type != ClientDataType.WEBAUTHN_GET
        or not hmac.compare_digest(client_data.challenge, assertion_challenge(message))
        or client_data.origin != origin
        or authenticator.rp_id_hash != hashlib.sha256(rp_id.encode()).digest()
    ):
        return Assertion(error="assertion_mismatch")
    if not authenticator.flags.up:
        return Assertion(error="user_verification_failed")
    return Assertion(
        credential_id=bytes_to_base64url(credential.raw_id),
        signature=signature,
        signed=response.authenticator_data + hashlib.sha256(response.client_data_json).digest(),
        user_verified=authenticator.flags.uv,
    )
