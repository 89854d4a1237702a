"""The admin JSON API: API tokens (created once, stored hashed, revocable), the error format,
the operations, and the OpenAPI document."""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa
from starlette.testclient import TestClient

from backend.admin.security import hash_api_token
from backend.db import api_tokens, audit_log, displays, employees, units
from tests.conftest import app_db, count, run
from tests.support.admin import csrf, make_admins, sign_in

API = "/api/v1/admin"


def token_for(client: TestClient, role: str) -> str:
    """Create an API token through the admin page, signed in as a super admin."""
    if "super_admin" not in {
        r["username"]
        for r in run(client, app_db(client).fetch_all, sa.text("SELECT username FROM admin_users"))
    }:
        make_admins(client)
    client.cookies.clear()
    sign_in(client, "super_admin")
    unit = run(client, app_db(client).fetch_one, units.select().order_by(units.c.id))
    form = {"csrf_token": csrf(client), "name": f"sistem {role}", "role": role}
    if role in ("agency_admin", "leader"):
        form["agency_id"] = str(unit["agency_id"])
    if role == "unit_operator":
        form["unit_id"] = str(unit["id"])
    page = client.post("/admin/tokens", data=form)
    assert page.status_code == 200, page.text
    match = re.search(r'data-testid="api-token">(pst_[A-Za-z0-9_-]+)<', page.text)
    assert match, page.text
    client.cookies.clear()
    return match.group(1)


def error(response: Any) -> str:
    body = response.json()["error"]
    assert body["message"] and body["message_en"]
    return str(body["code"])


def test_tokens_are_shown_once_and_stored_hashed(
    client: TestClient, world: dict[str, Any], settings: Any
) -> None:
    raw = token_for(client, "agency_admin")
    row = run(client, app_db(client).fetch_one, api_tokens.select())
    assert row["token_hash"] == hash_api_token(settings.secret_key, raw) and raw not in str(
        dict(row._mapping)
    )
    sign_in(client, "super_admin")
    assert raw not in client.get("/admin/tokens").text
    me = client.get(f"{API}/me", headers={"Authorization": f"Bearer {raw}"})
    assert me.status_code == 200 and me.json()["role"] == "agency_admin"
    # Revoked: refused from then on.
    client.post(f"/admin/tokens/{row['id']}/revoke", data={"csrf_token": csrf(client)})
    assert (
        error(client.get(f"{API}/me", headers={"Authorization": f"Bearer {raw}"})) == "unauthorized"
    )
    assert "api_token.revoke" in [
        r["action"] for r in run(client, app_db(client).fetch_all, sa.select(audit_log.c.action))
    ]


def test_missing_or_wrong_tokens_are_unauthorized(
    client: TestClient, world: dict[str, Any]
) -> None:
    for headers in ({}, {"Authorization": "Bearer pst_nope"}, {"Authorization": "Basic abc"}):
        response = client.get(f"{API}/employees", headers=headers)
        assert response.status_code == 401 and error(response) == "unauthorized"
    # A console session is a credential too (issue 14), with its CSRF token on writes.
    make_admins(client)
    sign_in(client, "leader")
    assert client.get(f"{API}/employees").status_code == 200
    refused = client.post(f"{API}/holidays", json={})
    assert refused.status_code == 403 and error(refused) == "csrf_failed"
    wrong_role = client.post(f"{API}/holidays", json={}, headers={"X-CSRF-Token": csrf(client)})
    assert wrong_role.status_code == 403 and error(wrong_role) == "forbidden"


def test_agency_admin_cannot_grant_outside_their_agency(
    client: TestClient, world: dict[str, Any]
) -> None:
    make_admins(client)
    sign_in(client, "agency_admin")
    response = client.post(
        "/admin/tokens", data={"csrf_token": csrf(client), "name": "x", "role": "super_admin"}
    )
    assert response.status_code == 403
    assert count(client, api_tokens) == 0


def test_employee_operations(client: TestClient, world: dict[str, Any], settings: Any) -> None:
    headers = {"Authorization": f"Bearer {token_for(client, 'unit_operator')}"}
    unit_id = run(client, app_db(client).fetch_val, sa.select(units.c.id))
    bad = client.post(
        f"{API}/employees", json={"nip": "123", "name": "X", "unit_id": unit_id}, headers=headers
    )
    assert bad.status_code == 422 and error(bad) == "validation_failed"
    assert "18 digits" in bad.json()["error"]["detail"]
    created = client.post(
        f"{API}/employees",
        json={
            "nip": "199203042019031005",
            "name": "Lina Marlina",
            "unit_id": unit_id,
            "kind": "pppk",
        },
        headers=headers,
    )
    assert created.status_code == 201, created.text
    person = created.json()
    assert (
        person["nip"] == "199203042019031005"
        and person["enrolled"] is False
        and person["active"] is True
    )
    patched = client.patch(
        f"{API}/employees/{person['id']}",
        json={"name": "Lina M.", "active": False},
        headers=headers,
    )
    assert (
        patched.status_code == 200
        and patched.json()["name"] == "Lina M."
        and patched.json()["active"] is False
    )
    listing = client.get(f"{API}/employees?q=lina", headers=headers).json()
    assert listing["total"] == 1 and listing["items"][0]["id"] == person["id"]
    assert error(client.get(f"{API}/employees/999999", headers=headers)) == "not_found"
    # Enrolment code for an active employee; the code is returned once, the QR URL has only the NIP.
    first = run(client, app_db(client).fetch_one, employees.select().order_by(employees.c.id))
    code = client.post(f"{API}/employees/{first['id']}/enrolment-code", headers=headers)
    assert code.status_code == 201
    assert code.json()["enrol_url"] == f"{settings.public_url}/s#enrol={first['nip']}"
    from tests.client import Phone

    phone = Phone(client)
    assert phone.enrol(first["nip"], code.json()["code"]).status_code == 201
    device = client.get(f"{API}/employees/{first['id']}/device", headers=headers).json()["device"]
    assert device["id"] == phone.device_id and "public_key" not in device
    revoked = client.post(f"{API}/employees/{first['id']}/device/revoke", headers=headers)
    assert revoked.status_code == 200
    assert (
        client.get(f"{API}/employees/{first['id']}/device", headers=headers).json()["device"]
        is None
    )


