"""The discipline report in the admin API, the console page and its CSV/XLSX, and the level on
the employee page, over the hand-computed fixture year (tests/fixtures_discipline.py)."""

from __future__ import annotations

import io
from typing import Any

import openpyxl
import pytest
from starlette.testclient import TestClient

from backend import clock, discipline
from tests import fixtures_discipline as fx
from tests.conftest import app_db, run
from tests.support.admin import sign_in
from tests.test_admin_api import API, error, token_for


@pytest.fixture
def counted(client: TestClient, world: dict[str, Any]) -> dict[str, Any]:
    year = run(client, fx.load, app_db(client))
    run(client, discipline.count, app_db(client), year["agency_id"], fx.YEAR, fx.NOW_MAY)
    return year


def test_api_report(client: TestClient, counted: dict[str, Any]) -> None:
    headers = {"Authorization": f"Bearer {token_for(client, 'super_admin')}"}
    url = f"{API}/discipline?year=2026&agency_id={counted['agency_id']}"
    body = client.get(url, headers=headers).json()
    assert body["year"] == 2026 and body["through"] == "2026-05-01" and body["counted_at"]
    assert [lv["min_days"] for lv in body["levels"]] == [3, 4, 7, 11, 14, 17, 21, 25, 28, 10]
    assert body["levels"][-1]["consecutive"] is True
    items = {i["name"]: i for i in body["items"]}
    assert list(items) == ["Joko", "Sari", "Rina"]
    joko = items["Joko"]
    assert (joko["level"], joko["since"], joko["days"], joko["longest_run"]) == (
        "pemberhentian_berturut",
        "2026-04-06",
        10,
        10,
    )
    assert joko["supervisor"]["name"] == "Kepala"
    assert joko["dates"][0] == "2026-03-16" and joko["dates"][-1] == "2026-04-06"
    rina = items["Rina"]
    assert [r["level"] for r in rina["reached"]] == [
        "teguran_lisan",
        "teguran_tertulis",
        "pernyataan_tidak_puas",
    ]
    # A unit's scope: only that unit's staff.
    by_unit = client.get(f"{url}&unit_id={counted['unit_id']}", headers=headers).json()
    assert len(by_unit["items"]) == 3
    assert error(client.get(f"{url}&year=1990", headers=headers)) == "validation_failed"
    assert error(client.get(f"{url}&unit_id=999999", headers=headers)) == "not_found"
    # The demo agency's operator never sees another agency's staff, whatever it asks for.
    operator = {"Authorization": f"Bearer {token_for(client, 'unit_operator')}"}
    theirs = client.get(url, headers=operator).json()
    assert theirs["items"] == [] and theirs["counted_at"] is None


def test_page_csv_xlsx_and_employee_page(client: TestClient, counted: dict[str, Any]) -> None:
    token_for(client, "super_admin")  # creates the admins
    sign_in(client, "super_admin")
    query = f"year=2026&agency={counted['agency_id']}"
    page = client.get(f"/admin/discipline?{query}")
    assert page.status_code == 200
    assert 'data-testid="discipline-report"' in page.text
    assert f'data-nip="{fx.STAFF[3][1]}"' in page.text  # Joko
    assert "Teguran lisan" in page.text and "berturut-turut" in page.text
    csv_text = client.get(f"/admin/discipline.csv?{query}").content.decode("utf-8-sig")
    joko_line = next(line for line in csv_text.splitlines() if fx.STAFF[3][1] in line)
    assert "Pemberhentian" in joko_line and "2026-04-06" in joko_line and '"10"' in joko_line
    xlsx = client.get(f"/admin/discipline.xlsx?{query}")
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx.content)).active
    assert sheet is not None
    values = [row for row in sheet.iter_rows(values_only=True) if row and row[0] == fx.STAFF[3][1]]
    assert values and values[0][4] == 10 and values[0][7] == "2026-04-06"
    # The level on the employee page (this year is 2026 on the injected clock).
    joko = counted["employees"]["Joko"]
    with clock.use(fx.NOW_MAY):
        mine = client.get(f"/admin/employees/{joko}").text
        kepala = client.get(f"/admin/employees/{counted['employees']['Kepala']}").text
    level = mine[mine.index('data-testid="discipline-level"') :][:400]
    assert "berturut-turut" in level and "2026-04-06" in level
    assert "Tidak ada hari" in kepala[kepala.index('data-testid="discipline-level"') :][:300]
