"""The console's diary pages: validation overview with bulk approval, an employee's month, the
CSV/XLSX export and the SKP targets import."""

from __future__ import annotations

import csv
import io
from typing import Any

import sqlalchemy as sa
from openpyxl import load_workbook
from starlette.testclient import TestClient

from backend.db import activity_days, skp_targets
from tests import test_activities as diary
from tests.conftest import app_db, count, run
from tests.support.admin import csrf, make_admins, sign_in
from tests.test_activities import FRIDAY, entry, put

fixed_clock, org = diary.fixed_clock, diary.org  # the fixtures, shared

PAGE = "/admin/activities?month=2026-11"


def operator(client: TestClient) -> None:
    make_admins(client)
    assert sign_in(client, "unit_operator").status_code == 303


def test_overview_bulk_approve_and_the_employee_s_month(
    client: TestClient, org: dict[str, Any]
) -> None:
    p = org["phones"]
    assert put(p["staff"], FRIDAY, [entry("08:00", "10:00")]).status_code == 200
    assert put(p["peer"], FRIDAY, [entry("08:00", "09:00")]).status_code == 200
    operator(client)
    page = client.get(PAGE)
    assert page.status_code == 200
    ids = [r["id"] for r in run(client, app_db(client).fetch_all, sa.select(activity_days.c.id))]
    for day_id in ids:
        assert f'data-day="{day_id}"' in page.text
    token = csrf(client, PAGE)
    done = client.post(
        "/admin/activities/approve?month=2026-11",
        data={"csrf_token": token, "day": [str(i) for i in ids]},
        follow_redirects=False,
    )
    assert done.status_code == 303, done.text
    statuses = run(client, app_db(client).fetch_all, sa.select(activity_days.c.status))
    assert {r["status"] for r in statuses} == {"approved"}
    assert "data-day=" not in client.get(PAGE).text
    again = client.post(
        "/admin/activities/approve?month=2026-11",
        data={"csrf_token": token, "day": [str(ids[0])]},
    )
    assert again.status_code == 400 and "tidak sedang menunggu keputusan" in again.text

    month = client.get(f"/admin/activities/employees/{org['ids'][0]}?month=2026-11")
    assert month.status_code == 200 and "Menyusun laporan bulanan" in month.text
    assert 'data-date="2026-11-13"' in month.text


def test_exports(client: TestClient, org: dict[str, Any]) -> None:
    put(org["phones"]["staff"], FRIDAY, [entry("08:00", "10:00"), entry("10:00", "11:00")])
    operator(client)
    text = client.get("/admin/activities.csv?month=2026-11").content.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    body = rows[6:]
    assert [r[5] for r in body] == ["08:00", "10:00"]
    assert body[0][0] == org["nips"][0] and body[0][4] == "submitted" and body[0][11] == "180"
    response = client.get("/admin/activities.xlsx?month=2026-11")
    sheet = load_workbook(io.BytesIO(response.content), read_only=True).active
    assert sheet is not None
    assert len([r for r in sheet.iter_rows(values_only=True)][6:]) == 2


def test_skp_import(client: TestClient, org: dict[str, Any]) -> None:
    operator(client)
    token = csrf(client, "/admin/activities/targets")
    nip = org["nips"][0]

    def upload(text: str) -> Any:
        return client.post(
            "/admin/activities/targets",
            data={"csrf_token": token, "year": "2026"},
            files={"file": ("skp.csv", text.encode(), "text/csv")},
        )

    bad = upload(f"nip,target_id,description\n{nip},SKP-1,Laporan\n999,SKP-2,Surat\n")
    assert bad.status_code == 400 and "999" in bad.text
    assert count(client, skp_targets) == 0
    good = upload(f"nip,target_id,description\n{nip},SKP-1,Laporan\n{nip},SKP-2,Surat\n")
    assert good.status_code == 200, good.text
    assert count(client, skp_targets) == 2
    assert put(org["phones"]["staff"], FRIDAY, [entry(target_id="SKP-2")]).status_code == 200
    assert upload(f"nip,target_id,description\n{nip},SKP-3,Rapat\n").status_code == 200
    rows = run(client, app_db(client).fetch_all, sa.select(skp_targets.c.target_id))
    assert [r["target_id"] for r in rows] == ["SKP-3"]  # the year's targets are replaced


def test_the_agency_sets_its_unvalidated_echelons(client: TestClient, org: dict[str, Any]) -> None:
    import re

    from backend.admin.agencies import unvalidated_echelons
    from backend.db import agencies

    assert unvalidated_echelons(" II.a, IIb ,ii.a") == "II.a,II.b"
    assert unvalidated_echelons("") == ""
    make_admins(client)
    assert sign_in(client, "super_admin").status_code == 303
    agency = run(client, app_db(client).fetch_val, sa.select(agencies.c.id))
    page = client.get(f"/admin/agencies/{agency}").text
    form = dict(re.findall(r'name="(csrf_token|version|code|name)" [^>]*value="([^"]*)"', page))
    bad = client.post(
        f"/admin/agencies/{agency}", data={**form, "activity_unvalidated_echelons": "V.z"}
    )
    assert bad.status_code == 400
    done = client.post(
        f"/admin/agencies/{agency}",
        data={**form, "activity_unvalidated_echelons": "I.a, I.b"},
        follow_redirects=False,
    )
    assert done.status_code == 303, done.text
    stored = run(
        client, app_db(client).fetch_val, sa.select(agencies.c.activity_unvalidated_echelons)
    )
    assert stored == "I.a,I.b"
