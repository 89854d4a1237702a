"""No plain-text 5xx: JSON errors with a request id on the APIs, a friendly page elsewhere, 503 when
the database is unreachable, and hostile inputs (deep JSON, huge ids, far dates) answered 4xx."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import secrets
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from starlette.routing import BaseRoute, Mount, Route
from starlette.testclient import TestClient

from backend import migrate
from backend.admin.fields import MAX_ID, IdConvertor
from backend.app import create_app
from backend.demo import ensure_demo
from backend.errors import database_unavailable
from backend.security_headers import HEADERS
from tests.conftest import PG_ADMIN_URL, app_db, make_settings, require_postgres, run
from tests.support.admin import csrf, make_admins, sign_in
from tests.test_admin_api import token_for
from tests.test_api import current_token, enrolled

HUGE = (2**63, 2**64 + 1, MAX_ID + 1, 10**30)
FAR_DAYS = ("0001-01-01", "9999-12-31", "1899-12-31", "2201-01-01", "10000-01-01", "²⁰²⁶-01-01")
BASE = "https://presensi.test"
QUERY_NAMES = (
    "page per_page q unit unit_id agency agency_id office office_id employee employee_id from to "
    "month day year date status action target actor dry_run"
).split()


def walk(routes: list[BaseRoute], prefix: str = "") -> Iterator[tuple[str, Route]]:
    for route in routes:
        if isinstance(route, Mount):
            yield from walk(list(route.routes), prefix + route.path)
        elif isinstance(route, Route):
            yield prefix + route.path, route


def app_routes(client: TestClient) -> list[tuple[str, Route]]:
    return list(walk(list(client.app.routes)))  # type: ignore[attr-defined]


def assert_json_error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == code and error["message"] and error["message_en"]
    for name, value in HEADERS.items():
        assert response.headers[name] == value, name
    return error


# -- 500 and 503 ----------------------------------------------------------------------------


@pytest.fixture
def broken(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> TestClient:
    """/api/v1/time and /admin/login raise an unexpected error."""
    import backend.admin.auth
    import backend.api

    class Failing:
        @staticmethod
        def of(*args: Any, **kwargs: Any) -> Any:
            logging.getLogger("presensi.test").error("about to fail")
            raise RuntimeError("boom")

    monkeypatch.setattr(backend.api, "AppState", Failing)
    monkeypatch.setattr(backend.admin.auth, "render", Failing.of)
    return client


def test_an_unexpected_error_is_json_on_the_api_with_the_request_id(
    broken: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    response = broken.get("/api/v1/time")
    error = assert_json_error(response, 500, "internal_error")
    assert re.fullmatch(r"[0-9a-f]{16}", error["request_id"])
    assert response.headers["x-request-id"] == error["request_id"]
    # Every line logged while serving it carries the id, the traceback included.
    lines = [r for r in caplog.records if getattr(r, "request_id", "-") == error["request_id"]]
    assert any(r.getMessage() == "about to fail" for r in lines)
    assert any(r.exc_info and "boom" in str(r.exc_info[1]) for r in lines)


def test_an_unexpected_error_on_a_page_is_a_friendly_page(broken: TestClient) -> None:
    response = broken.get("/admin/login")
    assert response.status_code == 500
    assert response.headers["content-type"].startswith("text/html")
    assert "Terjadi kesalahan" in response.text  # Indonesian by default
    rid = response.headers["x-request-id"]
    assert f'data-testid="request-id">{rid}<' in response.text
    assert response.headers["content-security-policy"] == HEADERS["Content-Security-Policy"]
    english = broken.get("/admin/login", headers={"accept-language": "en"})
    assert english.status_code == 500 and "Something went wrong" in english.text
    assert english.headers["x-request-id"] != rid


def test_every_response_has_a_request_id(client: TestClient) -> None:
    ids = set()
    for path in ("/healthz", "/admin/login", "/api/v1/time", "/nowhere"):
        response = client.get(path)
        ids.add(response.headers["x-request-id"])
    fast = client.post("/api/v1/checkins", json={})
    assert fast.status_code == 400 and re.fullmatch(r"[0-9a-f]{16}", fast.headers["x-request-id"])
    ids.add(fast.headers["x-request-id"])
    assert len(ids) == 5


def test_pages_get_an_error_page_not_plain_text(client: TestClient) -> None:
    for path in ("/admin/nowhere", "/display/nowhere", "/nowhere"):
        response = client.get(path)
        assert response.status_code == 404
        assert response.headers["content-type"].startswith("text/html"), path
        assert 'data-testid="error-page"' in response.text and "Tidak ditemukan" in response.text
    wrong_method = client.delete("/admin/login")
    assert wrong_method.status_code == 405 and "text/html" in wrong_method.headers["content-type"]
    assert_json_error(client.get("/api/v1/nowhere"), 404, "not_found")
    assert_json_error(client.delete("/api/v1/time"), 405, "method_not_allowed")


@pytest.mark.postgres
def test_a_database_that_goes_away_answers_503(tmp_path: Path) -> None:
    """The server's PostgreSQL database is dropped under it: its connections are cut and new
    ones are refused. JSON 503 on the APIs, the error page elsewhere, both with Retry-After."""
    require_postgres()
    name = f"presensi_gone_{secrets.token_hex(4)}"
    asyncio.run(pg_admin(f'CREATE DATABASE "{name}"'))
    try:
        url = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
        url = f"{url}/{name}"
        migrate.upgrade(url)
        settings = make_settings(tmp_path, url)
        with TestClient(create_app(settings), base_url=BASE) as client:
            assert client.get("/readyz").status_code == 200
            info = run(client, ensure_demo, app_db(client), settings.secret_key, 2)
            people = [enrolled(client, settings, e["nip"]) for e in info["employees"]]
            token = current_token(settings, info["display"]["id"])
            assert people[0].check_in(token).status_code in (201, 202)
            asyncio.run(pg_admin(f'DROP DATABASE "{name}" WITH (FORCE)'))
            # The check-in path (answered ahead of the middleware) says 503 in JSON too.
            scan = people[1].check_in(token)
            error = assert_json_error(scan, 503, "database_unavailable")
            assert scan.headers["retry-after"].isdigit()
            assert error["request_id"] == scan.headers["x-request-id"]
            for _ in range(2):  # a cut connection, then a refused one
                api = client.get("/api/v1/admin/me", headers={"authorization": "Bearer pst_x"})
                error = assert_json_error(api, 503, "database_unavailable")
                assert api.headers["retry-after"].isdigit()
                assert error["request_id"] == api.headers["x-request-id"]
            client.cookies.set("__Host-presensi_session", "s" * 43, domain="presensi.test")
            page = client.get("/admin/")
            assert page.status_code == 503 and "text/html" in page.headers["content-type"]
            assert page.headers["retry-after"].isdigit()
            assert page.headers["x-request-id"] in page.text
    finally:
        asyncio.run(pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def pg_admin(sql: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN_URL)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def test_which_errors_mean_the_database_is_unavailable() -> None:
    unavailable = [
        ConnectionRefusedError(111, "Connect call failed"),
        OSError("Multiple exceptions: [Errno 111] Connect call failed ('127.0.0.1', 1)"),
        TimeoutError(),
        asyncpg.AdminShutdownError("terminating connection due to administrator command"),
        asyncpg.CannotConnectNowError("the database system is starting up"),
        asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
        asyncpg.InterfaceError("pool is closing"),
        asyncpg.InvalidCatalogNameError('database "x" does not exist'),
        sqlite3.OperationalError("unable to open database file"),
        sqlite3.OperationalError("database is locked"),
    ]
    wrapped = RuntimeError("while saving")
    wrapped.__cause__ = ConnectionResetError()
    for exc in [*unavailable, wrapped]:
        assert database_unavailable(exc), exc
    for exc in [
        RuntimeError("boom"),
        FileNotFoundError("/tmp/x"),
        sqlite3.OperationalError("no such table: x"),
        asyncpg.InterfaceError("cannot perform operation: another operation is in progress"),
        asyncpg.UniqueViolationError("duplicate key"),
    ]:
        assert not database_unavailable(exc), exc


# -- deep JSON and huge numbers -------------------------------------------------------------


JSON_ENDPOINTS = ("/api/v1/devices", "/api/v1/checkins")


def test_deeply_nested_json_is_an_invalid_request(client: TestClient) -> None:
    for depth in (1000, 100_000 // 2, 25):
        for opener, closer in (("[", "]"), ('{"a":', "}")):
            body = opener * depth + "1" + closer * depth
            for path in JSON_ENDPOINTS:
                response = client.post(
                    path, content=body, headers={"content-type": "application/json"}
                )
                if len(body) > 16_384:
                    assert response.status_code == 413
                    continue
                assert_json_error(response, 400, "invalid_request")


def test_deep_json_on_the_admin_api(client: TestClient, world: dict[str, Any]) -> None:
    token = token_for(client, "super_admin")
    body = '{"name": ' + "[" * 1000 + "]" * 1000 + "}"
    for method, path in (("POST", "/api/v1/admin/units"), ("PATCH", "/api/v1/admin/units/1")):
        response = client.request(
            method,
            path,
            content=body,
            headers={"authorization": f"Bearer {token}", "content-type": "application/json"},
        )
        assert_json_error(response, 400, "invalid_request")


json_leaves = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.sampled_from([2**63, -(2**63), 2**31, MAX_ID + 1, 10**300])
    | st.text(max_size=20)
    | st.sampled_from(FAR_DAYS)
)
# A few levels of lists and objects; deep nesting has its own parameter below.
json_values = (
    json_leaves
    | st.lists(json_leaves, max_size=4)
    | st.dictionaries(st.text(max_size=8), json_leaves | st.lists(json_leaves, max_size=3))
)
ADMIN_KEYS = ("unit_id", "office_id", "agency_id", "active", "name", "code", "nip", "kind")


@hsettings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    data=st.dictionaries(st.sampled_from(ADMIN_KEYS), json_values, max_size=6),
    nesting=st.integers(min_value=0, max_value=1200),
)
def test_fuzzed_json_bodies_get_no_5xx(
    fuzz_client: tuple[TestClient, str], data: dict[str, Any], nesting: int
) -> None:
    client, token = fuzz_client
    body = json.dumps(data)
    if nesting:
        body = json.dumps({"name": "x", "unit_id": "[" * nesting + "]" * nesting})[:-1]
        body = body.replace('"[', "[").replace(']"', "]") + "}"
    headers = {"authorization": f"Bearer {token}", "content-type": "application/json"}
    for method, path in (
        ("POST", "/api/v1/admin/employees"),
        ("PATCH", "/api/v1/admin/employees/1"),
        ("POST", "/api/v1/admin/offices"),
        ("POST", "/api/v1/admin/units"),
        ("POST", "/api/v1/admin/displays"),
        ("POST", "/api/v1/devices"),
        ("POST", "/api/v1/checkins"),
    ):
        response = client.request(method, path, content=body, headers=headers)
        assert response.status_code < 500, (method, path, body[:200], response.text)


@pytest.fixture
def fuzz_client(client: TestClient, world: dict[str, Any]) -> tuple[TestClient, str]:
    return client, token_for(client, "super_admin")


def test_no_route_uses_an_unbounded_int_parameter(client: TestClient) -> None:
    for path, route in app_routes(client):
        for name, convertor in route.param_convertors.items():
            assert type(convertor).__name__ != "IntegerConvertor", f"{path}: use {{{name}:id}}"
            if name.endswith("_id") and name != "device_id":
                assert isinstance(convertor, IdConvertor), path


def test_every_id_route_answers_404_for_ids_beyond_the_columns(
    client: TestClient, world: dict[str, Any]
) -> None:
    token = token_for(client, "super_admin")
    sign_in(client, "super_admin")
    form = {"csrf_token": csrf(client)}
    checked = 0
    for path, route in app_routes(client):
        if not route.param_convertors:
            continue
        for huge in HUGE:
            url = re.sub(r"\{(\w+):id\}", str(huge), path)
            url = re.sub(r"\{(\w+)(:str)?\}", "x", url)
            for method in sorted((route.methods or set()) - {"HEAD"}):
                if url.startswith("/api/"):
                    response = client.request(
                        method, url, json={}, headers={"authorization": f"Bearer {token}"}
                    )
                    assert_json_error(response, 404, "not_found")
                else:
                    response = client.request(method, url, data=form if method != "GET" else None)
                    assert response.status_code == 404, (method, url, response.text[:300])
                    assert "text/html" in response.headers["content-type"]
                checked += 1
    assert checked > 30 * len(HUGE)


def test_query_strings_with_huge_numbers_and_far_dates_get_no_5xx(
    client: TestClient, world: dict[str, Any]
) -> None:
    token = token_for(client, "super_admin")
    sign_in(client, "super_admin")
    bad_values = (
        [str(h) for h in HUGE]
        + list(FAR_DAYS)
        + ["-1", "²", "١٢", "0001-01", "9999-12", "99999999999999999999-01"]
    )
    for path, route in app_routes(client):
        if route.param_convertors or "GET" not in (route.methods or ()) or "stream" in path:
            continue
        headers = {"authorization": f"Bearer {token}"} if path.startswith("/api/") else {}
        for value in bad_values:
            query = {name: value for name in QUERY_NAMES}
            response = client.get(path, params=query, headers=headers)
            assert response.status_code < 500, (path, value, response.text[:300])


FORM_NAMES = (
    "unit_id office_id agency_id employee_id shift replaces year day start end valid_from "
    "valid_to time month weekday kind code name nip active action target percent"
).split()


def test_forms_with_huge_numbers_and_far_dates_get_no_5xx(
    client: TestClient, world: dict[str, Any]
) -> None:
    make_admins(client)
    sign_in(client, "super_admin")
    token = csrf(client)
    bad_values = [str(h) for h in HUGE] + list(FAR_DAYS) + ["²", "-1", "maybe"]
    for path, route in app_routes(client):
        if "POST" not in (route.methods or ()) or path.startswith(("/api/", "/admin/login")):
            continue
        url = re.sub(r"\{(\w+):id\}", "1", path)
        url = re.sub(r"\{(\w+)(:str)?\}", "x", url)
        for value in bad_values:
            form = {name: value for name in FORM_NAMES} | {"csrf_token": token}
            response = client.post(url, data=form, follow_redirects=False)
            assert response.status_code < 500, (url, value, response.text[:300])


def test_check_ins_and_enrolments_with_huge_numbers_are_invalid_requests(
    client: TestClient, world: dict[str, Any]
) -> None:
    mac = "A" * 43
    for token in (f"v1.k1.{2**63}.{10**30}.{mac}", f"v1.k1.1.{2**64}.{mac}", "v1.k1.-1.-1." + mac):
        for client_ts in (2**63, 10**30, -1, 1_700_000_000_000):
            body = {
                "token": token,
                "device_id": "d" * 22,
                "client_ts": client_ts,
                "nonce": "A" * 22,
                "signature": "A" * 86,
            }
            response = client.post("/api/v1/checkins", json=body)
            assert 400 <= response.status_code < 500, response.text
    digits = "9" * 5000  # beyond Python's int parsing limit
    for path in JSON_ENDPOINTS:
        response = client.post(
            path,
            content='{"client_ts": ' + digits + "}",
            headers={"content-type": "application/json"},
        )
        assert_json_error(response, 400, "invalid_request")


def test_a_refused_page_request_is_a_page_for_browsers(
    client: TestClient, world: dict[str, Any]
) -> None:
    make_admins(client)
    sign_in(client, "agency_admin")
    url = "/admin/recaps/monthly?month=0001-01"
    page = client.get(url, headers={"accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
    assert page.status_code == 422 and "text/html" in page.headers["content-type"]
    assert "Sebagian data tidak valid" in page.text
    assert_json_error(client.get(url), 422, "validation_failed")  # fetch() and scripts: JSON
