"""GET /api/v1/me/checkins: authenticated by a fresh device signature, only the owner's records."""

from __future__ import annotations

import secrets
import time
from datetime import timedelta
from typing import Any

import pytest
from starlette.testclient import TestClient

from backend.db import checkins, devices, employees, utcnow
from backend.me import MAX_SKEW
from backend.settings import Settings
from tests.client import Phone, b64url
from tests.conftest import app_db, run
from tests.test_api import current_token, enrolled

PATH = "/api/v1/me/checkins"


def auth(phone: Phone, *, ts: int | None = None, path: str = PATH, context: str = "me") -> str:
    ts = int(time.time() * 1000) if ts is None else ts
    nonce = b64url(secrets.token_bytes(16))
    message = f"presensi/{context}/v1|GET {path}|{phone.device_id}|{ts}|{nonce}".encode()
    return f"Presensi-Device {phone.device_id}.{ts}.{nonce}.{phone.sign(message)}"


def get(client: TestClient, header: str | None) -> Any:
    return client.get(PATH, headers={"authorization": header} if header else {})


def code_of(response: Any) -> str:
    return str(response.json()["error"]["code"])


@pytest.fixture
def phone(client: TestClient, settings: Settings, world: dict[str, Any]) -> Phone:
    return enrolled(client, settings, world["employees"][0]["nip"])


def test_lists_own_checkins_newest_first(
    client: TestClient, settings: Settings, world: dict[str, Any], phone: Phone
) -> None:
    display = world["display"]["id"]
    assert phone.check_in(current_token(settings, display, -1)).status_code == 201
    second = phone.check_in(current_token(settings, display))
    assert second.status_code == 201
    other = enrolled(client, settings, world["employees"][1]["nip"])
    assert other.check_in(current_token(settings, display)).status_code == 201

    response = get(client, auth(phone))
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["employee"] == {
        "nip": world["employees"][0]["nip"],
        "name": world["employees"][0]["name"],
    }
    assert body["days"] == 30
    rows = body["checkins"]
    assert len(rows) == 2  # the other employee's scan is not listed
    assert rows[0]["at"] == second.json()["at"]
    assert rows[0]["at"] >= rows[1]["at"]
    assert rows[0]["at"].endswith("+07:00")
    assert set(rows[0]) == {"at", "date", "kind", "status", "late_minutes", "category", "office"}
    assert rows[0]["date"] == rows[0]["at"][:10]
    assert rows[0]["status"] == "accepted"
    assert rows[0]["office"]


def test_only_the_last_30_days(
    client: TestClient, settings: Settings, world: dict[str, Any], phone: Phone
) -> None:
    assert phone.check_in(current_token(settings, world["display"]["id"])).status_code == 201
    db = app_db(client)
    old = utcnow() - timedelta(days=31)
    run(client, db.execute, checkins.update().values(at=old, local_date=old.date()))
    assert get(client, auth(phone)).json()["checkins"] == []


def test_records_of_the_old_phone_stay_visible_on_the_new_one(
    client: TestClient, settings: Settings, world: dict[str, Any], phone: Phone
) -> None:
    assert phone.check_in(current_token(settings, world["display"]["id"])).status_code == 201
    new_phone = enrolled(client, settings, world["employees"][0]["nip"])
    assert len(get(client, auth(new_phone)).json()["checkins"]) == 1
    assert code_of(get(client, auth(phone))) == "device_revoked"


@pytest.mark.parametrize(
    "header",
    [
        None,
        "Bearer abc",
        "Presensi-Device",
        "Presensi-Device d_abcdefghij.123",
        "Presensi-Device d_abcdefghij.0123.AAAAAAAAAAAAAAAAAAAAAA." + "A" * 86,
    ],
)
def test_malformed_credentials_are_invalid_requests(
    client: TestClient, phone: Phone, header: str | None
) -> None:
    response = get(client, header)
    assert response.status_code == 400
    assert code_of(response) == "invalid_request"


def test_refusals(client: TestClient, settings: Settings, phone: Phone) -> None:
    stranger = Phone(client)
    stranger.device_id = "d_" + secrets.token_urlsafe(16)
    assert code_of(get(client, auth(stranger))) == "unknown_device"

    impostor = Phone(client)  # right device id, wrong key
    impostor.device_id = phone.device_id
    response = get(client, auth(impostor))
    assert response.status_code == 401 and code_of(response) == "bad_signature"

    # A check-in signature or one for another path is not a credential here.
    assert code_of(get(client, auth(phone, context="checkin"))) == "bad_signature"
    assert code_of(get(client, auth(phone, path="/api/v1/checkins"))) == "bad_signature"

    stale = int((time.time() - MAX_SKEW - 5) * 1000)
    response = get(client, auth(phone, ts=stale))
    assert response.status_code == 401 and code_of(response) == "stale_signature"
    future = int((time.time() + MAX_SKEW + 5) * 1000)
    assert code_of(get(client, auth(phone, ts=future))) == "stale_signature"
    assert get(client, auth(phone)).status_code == 200


def test_inactive_employee_and_revoked_device(client: TestClient, phone: Phone) -> None:
    db = app_db(client)
    run(client, db.execute, employees.update().values(active=False))
    assert get(client, auth(phone)).status_code == 403
    run(client, db.execute, devices.update().values(revoked_at=utcnow()))
    assert code_of(get(client, auth(phone))) == "device_revoked"


def test_documented_in_openapi(client: TestClient) -> None:
    doc = client.get("/api/v1/openapi.json").json()
    operation = doc["paths"][PATH]["get"]
    assert "Presensi-Device" in operation["description"]
    assert "MyCheckin" in doc["components"]["schemas"]
    assert (
        "stale_signature"
        in doc["components"]["schemas"]["Error"]["properties"]["error"]["properties"]["code"][
            "enum"
        ]
    )


def test_a_nonce_is_accepted_once(client: TestClient, phone: Phone) -> None:
    header = auth(phone)
    assert get(client, header).status_code == 200
    response = get(client, header)
    assert response.status_code == 401 and code_of(response) == "replayed_request"
    # A fresh nonce from the same phone still works.
    assert get(client, auth(phone)).status_code == 200


def test_a_refused_signature_does_not_burn_the_nonce(client: TestClient, phone: Phone) -> None:
    nonce = b64url(secrets.token_bytes(16))
    impostor = Phone(client)
    impostor.device_id = phone.device_id
    assert code_of(get(client, impostor.me_authorization("GET", PATH, nonce=nonce))) == (
        "bad_signature"
    )
    assert get(client, phone.me_authorization("GET", PATH, nonce=nonce)).status_code == 200


def test_a_body_is_bound_to_the_signature(client: TestClient, phone: Phone) -> None:
    """The signed text gains |base64url(sha256(body)) for a request with a body."""
    from backend.me import DeviceCredential

    cred = DeviceCredential("d_abcdefgh", 1700000000000, "n" * 22, "s" * 43)
    assert cred.message("GET", "/x") == b"presensi/me/v1|GET /x|d_abcdefgh|1700000000000|" + (
        b"n" * 22
    )
    # sha256("{}") in base64url, unpadded
    assert cred.message("POST", "/x", b"{}").endswith(
        b"|RBNvo1WzZ4oRRq0W9-hknpT7T8If536DEMBg9hyq_4o"
    )
