"""A software platform authenticator: WebAuthn registration and assertion responses (JSON, as
``@simplewebauthn/browser`` sends them) made with a P-256 key, for tests and the bench."""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url, encode_cbor

UP, UV, AT = 0x01, 0x04, 0x40


class Authenticator:
    def __init__(self, rp_id: str, origin: str, *, user_verified: bool = True) -> None:
        self.rp_id = rp_id
        self.origin = origin
        self.user_verified = user_verified
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.credential_id = os.urandom(16)
        self.sign_count = 0

    def _auth_data(self, flags: int) -> bytes:
        self.sign_count += 1
        rp_hash = hashlib.sha256(self.rp_id.encode()).digest()
        flags |= UP | (UV if self.user_verified else 0)
        return rp_hash + bytes([flags]) + self.sign_count.to_bytes(4, "big")

    def _client_data(self, kind: str, challenge: bytes) -> bytes:
        data = {"type": kind, "challenge": bytes_to_base64url(challenge), "origin": self.origin}
        return json.dumps({**data, "crossOrigin": False}, separators=(",", ":")).encode()

    def cose_key(self) -> bytes:
        numbers = self.key.public_key().public_numbers()
        x, y = numbers.x.to_bytes(32, "big"), numbers.y.to_bytes(32, "big")
        return encode_cbor({1: 2, 3: -7, -1: 1, -2: x, -3: y})

    def register(self, options: dict[str, Any]) -> dict[str, Any]:
        """A ``none`` attestation for creation options (PublicKeyCredentialCreationOptionsJSON)."""
        challenge = base64url_to_bytes(options["challenge"])
        attested = (
            bytes(16) + len(self.credential_id).to_bytes(2, "big") + self.credential_id
        ) + self.cose_key()
        auth_data = self._auth_data(AT) + attested
        attestation = encode_cbor({"fmt": "none", "attStmt": {}, "authData": auth_data})
        raw_id = bytes_to_base64url(self.credential_id)
        return {
            "id": raw_id,
            "rawId": raw_id,
            "type": "public-key",
            "response": {
                "clientDataJSON": bytes_to_base64url(
                    self._client_data("webauthn.create", challenge)
                ),
                "attestationObject": bytes_to_base64url(attestation),
                "transports": ["internal"],
            },
            "clientExtensionResults": {},
            "authenticatorAttachment": "platform",
        }

    def assert_(self, challenge: bytes, *, origin: str | None = None) -> dict[str, Any]:
        """An assertion (AuthenticationResponseJSON) over ``challenge``."""
        auth_data = self._auth_data(0)
        data = {
            "type": "webauthn.get",
            "challenge": bytes_to_base64url(challenge),
            "origin": origin or self.origin,
        }
        client_data = json.dumps(data, separators=(",", ":")).encode()
        signed = auth_data + hashlib.sha256(client_data).digest()
        signature = self.key.sign(signed, ec.ECDSA(hashes.SHA256()))
        raw_id = bytes_to_base64url(self.credential_id)
        return {
            "id": raw_id,
            "rawId": raw_id,
            "type": "public-key",
            "response": {
                "clientDataJSON": bytes_to_base64url(client_data),
                "authenticatorData": bytes_to_base64url(auth_data),
                "signature": bytes_to_base64url(signature),
                "userHandle": None,
            },
            "clientExtensionResults": {},
            "authenticatorAttachment": "platform",
        }
