"""The OpenAPI 3.1 document served at ``/api/v1/openapi.json``.

Written as data next to the API rather than generated from docstrings, so other government
systems get exact schemas. Other modules add their paths with ``register``.
"""

from __future__ import annotations

from typing import Any

from backend.errors import ERRORS
from backend.settings import Settings

_PATHS: dict[str, dict[str, Any]] = {}
_SCHEMAS: dict[str, dict[str, Any]] = {}
_SECURITY_SCHEMES: dict[str, dict[str, Any]] = {}


def register(
    path: str,
    operations: dict[str, Any],
    schemas: dict[str, Any] | None = None,
    security_schemes: dict[str, Any] | None = None,
) -> None:
    _PATHS.setdefault(path, {}).update(operations)
    _SCHEMAS.update(schemas or {})
    _SECURITY_SCHEMES.update(security_schemes or {})


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def json_body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def json_response(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


ERROR_RESPONSE = json_response("Failure with a stable error code", ref("Error"))

_BASE_SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message", "message_en"],
                "properties": {
                    "code": {"type": "string", "enum": sorted(ERRORS)},
                    "message": {"type": "string", "description": "Bahasa Indonesia"},
                    "message_en": {"type": "string"},
                    "detail": {"type": "string"},
                },
            }
        },
    },
    "Jwk": {
        "type": "object",
        "description": "P-256 public key exactly as WebCrypto exports it (format 'jwk').",
        "required": ["kty", "crv", "x", "y"],
        "properties": {
            "kty": {"const": "EC"},
            "crv": {"const": "P-256"},
            "x": {"type": "string"},
            "y": {"type": "string"},
        },
    },
    "Employee": {
        "type": "object",
        "properties": {"nip": {"type": "string"}, "name": {"type": "string"}},
    },
    "Checkin": {
        "type": "object",
        "required": ["status", "checkin_id", "kind", "at", "late_minutes", "category"],
        "properties": {
            "status": {"type": "string", "enum": ["accepted", "pending_review"]},
            "checkin_id": {"type": "integer"},
            "kind": {"type": "string", "enum": ["in", "out"]},
            "at": {"type": "string", "format": "date-time"},
            "late_minutes": {
                "type": "integer",
                "description": "Minutes late for 'in', minutes early for 'out'.",
            },
            "category": {
                "type": ["string", "null"],
                "enum": ["TL1", "TL2", "TL3", "TL4", "PSW1", "PSW2", "PSW3", "PSW4", None],
            },
            "employee": ref("Employee"),
            "apel": {
                "type": "boolean",
                "description": "Whether the scan also recorded the employee's attendance of the "
                "apel session whose code the display showed.",
            },
        },
    },
}

