"""Admin sign-in and sessions: cookie flags, throttling, CSRF, expiry, sign-out, copied cookies,
password changes, and the security headers on every response."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from starlette.testclient import TestClient

from backend.db import admin_sessions, admin_users, audit_log, employees, utcnow
from tests.conftest import app_db, count, run
from tests.support.admin import PASSWORD, csrf, make_admins, session_cookie, sign_in

COOKIE = "__Host-presensi_session"


def signed_in(client: TestClient) -> bool:
    response = client.get("/admin/", follow_redirects=False)
    if response.status_code == 303:
        assert response.headers["location"].startswith("/admin/login")
        return False
    assert response.status_code == 200
    return True


def use_session(client: TestClient, raw: str) -> None:
    """Present exactly this session cookie, as a browser holding a copy of it would."""
    client.cookies.clear()
    client.cookies.set(COOKIE, raw, domain="presensi.test")


def actions(client: TestClient) -> list[str]:
    rows = run(client, app_db(client).fetch_all, sa.select(audit_log.c.action))
    return [r["action"] for r in rows]


def test_sign_in_sets_a_host_only_secure_cookie(client: TestClient, world: dict[str, Any]) -> None:
    make_admins(client)
    assert not signed_in(client)
    response = sign_in(client, "agency_admin")
    assert response.status_code == 303 and response.headers["location"] == "/admin/"
    cookie = next(c for c in response.headers.get_list("set-cookie") if c.startswith(COOKIE))
    flags = {f.strip().lower() for f in cookie.split(";")}
    assert {"httponly", "secure", "path=/", "samesite=lax"} <= flags
    assert not any(f.startswith("domain=") for f in flags)
    raw = session_cookie(client)
    assert len(raw) >= 43  # 32 random bytes in base64url: 256 bits
    # Only a hash of the id is stored.
    stored = run(client, app_db(client).fetch_all, sa.select(admin_sessions.c.id_hash))
    assert [r["id_hash"] for r in stored] == [hashlib.sha256(raw.encode()).hexdigest()]
    assert signed_in(client)
    assert "admin.login" in actions(client)


def test_wrong_password_and_unknown_user_are_refused_alike(
    client: TestClient, world: dict[str, Any]
) -> None:
    make_admins(client)
    wrong = sign_in(client, "agency_admin", "not the password")
    unknown = sign_in(client, "nobody", "not the password")
    assert wrong.status_code == unknown.status_code == 401
    assert "Nama pengguna atau kata sandi salah." in wrong.text
    assert not signed_in(client)
    assert actions(client).count("admin.login_failed") == 2


def test_failed_sign_ins_are_throttled_per_account(
    client: TestClient, world: dict[str, Any]
) -> None:
    make_admins(client)
    for _ in range(5):
        assert sign_in(client, "leader", "wrong password!").status_code == 401
    # Now even the right password waits: a guesser cannot tell when they found it.
    assert sign_in(client, "leader").status_code == 429
    assert not signed_in(client)
    # Other accounts from the same place are unaffected.
    assert sign_in(client, "agency_admin").status_code == 303


def test_failed_sign_ins_are_throttled_per_ip(client: TestClient, world: dict[str, Any]) -> None:
    make_admins(client)
    for i in range(50):
        assert sign_in(client, f"guess{i}", "wrong password!").status_code == 401
    assert sign_in(client, "agency_admin").status_code == 429


def test_login_form_needs_its_token(client: TestClient, world: dict[str, Any]) -> None:
    make_admins(client)
    response = client.post(
        "/admin/login",
        data={"username": "agency_admin", "password": PASSWORD, "login_token": "forged"},
        follow_redirects=False,
    )
    assert response.status_code == 403
    assert not signed_in(client)


def test_next_is_kept_but_never_leaves_the_console(
    client: TestClient, world: dict[str, Any]
) -> None:
    make_admins(client)
    assert (
        client.get("/admin/employees?q=x", follow_redirects=False).headers["location"]
        == "/admin/login?next=%2Fadmin%2Femployees%3Fq%3Dx"
    )
    for target, expected in (
        ("/admin/employees", "/admin/employees"),
        ("https://evil.example/", "/admin/"),
        ("//evil.example/admin/", "/admin/"),
    ):
        client.cookies.clear()
        token = __import__("tests.support.admin", fromlist=["login_token"]).login_token(client)
        response = client.post(
            "/admin/login",
            data={"username": "leader", "password": PASSWORD, "login_token": token, "next": target},
            follow_redirects=False,
        )
        assert response.headers["location"] == expected


def test_posts_without_a_valid_csrf_token_are_refused(
    client: TestClient, world: dict[str, Any]
) -> None:
    make_admins(client)
    sign_in(client, "unit_operator")
    token = csrf(client)
    unit = world  # noqa: F841 -- the demo unit is the operator's
    form = {"nip": "199001012015011001", "name": "Tanpa Token", "unit_id": "1", "kind": "asn"}
    before = count(client, employees)
    for data, headers in (
        (form, {}),
        ({**form, "csrf_token": "forged"}, {}),
        (form, {"X-CSRF-Token": "forged"}),
    ):
        response = client.post(
            "/admin/employees", data=data, headers=headers, follow_redirects=False
        )
        assert response.status_code == 403, response.text
        assert "kedaluwarsa" in response.text
    assert count(client, employees) == before
    ok = client.post("/admin/employees", data={**form, "csrf_token": token}, follow_redirects=False)
    assert ok.status_code == 303 and count(client, employees) == before + 1
    # The header works too (for fetch), and JSON callers get the JSON error format.
    bad = client.post(
        "/admin/displays/1/revoke",
        headers={"Accept": "application/json", "X-CSRF-Token": "forged"},
    )
    assert bad.status_code == 403 and bad.json()["error"]["code"] == "csrf_failed"


def test_csrf_token_of_another_session_does_not_work(
    client: TestClient, world: dict[str, Any]
) -> None:
    make_admins(client)
    sign_in(client, "leader")
    other_token = csrf(client)
    client.cookies.clear()
    sign_in(client, "unit_operator")
    response = client.post(
        "/admin/displays/1",
        data={"name": "Renamed", "csrf_token": other_token},
        follow_redirects=False,
    )
    assert response.status_code == 403


def test_signed_out_and_copied_cookies_are_refused(
    client: TestClient, world: dict[str, Any]
) -> None:
    make_admins(client)
    sign_in(client, "agency_admin")
    first = session_cookie(client)
    # Signing in again rotates the id; the old one ends.
    sign_in(client, "agency_admin")
    second = session_cookie(client)
    assert second != first
    use_session(client, first)
    assert not signed_in(client)
    use_session(client, second)
    assert signed_in(client)
    token = csrf(client)
    assert (
        client.post("/admin/logout", data={"csrf_token": token}, follow_redirects=False).status_code
        == 303
    )
    use_session(client, second)  # a copy kept from before
    assert not signed_in(client)
    assert "admin.logout" in actions(client)


def _age_session(client: TestClient, **values: Any) -> None:
    run(client, app_db(client).execute, admin_sessions.update().values(**values))


def test_idle_sessions_expire_after_30_minutes(client: TestClient, world: dict[str, Any]) -> None:
    make_admins(client)
    sign_in(client, "leader")
    _age_session(client, last_seen_at=utcnow() - timedelta(minutes=29))
    assert signed_in(client)  # and this visit counts as activity
    _age_session(client, last_seen_at=utcnow() - timedelta(minutes=31))
    assert not signed_in(client)


def test_sessions_end_12_hours_after_sign_in(client: TestClient, world: dict[str, Any]) -> None:
    ids = make_admins(client)
    run(
        client,
        app_db(client).execute,
        admin_users.update()
        .where(admin_users.c.id == ids["leader"])
        .values(password_changed_at=utcnow() - timedelta(days=1)),
    )
    sign_in(client, "leader")
    _age_session(client, created_at=utcnow() - timedelta(hours=11, minutes=59))
    assert signed_in(client)
    _age_session(client, created_at=utcnow() - timedelta(hours=12, minutes=1))
    assert not signed_in(client)


def test_password_change_ends_every_other_session(
    client: TestClient, world: dict[str, Any]
) -> None:
    make_admins(client)
    sign_in(client, "agency_admin")
    elsewhere = session_cookie(client)
    client.cookies.clear()
    sign_in(client, "agency_admin")
    token = csrf(client)
    wrong = client.post(
        "/admin/account/password",
        data={
            "current": "nope",
            "new": "a new long password",
            "repeat": "a new long password",
            "csrf_token": token,
        },
    )
    assert wrong.status_code == 400
    response = client.post(
        "/admin/account/password",
        data={
            "current": PASSWORD,
            "new": "a new long password",
            "repeat": "a new long password",
            "csrf_token": token,
        },
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert signed_in(client)  # this browser got a fresh session
    mine = session_cookie(client)
    use_session(client, elsewhere)
    assert not signed_in(client)
    use_session(client, mine)
    assert signed_in(client)
    client.cookies.clear()
    assert sign_in(client, "agency_admin").status_code == 401
    assert sign_in(client, "agency_admin", "a new long password").status_code == 303


def test_deactivated_admin_is_signed_out(client: TestClient, world: dict[str, Any]) -> None:
    ids = make_admins(client)
    sign_in(client, "leader")
    run(
        client,
        app_db(client).execute,
        admin_users.update().where(admin_users.c.id == ids["leader"]).values(active=False),
    )
    assert not signed_in(client)
    assert sign_in(client, "leader").status_code == 401


def test_unauthenticated_fetch_gets_json(client: TestClient, world: dict[str, Any]) -> None:
    response = client.get("/admin/displays/status.json")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"


def test_security_headers_on_pages_and_api(client: TestClient) -> None:
    for path in ("/admin/login", "/api/v1/time"):
        headers = client.get(path).headers
        csp = headers["content-security-policy"]
        assert "script-src 'self' 'wasm-unsafe-eval'" in csp
        assert "'unsafe-inline'" not in csp and "unsafe-eval'" not in csp.replace(
            "wasm-unsafe-eval'", ""
        )
        assert "frame-ancestors 'none'" in csp and "connect-src 'self'" in csp
        assert "worker-src 'self'" in csp
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["x-frame-options"] == "DENY"
        assert headers["referrer-policy"] == "same-origin"
        assert headers["strict-transport-security"].startswith("max-age=")


def test_admin_pages_have_no_inline_script(client: TestClient, world: dict[str, Any]) -> None:
    make_admins(client)
    sign_in(client, "super_admin")
    for path in ("/admin/", "/admin/displays", "/admin/employees", "/admin/login"):
        html = client.get(path).text
        assert "<script>" not in html and " style=" not in html and "onclick" not in html
        assert client.get(path).headers["cache-control"] == "no-store"


def test_language_is_per_admin(client: TestClient, world: dict[str, Any]) -> None:
    make_admins(client)
    sign_in(client, "leader")
    assert "Pegawai" in client.get("/admin/").text
    token = csrf(client)
    client.post("/admin/account/language", data={"language": "en", "csrf_token": token})
    client.cookies.delete("lang")  # the admin's own setting wins, not the browser's cookie
    page = client.get("/admin/", headers={"Accept-Language": "id"}).text
    assert "Employees" in page and "Pegawai" not in page
