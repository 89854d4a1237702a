"""What the admin pages do: employees edited and deactivated, a phone revoked, displays renamed
and revoked, everything in the audit log with who and from where, times in the office's zone."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from starlette.testclient import TestClient

from backend.db import audit_log, devices, displays, employees, offices
from backend.settings import Settings
from tests.conftest import app_db, run
from tests.support.admin import csrf, make_admins, sign_in
from tests.test_api import current_token, enrolled


def audit_rows(client: TestClient, action: str) -> list[Any]:
    return list(
        run(
            client, app_db(client).fetch_all, audit_log.select().where(audit_log.c.action == action)
        )
    )


def test_edit_and_deactivate_an_employee(client: TestClient, world: dict[str, Any]) -> None:
    ids = make_admins(client)
    sign_in(client, "unit_operator")
    person = run(client, app_db(client).fetch_one, employees.select().order_by(employees.c.id))
    token = csrf(client)
    response = client.post(
        f"/admin/employees/{person['id']}",
        data={
            "csrf_token": token,
            "name": "  Budi   Santoso, S.Kom ",
            "kind": "asn",
            "unit_id": str(person["unit_id"]),
            "office_id": "",
        },
        follow_redirects=False,
    )
    assert response.status_code == 303
    row = run(
        client, app_db(client).fetch_one, employees.select().where(employees.c.id == person["id"])
    )
    assert row["name"] == "Budi Santoso, S.Kom" and row["office_id"] is None
    bad = client.post(
        f"/admin/employees/{person['id']}",
        data={"csrf_token": token, "name": "", "kind": "asn", "unit_id": str(person["unit_id"])},
    )
    assert bad.status_code == 400 and "nama harus 1–200 karakter" in bad.text
    client.post(f"/admin/employees/{person['id']}/active", data={"csrf_token": token})
    assert not run(
        client,
        app_db(client).fetch_val,
        sa.select(employees.c.active).where(employees.c.id == person["id"]),
    )
    entry = audit_rows(client, "employee.deactivate")[0]
    assert entry["actor"] == f"admin:{ids['unit_operator']}" and entry["ip"] == "testclient"
    # An inactive employee gets no enrolment code.
    assert (
        client.post(
            f"/admin/employees/{person['id']}/enrolment-code", data={"csrf_token": token}
        ).status_code
        == 409
    )


def test_a_wrong_nip_is_explained(client: TestClient, world: dict[str, Any]) -> None:
    make_admins(client)
    sign_in(client, "unit_operator")
    response = client.post(
        "/admin/employees",
        data={
            "csrf_token": csrf(client),
            "nip": "1990 0101 2015",
            "name": "X",
            "kind": "asn",
            "unit_id": "1",
        },
    )
    assert response.status_code == 400
    assert "NIP ASN harus 18 digit" in response.text


def test_revoking_a_phone_stops_its_check_ins(
    client: TestClient, settings: Settings, world: dict[str, Any]
) -> None:
    make_admins(client)
    nip = world["employees"][0]["nip"]
    phone = enrolled(client, settings, nip)
    sign_in(client, "unit_operator")
    person = run(client, app_db(client).fetch_one, employees.select().where(employees.c.nip == nip))
    page = client.get(f"/admin/employees/{person['id']}").text
    assert "terdaftar" in page and "WIB" in page  # enrolled when, in the office's time zone
    response = client.post(
        f"/admin/employees/{person['id']}/devices/{phone.device_id}/revoke",
        data={"csrf_token": csrf(client)},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert run(
        client,
        app_db(client).fetch_val,
        sa.select(devices.c.revoked_at).where(devices.c.id == phone.device_id),
    )
    assert audit_rows(client, "device.revoke")[0]["target"] == f"device:{phone.device_id}"
    refused = phone.check_in(current_token(settings, world["display"]["id"]))
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "device_revoked"


def test_enrolment_code_page_shows_code_once_with_nip_only_qr(
    client: TestClient, settings: Settings, world: dict[str, Any]
) -> None:
    make_admins(client)
    sign_in(client, "agency_admin")
    nip = world["employees"][1]["nip"]
    person = run(client, app_db(client).fetch_one, employees.select().where(employees.c.nip == nip))
    page = client.post(
        f"/admin/employees/{person['id']}/enrolment-code", data={"csrf_token": csrf(client)}
    )
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    import re

    code = re.search(r'data-testid="enrolment-code">([A-Z0-9]{8})<', page.text).group(1)  # type: ignore[union-attr]
    assert f"{settings.public_url}/s#enrol={nip}" in page.text
    assert "<svg" in page.text and page.text.count(code) == 1
    from tests.client import Phone

    assert Phone(client).enrol(nip, code).status_code == 201
    assert code not in client.get(f"/admin/employees/{person['id']}").text


def test_display_rename_new_code_and_revoke(client: TestClient, world: dict[str, Any]) -> None:
    make_admins(client)
    sign_in(client, "unit_operator")
    token = csrf(client)
    display_id = world["display"]["id"]
    client.post(
        f"/admin/displays/{display_id}", data={"csrf_token": token, "name": "Layar Pintu Masuk"}
    )
    assert (
        run(
            client,
            app_db(client).fetch_val,
            sa.select(displays.c.name).where(displays.c.id == display_id),
        )
        == "Layar Pintu Masuk"
    )
    new_code = client.post(f"/admin/displays/{display_id}/pairing-code", data={"csrf_token": token})
    assert new_code.status_code == 200 and 'data-testid="pairing-code"' in new_code.text
    client.post(f"/admin/displays/{display_id}/revoke", data={"csrf_token": token})
    status = client.get("/admin/displays/status.json").json()["displays"]
    assert [(d["id"], d["state"]) for d in status] == [(display_id, "revoked")]
    assert [
        r["action"]
        for r in run(
            client,
            app_db(client).fetch_all,
            sa.select(audit_log.c.action).where(audit_log.c.target == f"display:{display_id}"),
        )
    ][-3:] == ["display.rename", "display.pairing_code", "display.revoke"]
    assert (
        client.post(
            f"/admin/displays/{display_id}/pairing-code", data={"csrf_token": token}
        ).status_code
        == 409
    )


def test_times_follow_the_office_zone(client: TestClient, world: dict[str, Any]) -> None:
    make_admins(client)
    run(client, app_db(client).execute, offices.update().values(timezone="Asia/Jayapura"))
    sign_in(client, "leader")
    status = client.get("/admin/displays/status.json").json()["displays"][0]
    assert status["last_seen"].endswith(" WIT")


def test_audit_log_filters_exports_and_is_scoped(client: TestClient, world: dict[str, Any]) -> None:
    make_admins(client)
    from backend import audit

    run(
        client,
        audit.record,
        app_db(client),
        actor="admin:999",
        action="agency.update",
        target="agency:77",
    )
    sign_in(client, "unit_operator")
    client.post("/admin/displays/1", data={"csrf_token": csrf(client), "name": "Layar Satu"})
    client.cookies.clear()
    sign_in(client, "agency_admin")
    page = client.get("/admin/audit?action=display.").text
    assert '<td class="mono">display.rename</td>' in page
    assert '<td class="mono">admin.login</td>' not in page
    export = client.get("/admin/audit/export.csv").text
    assert "display.rename" in export and "agency:77" not in export  # another agency's entry
    client.cookies.clear()
    sign_in(client, "super_admin")
    assert "agency:77" in client.get("/admin/audit/export.csv").text
