"""The phone-facing API over HTTP: every error code, idempotency, and nothing written on failure."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from backend import tokens
from backend.app import create_app
from backend.db import audit_log, checkins, devices, displays, employees, enrolment_codes, utcnow
from backend.devices import issue_enrolment_code
from backend.settings import Settings
from tests.client import Phone
from tests.conftest import app_db, count, make_settings, run


def code_for(client: TestClient, settings: Settings, nip: str, ttl: int = 3600) -> str:
    db = app_db(client)
    employee_id = run(client, db.fetch_val, sa.select(employees.c.id).where(employees.c.nip == nip))
    return run(
        client,
        issue_enrolment_code,
        db,
        settings.secret_key,
        employee_id,
        ttl=ttl,
        created_by="test",
    )


def enrolled(client: TestClient, settings: Settings, nip: str) -> Phone:
    phone = Phone(client)
    response = phone.enrol(nip, code_for(client, settings, nip))
    assert response.status_code == 201, response.text
    return phone


def current_token(settings: Settings, display_id: int, offset: int = 0) -> str:
    window = tokens.current_window(settings.qr_period) + offset
    return tokens.issue(settings.qr_keys, display_id, window)


def error_code(response: Any) -> str:
    body = response.json()
    assert set(body["error"]) >= {"code", "message", "message_en"}
    assert body["error"]["message"] and body["error"]["message_en"]
    return str(body["error"]["code"])


@pytest.fixture
def phone(client: TestClient, settings: Settings, world: dict[str, Any]) -> Phone:
    return enrolled(client, settings, world["employees"][0]["nip"])


def test_time(client: TestClient) -> None:
    before = time.time()
    body = client.get("/api/v1/time").json()
    assert before - 1 <= body["server_time"] <= time.time() + 1
    assert body["qr_period"] == 15


def test_enrol_returns_device_and_employee(
    client: TestClient, settings: Settings, world: dict[str, Any]
) -> None:
    person = world["employees"][1]
    phone = Phone(client)
    response = phone.enrol(person["nip"], code_for(client, settings, person["nip"]))
    assert response.status_code == 201
    body = response.json()
    assert body["employee"] == {"nip": person["nip"], "name": person["name"]}
    assert body["device_id"].startswith("d_")
    actions = run(client, app_db(client).fetch_all, sa.select(audit_log.c.action))
    assert "device.enrol" in [a["action"] for a in actions]


def test_checkin_accepted_then_idempotent(
    client: TestClient, settings: Settings, world: dict[str, Any], phone: Phone
) -> None:
    token = current_token(settings, world["display"]["id"])
    first = phone.check_in(token)
    assert first.status_code == 201, first.text
    body = first.json()
    assert body["status"] == "accepted"
    assert body["kind"] in ("in", "out")
    assert body["at"][-6:] == "+07:00"  # Asia/Jakarta
    assert isinstance(body["late_minutes"], int)
    assert body["category"] is None or body["category"][:2] in ("TL", "PS")
    again = phone.check_in(token)  # a new nonce and signature, the same display window
    assert again.status_code == 200
    assert again.json() == body
    assert count(client, checkins) == 1


def test_new_window_makes_a_new_record(
    client: TestClient, settings: Settings, world: dict[str, Any], phone: Phone
) -> None:
    assert phone.check_in(current_token(settings, world["display"]["id"], -1)).status_code == 201
    assert phone.check_in(current_token(settings, world["display"]["id"])).status_code == 201
    assert count(client, checkins) == 2


def test_record_exists_only_after_2xx(
    client: TestClient, settings: Settings, world: dict[str, Any], phone: Phone
) -> None:
    bad = phone.check_in(current_token(settings, world["display"]["id"], 5))
    assert bad.status_code == 400 and count(client, checkins) == 0
    good = phone.check_in(current_token(settings, world["display"]["id"]))
    assert good.status_code == 201
    row = run(client, app_db(client).fetch_one, checkins.select())
    assert row["id"] == good.json()["checkin_id"]
    assert row["status"] == "accepted"


def test_pending_review_for_a_scan_that_arrives_late(
    client: TestClient, settings: Settings, world: dict[str, Any], phone: Phone
) -> None:
    """Signed while the code was current (queued without signal), delivered minutes later."""
    window = tokens.current_window(settings.qr_period) - 20
    token = tokens.issue(settings.qr_keys, world["display"]["id"], window)
    signed_at = int((window * settings.qr_period + 3) * 1000)
    response = phone.check_in(token, client_ts=signed_at)
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "pending_review"
    row = run(client, app_db(client).fetch_one, checkins.select())
    assert row["status"] == "pending_review" and "offline_submission" in row["flags"]


# -- every error code over HTTP -------------------------------------------------------------


def assert_refused(client: TestClient, response: Any, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert error_code(response) == code
    assert count(client, checkins) == 0


@pytest.mark.parametrize(
    ("make_token", "code"),
    [
        (lambda s, d: "v1.k1.not-a-token", "malformed_token"),
        (lambda s, d: tokens.issue((("k9", b"some-other-key-123456"),), d, tokens.current_window(15)), "unknown_key"),
        (lambda s, d: current_token(s, d)[:-1] + ("A" if current_token(s, d)[-1] != "A" else "B"), "bad_mac"),
        (lambda s, d: current_token(s, d, -4), "expired_token"),  # beyond grace and skew
        (lambda s, d: current_token(s, d, 1), "future_token"),
        (lambda s, d: current_token(s, 424242), "unknown_display"),
    ],
)  # fmt: skip
def test_token_errors(
    client: TestClient,
    settings: Settings,
    world: dict[str, Any],
    phone: Phone,
    make_token,
    code: str,
) -> None:  # type: ignore[no-untyped-def]
    token = make_token(settings, world["display"]["id"])
    assert_refused(client, phone.check_in(token), 400, code)


def test_display_revoked(
    client: TestClient, settings: Settings, world: dict[str, Any], phone: Phone
) -> None:
    run(client, app_db(client).execute, displays.update().values(revoked_at=utcnow()))
    response = phone.check_in(current_token(settings, world["display"]["id"]))
    assert_refused(client, response, 400, "display_revoked")


def test_unknown_device(client: TestClient, settings: Settings, world: dict[str, Any]) -> None:
    phone = Phone(client)
    response = phone.check_in(
        current_token(settings, world["display"]["id"]), device_id="d_nosuchdevice0000"
    )
    assert_refused(client, response, 401, "unknown_device")


def test_checkin_answers_carry_the_api_headers(
    client: TestClient, settings: Settings, world: dict[str, Any]
) -> None:
    """Check-ins are answered ahead of the middleware (backend/checkin/fastpath.py), with its headers."""
    expected = client.get("/api/v1/time").headers
    assert "content-security-policy" in expected and "strict-transport-security" in expected
    phone = enrolled(client, settings, world["employees"][0]["nip"])
    token = current_token(settings, world["display"]["id"])
    accepted = phone.check_in(token)
    refused = Phone(client).check_in(token, device_id="d_nosuchdevice0000")
    assert (accepted.status_code, refused.status_code) == (201, 401)
    for response in (accepted, refused):
        assert response.headers["content-type"] == "application/json"
        assert int(response.headers["content-length"]) == len(response.content)
        for name, value in expected.items():
            if name not in ("content-length", "content-type", "x-request-id"):
                assert response.headers[name] == value, name
        assert response.headers["x-request-id"] not in (expected["x-request-id"], "-")
    other = client.get("/api/v1/checkins")  # any other method still goes through the routes
    assert other.status_code == 405 and error_code(other) == "method_not_allowed"


def test_device_revoked_by_new_enrolment(
    client: TestClient, settings: Settings, world: dict[str, Any], phone: Phone
) -> None:
    nip = world["employees"][0]["nip"]
    new_phone = enrolled(client, settings, nip)  # "ganti HP": the old key stops working
    token = current_token(settings, world["display"]["id"])
    assert_refused(client, phone.check_in(token), 401, "device_revoked")
    assert new_phone.check_in(token).status_code == 201


def test_bad_signature(
    client: TestClient, settings: Settings, world: dict[str, Any], phone: Phone
) -> None:
    impostor = Phone(client)  # a different key claiming the enrolled device id
    response = impostor.check_in(
        current_token(settings, world["display"]["id"]), device_id=phone.device_id
    )
    assert_refused(client, response, 401, "bad_signature")


def test_signature_over_another_token_is_refused(
    client: TestClient, settings: Settings, world: dict[str, Any], phone: Phone
) -> None:
    body = phone.checkin_body(current_token(settings, world["display"]["id"], -1))
    body["token"] = current_token(settings, world["display"]["id"])
    assert_refused(client, client.post("/api/v1/checkins", json=body), 401, "bad_signature")


def test_employee_inactive(
    client: TestClient, settings: Settings, world: dict[str, Any], phone: Phone
) -> None:
    run(client, app_db(client).execute, employees.update().values(active=False))
    response = phone.check_in(current_token(settings, world["display"]["id"]))
    assert_refused(client, response, 403, "employee_inactive")


@pytest.mark.parametrize(
    ("body", "headers", "status", "code"),
    [
        (b"{not json", {"content-type": "application/json"}, 400, "invalid_request"),
        (b"[]", {"content-type": "application/json"}, 400, "invalid_request"),
        (b'{"token": "x"}', {"content-type": "application/json"}, 400, "invalid_request"),
        (b'{"token": 1, "device_id": "d", "client_ts": 1, "nonce": "n", "signature": "s"}', {"content-type": "application/json"}, 400, "invalid_request"),
        (b"x" * 9000, {"content-type": "application/json"}, 413, "payload_too_large"),
        (b"token=x", {"content-type": "application/x-www-form-urlencoded"}, 415, "unsupported_media_type"),
        (b"\xff\xfe", {"content-type": "application/json"}, 400, "invalid_request"),
    ],
)  # fmt: skip
@pytest.mark.parametrize("path", ["/api/v1/checkins", "/api/v1/devices"])
def test_request_shape_errors(
    client: TestClient, path: str, body: bytes, headers: dict[str, str], status: int, code: str
) -> None:
    response = client.post(path, content=body, headers=headers)
    assert response.status_code == status, response.text
    assert error_code(response) == code
    assert count(client, checkins) == 0 and count(client, devices) == 0


def test_oversized_chunked_body_is_refused_while_streaming(client: TestClient) -> None:
    def chunks():  # type: ignore[no-untyped-def]
        for _ in range(100):
            yield b" " * 1024

    response = client.post(
        "/api/v1/checkins", content=chunks(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413 and error_code(response) == "payload_too_large"


def test_invalid_codes(client: TestClient, settings: Settings, world: dict[str, Any]) -> None:
    nip, other = world["employees"][0]["nip"], world["employees"][1]["nip"]
    code = code_for(client, settings, nip)
    phone = Phone(client)
    assert error_code(phone.enrol(nip, "AAAAAAAA")) == "invalid_code"
    assert error_code(phone.enrol(other, code)) == "invalid_code"  # someone else's code
    assert phone.enrol(nip, code.lower()).status_code == 201  # typed in lower case: fine
    assert error_code(Phone(client).enrol(nip, code)) == "invalid_code"  # single use
    expired = code_for(client, settings, other)
    run(
        client,
        app_db(client).execute,
        enrolment_codes.update().values(expires_at=utcnow() - timedelta(seconds=1)),
    )
    assert error_code(Phone(client).enrol(other, expired)) == "invalid_code"
    assert count(client, devices) == 1


def test_new_code_replaces_the_old_one(
    client: TestClient, settings: Settings, world: dict[str, Any]
) -> None:
    nip = world["employees"][0]["nip"]
    first = code_for(client, settings, nip)
    second = code_for(client, settings, nip)
    assert error_code(Phone(client).enrol(nip, first)) == "invalid_code"
    assert Phone(client).enrol(nip, second).status_code == 201


def test_enrol_inactive_employee(
    client: TestClient, settings: Settings, world: dict[str, Any]
) -> None:
    nip = world["employees"][0]["nip"]
    code = code_for(client, settings, nip)
    run(client, app_db(client).execute, employees.update().values(active=False))
    response = Phone(client).enrol(nip, code)
    assert response.status_code == 403 and error_code(response) == "employee_inactive"


def test_enrolment_rate_limited_per_nip(tmp_path, database_url: str) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(tmp_path, database_url, enrol_limit_per_nip="3")
    with TestClient(create_app(settings), base_url="https://presensi.test") as client:
        from backend.demo import ensure_demo

        info = run(client, ensure_demo, app_db(client), settings.secret_key, 2)
        nip = info["employees"][0]["nip"]
        code = code_for(client, settings, nip)
        for _ in range(3):
            assert error_code(Phone(client).enrol(nip, "WRONGCOD")) == "invalid_code"
        limited = Phone(client).enrol(nip, code)  # even the right code waits now
        assert limited.status_code == 429 and error_code(limited) == "rate_limited"
        assert limited.headers["retry-after"]
        other = info["employees"][1]["nip"]
        assert Phone(client).enrol(other, code_for(client, settings, other)).status_code == 201


def test_enrolment_rate_limited_per_ip(tmp_path, database_url: str) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(tmp_path, database_url, enrol_limit_per_ip="2")
    with TestClient(create_app(settings), base_url="https://presensi.test") as client:
        for nip in ("1", "2"):
            assert error_code(Phone(client).enrol(nip, "WRONGCOD")) == "invalid_code"
        assert error_code(Phone(client).enrol("3", "WRONGCOD")) == "rate_limited"


def test_unknown_api_path_is_a_json_error(client: TestClient) -> None:
    response = client.get("/api/v1/nope")
    assert response.status_code == 404 and error_code(response) == "not_found"
    response = client.get("/api/v1/checkins")
    assert response.status_code == 405 and error_code(response) == "method_not_allowed"


def test_messages_are_indonesian_and_english(client: TestClient) -> None:
    error = client.post(
        "/api/v1/checkins", content=b"{", headers={"content-type": "application/json"}
    ).json()["error"]
    assert error["message"] != error["message_en"]
    assert "tidak" in error["message"].lower()


def test_openapi_document_lists_the_api(client: TestClient) -> None:
    doc = client.get("/api/v1/openapi.json").json()
    assert doc["openapi"].startswith("3.")
    assert {"/api/v1/time", "/api/v1/devices", "/api/v1/checkins"} <= set(doc["paths"])
    codes = doc["components"]["schemas"]["Error"]["properties"]["error"]["properties"]["code"][
        "enum"
    ]
    assert {"expired_token", "bad_signature", "rate_limited"} <= set(codes)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=6)
    ),
    max_leaves=12,
)
checkin_like = st.fixed_dictionaries(
    {},
    optional={
        "token": json_values | st.text(max_size=80),
        "device_id": json_values,
        "client_ts": json_values,
        "nonce": json_values,
        "signature": json_values,
    },
)


@hsettings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=st.one_of(json_values, checkin_like))
def test_no_5xx_for_malformed_checkins(client: TestClient, body: Any) -> None:
    response = client.post("/api/v1/checkins", json=body)
    assert 400 <= response.status_code < 500
    assert error_code(response)


@hsettings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    body=st.one_of(
        json_values,
        st.fixed_dictionaries({"nip": json_values, "code": json_values, "public_key": json_values}),
    )
)
def test_no_5xx_for_malformed_enrolments(client: TestClient, body: Any) -> None:
    run(client, client.app.state.presensi.enrol_ip_limiter.reset)  # type: ignore[attr-defined]
    response = client.post("/api/v1/devices", json=body)
    assert 400 <= response.status_code < 500
    assert error_code(response)