def test_display_operations(client: TestClient, world: dict[str, Any], settings: Any) -> None:
    from display_server.pairing import pair

    run(
        client,
        pair,
        app_db(client),
        settings.secret_key,
        world["display"]["pairing_code"],
        ip="10.0.0.7",
    )
    headers = {"Authorization": f"Bearer {token_for(client, 'agency_admin')}"}
    office_id = world["office"]["id"]
    created = client.post(
        f"{API}/displays", json={"name": "Layar Aula", "office_id": office_id}, headers=headers
    )
    assert created.status_code == 201
    display_id = created.json()["id"]
    assert len(created.json()["pairing_code"]) == 8
    shown = client.get(f"{API}/displays/{display_id}", headers=headers).json()
    assert shown["state"] == "unpaired" and shown["office_id"] == office_id
    renamed = client.patch(
        f"{API}/displays/{display_id}", json={"name": "Layar Aula Utama"}, headers=headers
    )
    assert renamed.json()["name"] == "Layar Aula Utama"
    listing = client.get(f"{API}/displays", headers=headers).json()
    states = {d["id"]: d["state"] for d in listing["items"]}
    assert states == {world["display"]["id"]: "online", display_id: "unpaired"}
    gone = client.post(f"{API}/displays/{display_id}/revoke", headers=headers)
    assert gone.json()["state"] == "revoked"
    assert run(
        client,
        app_db(client).fetch_val,
        sa.select(displays.c.revoked_at).where(displays.c.id == display_id),
    )
    wrong_office = client.post(
        f"{API}/displays", json={"name": "X", "office_id": 999}, headers=headers
    )
    assert wrong_office.status_code == 422


def test_org_operations_and_audit(client: TestClient, world: dict[str, Any]) -> None:
    headers = {"Authorization": f"Bearer {token_for(client, 'super_admin')}"}
    agency = client.post(
        f"{API}/agencies", json={"code": "kepri", "name": "Provinsi Kepri"}, headers=headers
    )
    assert agency.status_code == 201 and agency.json()["code"] == "KEPRI"
    dup = client.post(f"{API}/agencies", json={"code": "KEPRI", "name": "Lagi"}, headers=headers)
    assert dup.status_code == 422
    unit = client.post(
        f"{API}/units",
        json={"agency_id": agency.json()["id"], "code": "BKD", "name": "BKD"},
        headers=headers,
    )
    assert unit.status_code == 201
    office = client.post(
        f"{API}/offices",
        json={
            "agency_id": agency.json()["id"],
            "name": "Kantor Gubernur",
            "timezone": "Asia/Jakarta",
            "allowed_networks": "10.1.0.0/16 10.2.0.1",
        },
        headers=headers,
    )
    assert (
        office.status_code == 201 and office.json()["allowed_networks"] == "10.1.0.0/16,10.2.0.1/32"
    )
    patched = client.patch(
        f"{API}/offices/{office.json()['id']}", json={"timezone": "Asia/Makassar"}, headers=headers
    )
    assert (
        patched.json()["timezone"] == "Asia/Makassar"
        and patched.json()["name"] == "Kantor Gubernur"
    )
    bad_zone = client.patch(
        f"{API}/offices/{office.json()['id']}", json={"timezone": "Europe/Paris"}, headers=headers
    )
    assert bad_zone.status_code == 422
    log = client.get(f"{API}/audit?action=office.", headers=headers).json()
    assert [e["action"] for e in log["items"]] == ["office.update", "office.create"]
    assert all(e["actor"].startswith("token:") for e in log["items"])


def test_admin_paths_are_in_the_openapi_document(client: TestClient) -> None:
    doc = client.get("/api/v1/openapi.json").json()
    for path in (
        "/api/v1/admin/employees",
        "/api/v1/admin/employees/{employee_id}",
        "/api/v1/admin/displays/{display_id}/revoke",
        "/api/v1/admin/employees/import",
    ):
        assert path in doc["paths"], path
    op = doc["paths"]["/api/v1/admin/employees"]["post"]
    assert op["security"] == [{"apiToken": []}] and "422" in op["responses"]
    assert doc["components"]["securitySchemes"]["apiToken"]["scheme"] == "bearer"
    for code in ("unauthorized", "forbidden", "validation_failed", "csrf_failed"):
        assert (
            code
            in doc["components"]["schemas"]["Error"]["properties"]["error"]["properties"]["code"][
                "enum"
            ]
        )
