"""Organisation in the admin API and the console: position, echelon and supervisor on PATCH
and on the employee page, delegations (Plt/Plh), and the org chart with its vacancies."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from starlette.testclient import TestClient

from backend.db import audit_log, delegations, employees, units, utcnow
from tests.conftest import app_db, count, run
from tests.support.admin import csrf, make_admins, sign_in
from tests.test_admin_api import API, error, token_for


def staff(client: TestClient) -> list[dict[str, Any]]:
    rows = run(client, app_db(client).fetch_all, employees.select().order_by(employees.c.id))
    return [dict(r._mapping) for r in rows]


def test_patch_sets_and_clears_the_organisation(client: TestClient, world: dict[str, Any]) -> None:
    headers = {"Authorization": f"Bearer {token_for(client, 'agency_admin')}"}
    head, a, b = staff(client)[:3]
    first = client.get(f"{API}/employees/{a['id']}", headers=headers)
    assert first.json()["supervisor_nip"] is None and first.json()["position"] is None
    etag = first.headers["etag"]
    patched = client.patch(
        f"{API}/employees/{a['id']}",
        json={
            "position": "Analis Kepegawaian",
            "position_kind": "Fungsional",
            "echelon": "iv/a",
            "supervisor_nip": f" {head['nip']} ",
        },
        headers={**headers, "If-Match": etag},
    )
    assert patched.status_code == 200, patched.text
    body = patched.json()
    assert (body["position"], body["position_kind"], body["echelon"]) == (
        "Analis Kepegawaian",
        "fungsional",
        "IV.a",
    )
    assert body["supervisor_nip"] == head["nip"] and body["supervisor_name"] == head["name"]
    assert body["supervisor_id"] == head["id"]
    # The version covers the organisation: the old ETag is stale now.
    assert patched.headers["etag"] != etag
    stale = client.patch(
        f"{API}/employees/{a['id']}", json={"position": "X"}, headers={**headers, "If-Match": etag}
    )
    assert stale.status_code == 412 and error(stale) == "precondition_failed"
    # Other fields stay when only one is sent; null clears the supervisor.
    cleared = client.patch(
        f"{API}/employees/{a['id']}", json={"supervisor_nip": None}, headers=headers
    ).json()
    assert cleared["supervisor_nip"] is None and cleared["position"] == "Analis Kepegawaian"
    actions = run(client, app_db(client).fetch_all, sa.select(audit_log.c.action))
    assert [r["action"] for r in actions].count("employee.organisation") == 2
    # b reports to a, a to head: making head report to b closes a loop.
    for who, boss in ((a, head), (b, a)):
        ok = client.patch(
            f"{API}/employees/{who['id']}", json={"supervisor_nip": boss["nip"]}, headers=headers
        )
        assert ok.status_code == 200
    loop = client.patch(
        f"{API}/employees/{head['id']}", json={"supervisor_nip": b["nip"]}, headers=headers
    )
    assert loop.status_code == 422 and error(loop) == "supervisor_cycle"
    assert staff(client)[0]["supervisor_id"] is None


def test_patch_refuses_bad_organisation_values(client: TestClient, world: dict[str, Any]) -> None:
    headers = {"Authorization": f"Bearer {token_for(client, 'unit_operator')}"}
    a = staff(client)[1]
    before = staff(client)
    cases = [
        ({"supervisor_nip": a["nip"]}, "supervisor_is_self"),
        ({"supervisor_nip": "199999999999999999"}, "unknown_supervisor"),
        ({"echelon": "V.a"}, "validation_failed"),
        ({"position_kind": "kepala"}, "validation_failed"),
        ({"position": 12}, "validation_failed"),
        ({"position": "x" * 201}, "validation_failed"),
        # One bad field refuses the whole PATCH: the name is not changed either.
        ({"name": "Baru", "echelon": "nope"}, "validation_failed"),
    ]
    for body, code in cases:
        response = client.patch(f"{API}/employees/{a['id']}", json=body, headers=headers)
        assert response.status_code == 422 and error(response) == code, (body, response.text)
    assert staff(client) == before


def test_employee_page_edits_the_organisation(client: TestClient, world: dict[str, Any]) -> None:
    make_admins(client)
    sign_in(client, "unit_operator")
    head, a = staff(client)[:2]
    page = client.get(f"/admin/employees/{a['id']}")
    assert 'name="supervisor_nip"' in page.text and 'name="echelon"' in page.text
    form = {
        "csrf_token": csrf(client),
        "name": a["name"],
        "kind": a["kind"],
        "unit_id": str(a["unit_id"]),
        "office_id": str(a["office_id"] or ""),
        "position": "Kepala Subbagian Umum",
        "position_kind": "struktural",
        "echelon": "IV.a",
        "supervisor_nip": head["nip"],
    }
    saved = client.post(f"/admin/employees/{a['id']}", data=form, follow_redirects=False)
    assert saved.status_code == 303, saved.text
    row = staff(client)[1]
    assert (row["position"], row["echelon"], row["supervisor_id"]) == (
        "Kepala Subbagian Umum",
        "IV.a",
        head["id"],
    )
    # The supervisor's page lists the direct report; a loop is refused with the message.
    assert a["name"] in client.get(f"/admin/employees/{head['id']}").text
    refused = client.post(
        f"/admin/employees/{head['id']}",
        data={**form, "name": head["name"], "supervisor_nip": a["nip"], "csrf_token": csrf(client)},
    )
    assert refused.status_code == 400 and "melingkar" in refused.text
    assert staff(client)[0]["supervisor_id"] is None


def test_delegations_api(client: TestClient, world: dict[str, Any]) -> None:
    headers = {"Authorization": f"Bearer {token_for(client, 'unit_operator')}"}
    boss, deputy, other = staff(client)[:3]
    body = {
        "supervisor_nip": boss["nip"],
        "delegate_nip": deputy["nip"],
        "start_date": "2026-12-01",
        "end_date": "2026-12-31",
    }
    created = client.post(f"{API}/delegations", json=body, headers=headers)
    assert created.status_code == 201, created.text
    item = created.json()
    assert item["supervisor"] == {"nip": boss["nip"], "name": boss["name"]}
    assert item["delegate"]["nip"] == deputy["nip"] and item["cancelled_at"] is None
    assert (item["start_date"], item["end_date"]) == ("2026-12-01", "2026-12-31")
    for bad, code in (
        ({**body, "delegate_nip": boss["nip"]}, "delegation_to_self"),
        ({**body, "end_date": "2026-11-30"}, "validation_failed"),
        ({**body, "start_date": "1 Desember"}, "validation_failed"),
        ({**body, "delegate_nip": "199999999999999999"}, "not_found"),
        ({k: v for k, v in body.items() if k != "supervisor_nip"}, "validation_failed"),
        ({**body, "end_date": "2028-01-01"}, "validation_failed"),
    ):
        response = client.post(f"{API}/delegations", json=bad, headers=headers)
        assert error(response) == code, (bad, response.text)
    assert count(client, delegations) == 1
    listed = client.get(f"{API}/delegations", headers=headers).json()
    assert [d["id"] for d in listed["items"]] == [item["id"]] and listed["total"] == 1
    cancelled = client.delete(f"{API}/delegations/{item['id']}", headers=headers)
    assert cancelled.status_code == 200 and cancelled.json()["cancelled_at"]
    again = client.delete(f"{API}/delegations/{item['id']}", headers=headers)
    assert again.status_code == 409 and error(again) == "delegation_not_active"
    assert client.get(f"{API}/delegations?active=true", headers=headers).json()["items"] == []
    assert other["id"]  # three staff exist; the third is not involved


def test_delegations_outside_scope_are_hidden(client: TestClient, world: dict[str, Any]) -> None:
    db = app_db(client)
    agency_id = run(client, db.fetch_val, sa.select(units.c.agency_id))
    far = run(
        client,
        db.fetch_val,
        units.insert()
        .values(agency_id=agency_id, code="JAUH", name="Unit Jauh", created_at=utcnow())
        .returning(units.c.id),
    )
    boss, deputy = staff(client)[:2]
    run(
        client,
        db.execute,
        employees.update()
        .where(employees.c.id.in_([boss["id"], deputy["id"]]))
        .values(unit_id=far),
    )
    admin = {"Authorization": f"Bearer {token_for(client, 'agency_admin')}"}
    body = {
        "supervisor_nip": boss["nip"],
        "delegate_nip": deputy["nip"],
        "start_date": "2026-12-01",
        "end_date": "2026-12-05",
    }
    item = client.post(f"{API}/delegations", json=body, headers=admin).json()
    operator = {"Authorization": f"Bearer {token_for(client, 'unit_operator')}"}
    assert client.get(f"{API}/delegations", headers=operator).json()["items"] == []
    # The operator's unit does not hold the supervisor: not found, and not created.
    refused = client.post(f"{API}/delegations", json=body, headers=operator)
    assert error(refused) == "not_found"
    assert error(client.delete(f"{API}/delegations/{item['id']}", headers=operator)) == "not_found"
    assert count(client, delegations) == 1


def test_delegations_page_and_employee_page(client: TestClient, world: dict[str, Any]) -> None:
    make_admins(client)
    sign_in(client, "unit_operator")
    boss, deputy = staff(client)[:2]
    form = {
        "csrf_token": csrf(client),
        "supervisor_nip": boss["nip"],
        "delegate_nip": deputy["nip"],
        "start_date": "2026-12-07",
        "end_date": "2026-12-11",
    }
    done = client.post("/admin/delegations", data=form, follow_redirects=False)
    assert done.status_code == 303
    listing = client.get("/admin/delegations").text
    assert boss["name"] in listing and "2026-12-11" in listing
    # Both see it on their own page.
    for person, other in ((boss, deputy), (deputy, boss)):
        page = client.get(f"/admin/employees/{person['id']}").text
        assert 'data-testid="delegations"' in page and other["name"] in page
    bad = client.post("/admin/delegations", data={**form, "delegate_nip": boss["nip"]})
    assert bad.status_code == 400 and count(client, delegations) == 1
    row_id = run(client, app_db(client).fetch_val, sa.select(delegations.c.id))
    client.post(f"/admin/delegations/{row_id}/cancel", data={"csrf_token": csrf(client)})
    assert run(client, app_db(client).fetch_val, sa.select(delegations.c.cancelled_at))


def test_org_chart_marks_vacancies(client: TestClient, world: dict[str, Any]) -> None:
    db = app_db(client)
    head, a, b, c, d = staff(client)[:5]

    def set_(who: Any, **values: Any) -> None:
        run(
            client,
            db.execute,
            employees.update().where(employees.c.id == who["id"]).values(**values),
        )

    set_(head, position="Kepala Dinas", position_kind="struktural", echelon="II.a")
    set_(
        a,
        position="Sekretaris",
        position_kind="struktural",
        echelon="III.a",
        supervisor_id=head["id"],
    )
    set_(b, supervisor_id=a["id"])
    set_(c, supervisor_id=a["id"])
    set_(a, active=False)  # the post's holder left: b and c have an inactive supervisor
    # d has no supervisor and is not the unit's head
    make_admins(client)
    sign_in(client, "leader")
    page = client.get(f"/admin/units/{head['unit_id']}/org")
    assert page.status_code == 200
    text = page.text
    assert f'data-kind="holder_inactive" data-nip="{a["nip"]}"' in text
    assert f'data-kind="supervisor_inactive" data-nip="{b["nip"]}"' in text
    assert f'data-kind="no_supervisor" data-nip="{d["nip"]}"' in text
    assert f'data-kind="no_supervisor" data-nip="{head["nip"]}"' not in text
    # The tree nests b under a under the head.
    tree = text[text.index('class="org-tree"') :]
    assert tree.index(head["name"]) < tree.index(a["name"]) < tree.index(b["name"])
    assert tree.count("<ul>") >= 2  # b sits in a's list, a in the head's
    assert client.get("/admin/units/999999/org").status_code == 404
