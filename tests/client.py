"""A reference phone: holds a P-256 key and enrols and checks in exactly as the PWA does.

WebCrypto signs ECDSA as raw ``r||s`` (IEEE P1363), so this client converts the DER signature
that `cryptography` produces into that form before sending it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from typing import Any, Protocol

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature


class Http(Protocol):
    def post(self, url: str, **kwargs: Any) -> Any: ...


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def der_to_p1363(der: bytes) -> bytes:
    r, s = decode_dss_signature(der)
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


class Phone:
    def __init__(self, http: Http, *, user_agent: str = "Mozilla/5.0 (Linux; Android 10)") -> None:
        self.http = http
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.device_id: str | None = None
        self.user_agent = user_agent

    def jwk(self) -> dict[str, Any]:
        numbers = self.key.public_key().public_numbers()
        return {
            "kty": "EC",
            "crv": "P-256",
            "x": b64url(numbers.x.to_bytes(32, "big")),
            "y": b64url(numbers.y.to_bytes(32, "big")),
            "ext": True,
            "key_ops": ["verify"],
        }

    def enrol(self, nip: str, code: str) -> Any:
        response = self.http.post(
            "/api/v1/devices",
            json={"nip": nip, "code": code, "public_key": self.jwk()},
            headers={"user-agent": self.user_agent},
        )
        if response.status_code == 201:
            self.device_id = response.json()["device_id"]
        return response

    def sign(self, message: bytes) -> str:
        der = self.key.sign(message, ec.ECDSA(hashes.SHA256()))
        return b64url(der_to_p1363(der))

    def checkin_body(
        self,
        token: str,
        *,
        client_ts: int | None = None,
        nonce: str | None = None,
        device_id: str | None = None,
    ) -> dict[str, Any]:
        device_id = device_id or self.device_id
        assert device_id, "enrol first"
        client_ts = int(time.time() * 1000) if client_ts is None else client_ts
        nonce = nonce or b64url(secrets.token_bytes(16))
        message = f"presensi/checkin/v1|{token}|{device_id}|{client_ts}|{nonce}".encode()
        return {
            "token": token,
            "device_id": device_id,
            "client_ts": client_ts,
            "nonce": nonce,
            "signature": self.sign(message),
        }

    def check_in(self, token: str, **kwargs: Any) -> Any:
        return self.http.post(
            "/api/v1/checkins",
            json=self.checkin_body(token, **kwargs),
            headers={"user-agent": self.user_agent},
        )

    def me_authorization(
        self,
        method: str,
        path: str,
        body: bytes = b"",
        *,
        ts: int | None = None,
        nonce: str | None = None,
    ) -> str:
        """The ``Authorization`` header of a signed ``/api/v1/me/...`` request (backend/me.py)."""
        assert self.device_id, "enrol first"
        ts = int(time.time() * 1000) if ts is None else ts
        nonce = nonce or b64url(secrets.token_bytes(16))
        text = f"presensi/me/v1|{method} {path.split('?')[0]}|{self.device_id}|{ts}|{nonce}"
        if body:
            text += "|" + b64url(hashlib.sha256(body).digest())
        return f"Presensi-Device {self.device_id}.{ts}.{nonce}.{self.sign(text.encode())}"

    def me(self, method: str, path: str, json_body: Any = None, **kwargs: Any) -> Any:
        """Send a signed ``/api/v1/me/...`` request as the PWA does; ``json_body`` as JSON."""
        body = b"" if json_body is None else json.dumps(json_body).encode()
        headers = {
            "authorization": self.me_authorization(method, path, body, **kwargs),
            "user-agent": self.user_agent,
        }
        if body:
            headers["content-type"] = "application/json"
        return self.http.request(method, path, content=body, headers=headers)  # type: ignore[attr-defined]
