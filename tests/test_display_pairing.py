"""Pairing an office display: the form, the credential cookie, single use, limits, networks."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from backend.app import create_app
from backend.db import audit_log, displays, offices, utcnow
from backend.settings import Settings
from display_server.pairing import (
    CREDENTIAL_COOKIE,
    authenticate,
    hash_credential,
    issue_pairing_code,
    network_allowed,
    revoke_display,
)
from display_server.views import PAIR_LIMIT_PER_IP
from tests.conftest import app_db, make_settings, run

ORIGIN = {"origin": "https://presensi.test"}


def pair(client: TestClient, code: str) -> Any:
    return client.post("/display/pair", data={"code": code}, headers=ORIGIN, follow_redirects=False)


def display_row(client: TestClient, display_id: int) -> Any:
    return run(
        client, app_db(client).fetch_one, sa.select(displays).where(displays.c.id == display_id)
    )


def test_unpaired_browser_gets_the_form_in_indonesian(client: TestClient) -> None:
    response = client.get("/display")
    assert response.status_code == 200
    assert "Pasangkan layar ini" in response.text
    assert 'action="/display/pair"' in response.text
    assert "<script>" not in response.text  # no inline script: the CSP forbids it
    assert response.headers["cache-control"] == "no-store"


def test_pairing_sets_a_strict_cookie_and_shows_the_display(
    client: TestClient, settings: Settings, world: dict[str, Any]
) -> None:
    display_id = world["display"]["id"]
    response = pair(client, world["display"]["pairing_code"].lower())  # typed in lower case
    assert response.status_code == 303
    assert response.headers["location"] == "/display"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{CREDENTIAL_COOKIE}=")
    lowered = cookie.lower()
    for flag in ("httponly", "samesite=strict", "secure", "path=/display"):
        assert flag in lowered
    credential = client.cookies[CREDENTIAL_COOKIE]
    row = display_row(client, display_id)
    assert row["credential_hash"] == hash_credential(settings.secret_key, credential)
    assert credential not in row["credential_hash"]
    assert row["pairing_code_hash"] is None and row["paired_at"] is not None
    page = client.get("/display")
    assert page.status_code == 200
    assert world["office"]["name"] in page.text
    assert 'src="/display/static/display.js"' in page.text
    assert CREDENTIAL_COOKIE in page.headers["set-cookie"]  # renewed on every visit
    actions = run(client, app_db(client).fetch_all, sa.select(audit_log.c.action))
    assert "display.pair" in {r["action"] for r in actions}


def test_static_modules_are_served(client: TestClient) -> None:
    for name in ("display.js", "qr.js", "socket.js", "clock.js", "display.css"):
        assert client.get(f"/display/static/{name}").status_code == 200


@pytest.mark.parametrize("case", ["wrong", "used", "expired", "revoked", "empty"])
def test_bad_codes_are_refused_with_a_clear_message(
    client: TestClient, world: dict[str, Any], case: str
) -> None:
    code = world["display"]["pairing_code"]
    db = app_db(client)
    display_id = world["display"]["id"]
    if case == "wrong":
        code = "AAAAAAAA"
    elif case == "used":
        assert pair(client, code).status_code == 303
        client.cookies.clear()
    elif case == "expired":
        run(
            client,
            db.execute,
            displays.update().values(pairing_expires_at=utcnow() - timedelta(seconds=1)),
        )
    elif case == "revoked":
        assert run(client, revoke_display, db, display_id, "admin:1")
    else:
        code = "  "
    before = display_row(client, display_id)
    response = pair(client, code)
    assert response.status_code == 400
    assert 'data-error="invalid_code"' in response.text
    assert "Kode pemasangan salah" in response.text
    assert CREDENTIAL_COOKIE not in response.headers.get("set-cookie", "")
    after = display_row(client, display_id)
    assert after["credential_hash"] == before["credential_hash"]  # nothing half-written


def test_attempts_are_rate_limited_per_ip(client: TestClient, world: dict[str, Any]) -> None:
    for _ in range(PAIR_LIMIT_PER_IP):
        assert pair(client, "AAAAAAAA").status_code == 400
    response = pair(client, world["display"]["pairing_code"])
    assert response.status_code == 429
    assert 'data-error="rate_limited"' in response.text
    assert display_row(client, world["display"]["id"])["credential_hash"] is None


def test_a_foreign_origin_cannot_pair(client: TestClient, world: dict[str, Any]) -> None:
    response = client.post(
        "/display/pair",
        data={"code": world["display"]["pairing_code"]},
        headers={"origin": "https://evil.test"},
        follow_redirects=False,
    )
    assert response.status_code == 403
    assert display_row(client, world["display"]["id"])["credential_hash"] is None


def test_office_allow_list_refuses_other_networks(
    tmp_path: Path, database_url: str, world: dict[str, Any], client: TestClient
) -> None:
    run(
        client,
        app_db(client).execute,
        offices.update().values(allowed_networks="10.20.0.0/16, 2001:db8::/32"),
    )
    settings = make_settings(tmp_path, database_url)
    code = world["display"]["pairing_code"]
    with TestClient(
        create_app(settings), base_url="https://presensi.test", client=("192.0.2.7", 4000)
    ) as outside:
        response = pair(outside, code)
        assert response.status_code == 403
        assert 'data-error="network_not_allowed"' in response.text
    with TestClient(
        create_app(settings), base_url="https://presensi.test", client=("10.20.3.4", 4000)
    ) as inside:
        assert pair(inside, code).status_code == 303  # the refused attempt did not use it up
        row = display_row(inside, world["display"]["id"])
        assert row["last_seen_ip"] == "10.20.3.4"


def test_cookie_is_not_secure_on_plain_http(tmp_path: Path, database_url: str) -> None:
    settings = make_settings(tmp_path, database_url, public_url="http://127.0.0.1:8000")
    with TestClient(create_app(settings), base_url="http://127.0.0.1:8000") as client:
        from backend.demo import ensure_demo

        info = run(client, ensure_demo, app_db(client), settings.secret_key, 1)
        response = client.post(
            "/display/pair",
            data={"code": info["display"]["pairing_code"]},
            headers={"origin": "http://127.0.0.1:8000"},
            follow_redirects=False,
        )
        assert response.status_code == 303
        assert "secure" not in response.headers["set-cookie"].lower()
        assert "httponly" in response.headers["set-cookie"].lower()


def test_new_pairing_code_replaces_the_old_one(
    client: TestClient, settings: Settings, world: dict[str, Any]
) -> None:
    db = app_db(client)
    display_id = world["display"]["id"]
    old = world["display"]["pairing_code"]
    new = run(client, issue_pairing_code, db, settings.secret_key, display_id, actor="admin:1")
    assert pair(client, old).status_code == 400
    assert pair(client, new).status_code == 303
    credential = client.cookies[CREDENTIAL_COOKIE]
    found = run(client, authenticate, db, settings.secret_key, credential)
    assert found is not None and found.id == display_id
    assert run(client, authenticate, db, settings.secret_key, credential + "x") is None


@pytest.mark.parametrize(
    ("allowed", "ip", "expected"),
    [
        ("", "203.0.113.9", True),
        ("10.0.0.0/8", "10.1.2.3", True),
        ("10.0.0.0/8", "11.1.2.3", False),
        ("10.0.0.0/8,192.168.1.0/24", "192.168.1.200", True),
        ("2001:db8::/32", "2001:db8::1", True),
        ("not-a-network, 10.0.0.0/8", "10.0.0.1", True),
        ("10.0.0.0/8", "testclient", False),
        ("10.0.0.1", "10.0.0.1", True),
    ],
)
def test_network_allowed(allowed: str, ip: str, expected: bool) -> None:
    assert network_allowed(allowed, ip) is expected