register(
    "/api/v1/time",
    {
        "get": {
            "summary": "Server clock, for phones and displays to sync to",
            "responses": {
                "200": json_response(
                    "Server time",
                    {
                        "type": "object",
                        "required": ["server_time", "qr_period"],
                        "properties": {
                            "server_time": {"type": "number", "description": "Unix seconds"},
                            "qr_period": {"type": "integer"},
                        },
                    },
                )
            },
        }
    },
)
register(
    "/api/v1/devices",
    {
        "post": {
            "summary": "Enrol a phone with an enrolment code; revokes the employee's old phone",
            "requestBody": json_body(
                {
                    "type": "object",
                    "required": ["nip", "code", "public_key"],
                    "properties": {
                        "nip": {"type": "string"},
                        "code": {"type": "string"},
                        "public_key": ref("Jwk"),
                    },
                }
            ),
            "responses": {
                "201": json_response(
                    "Enrolled",
                    {
                        "type": "object",
                        "required": ["device_id", "employee"],
                        "properties": {
                            "device_id": {"type": "string"},
                            "employee": ref("Employee"),
                            "user_verification": {
                                "type": "string",
                                "enum": ["off", "required", "flag"],
                            },
                            "passkey": {
                                "type": "object",
                                "description": "PublicKeyCredentialCreationOptionsJSON, when "
                                "user_verification is not off: register with "
                                "POST /api/v1/devices/passkey",
                            },
                        },
                    },
                ),
                "400": ERROR_RESPONSE,
                "403": ERROR_RESPONSE,
                "413": ERROR_RESPONSE,
                "415": ERROR_RESPONSE,
                "429": ERROR_RESPONSE,
            },
        }
    },
)
register(
    "/api/v1/devices/passkey",
    {
        "post": {
            "summary": "Register the enrolled phone's platform passkey (user verification)",
            "requestBody": json_body(
                {
                    "type": "object",
                    "required": ["device_id", "credential"],
                    "properties": {
                        "device_id": {"type": "string"},
                        "credential": {
                            "type": "object",
                            "description": "RegistrationResponseJSON",
                        },
                    },
                }
            ),
            "responses": {
                "201": json_response(
                    "Registered",
                    {
                        "type": "object",
                        "required": ["credential_id"],
                        "properties": {"credential_id": {"type": "string"}},
                    },
                ),
                "400": ERROR_RESPONSE,
                "401": ERROR_RESPONSE,
                "409": ERROR_RESPONSE,
                "413": ERROR_RESPONSE,
                "415": ERROR_RESPONSE,
                "429": ERROR_RESPONSE,
            },
        }
    },
)
register(
    "/api/v1/checkins",
    {
        "post": {
            "summary": "Record a device-signed scan of a display's QR code",
            "description": (
                "signature: base64url of the raw P1363 r||s ECDSA-P256-SHA256 signature over "
                "`presensi/checkin/v1|<token>|<device_id>|<client_ts>|<nonce>`. "
                "201: new record; 200: the same display window again (same body); "
                "202: signed while the code was current but arrived later: pending review."
            ),
            "requestBody": json_body(
                {
                    "type": "object",
                    "required": ["token", "device_id", "client_ts", "nonce", "signature"],
                    "properties": {
                        "token": {"type": "string"},
                        "device_id": {"type": "string"},
                        "client_ts": {"type": "integer", "description": "Unix milliseconds"},
                        "nonce": {"type": "string", "description": "16 bytes, base64url"},
                        "signature": {"type": "string"},
                        "location": {
                            "type": ["object", "null"],
                            "description": "Where the phone was (optional, unsigned): a signal "
                            "for reviewers, flagged against the office's geofence",
                            "required": ["latitude", "longitude", "accuracy"],
                            "properties": {
                                "latitude": {"type": "number", "minimum": -90, "maximum": 90},
                                "longitude": {"type": "number", "minimum": -180, "maximum": 180},
                                "accuracy": {"type": "number", "minimum": 0, "maximum": 1e7},
                            },
                        },
                        "assertion": {
                            "type": "object",
                            "description": "AuthenticationResponseJSON of the phone's passkey "
                            "whose challenge is SHA-256 of the signed text (backend/passkeys.py)",
                        },
                    },
                }
            ),
            "responses": {
                "200": json_response("Repeated scan of the same window", ref("Checkin")),
                "201": json_response("Recorded", ref("Checkin")),
                "202": json_response("Stored for review", ref("Checkin")),
                "400": ERROR_RESPONSE,
                "401": ERROR_RESPONSE,
                "403": ERROR_RESPONSE,
                "413": ERROR_RESPONSE,
                "415": ERROR_RESPONSE,
            },
        }
    },
)


def openapi_document(settings: Settings) -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Presensi API",
            "version": "1",
            "description": "Attendance records for regional governments. Errors carry a stable "
            "`code` with Indonesian and English messages.",
        },
        "servers": [{"url": settings.public_url}],
        "paths": dict(sorted(_PATHS.items())),
        "components": {
            "schemas": {**_BASE_SCHEMAS, **_SCHEMAS},
            **({"securitySchemes": dict(_SECURITY_SCHEMES)} if _SECURITY_SCHEMES else {}),
        },
    }
