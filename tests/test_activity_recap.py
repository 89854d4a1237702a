"""The diary in the monthly recap and TPP: the hand-computed fixture (tests/fixtures_diary.py)
in the HTML page, the CSV and XLSX exports and the admin API."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from openpyxl import load_workbook
from starlette.testclient import TestClient

from backend.accounts import create_admin
from backend.admin.security import hash_api_token
from backend.db import api_tokens, utcnow
from backend.settings import Settings
from tests import fixtures_diary as fd
from tests import fixtures_month as fm
from tests.conftest import app_db, run
from tests.support.admin import PASSWORD, sign_in
from tests.test_admin_recaps import html_table

HEADINGS = [
    "Hari kegiatan dikirim",
    "Hari kegiatan disetujui",
    "Menit tervalidasi",
    "Menit kerja efektif",
    "Kegiatan %",
]
TOKEN = "pst_diary-fixture-token-0123456789abcdef"


@pytest.fixture
def month(client: TestClient, settings: Settings) -> dict[str, Any]:
    db = app_db(client)
    info = run(client, fd.load, db)
    admin_id = run(
        client, create_admin, db, username="hr.fix", password=PASSWORD, role="agency_admin",
        agency_id=info["agency_id"], actor="test",
    )  # fmt: skip
    run(
        client,
        db.execute,
        api_tokens.insert().values(
            name="bkd", token_hash=hash_api_token(settings.secret_key, TOKEN), prefix=TOKEN[:8],
            role="agency_admin", agency_id=info["agency_id"], created_by=admin_id,
            created_at=utcnow(),
        ),
    )  # fmt: skip
    client.app.state.presensi.extras["clock"] = lambda: fm.NOW  # type: ignore[attr-defined]
    assert sign_in(client, "hr.fix").status_code == 303
    return info


def check(table: list[list[Any]]) -> None:
    """The headings row and one row per employee, as the hand computation says."""
    headings = [str(h) for h in table[5]]
    where = [headings.index(h) for h in HEADINGS]
    assert headings[-2:] == ["Kehadiran %", "Potongan TPP %"]
    body = {row[2]: row for row in table[6:]}
    assert sorted(body) == sorted(fd.EXPECTED)
    for name, expected in fd.EXPECTED.items():
        row = body[name]
        got = tuple(float(row[i]) for i in where)
        assert got == pytest.approx(expected), name
        assert float(row[-1]) == fd.EXPECTED_TPP_TOTAL[name] / 100, name


def test_html(client: TestClient, month: dict[str, Any]) -> None:
    page = client.get(f"/admin/recaps/monthly?month=2026-12&unit={month['unit_id']}")
    assert page.status_code == 200, page.text
    table = html_table(page.text)
    check([[], [], [], [], [], *table])


def test_csv_and_xlsx(client: TestClient, month: dict[str, Any]) -> None:
    query = f"month=2026-12&unit={month['unit_id']}"
    text = client.get(f"/admin/recaps/monthly.csv?{query}").content.decode("utf-8-sig")
    check(list(csv.reader(io.StringIO(text))))
    response = client.get(f"/admin/recaps/monthly.xlsx?{query}")
    book = load_workbook(io.BytesIO(response.content), read_only=True)
    check([list(r) for r in book[book.sheetnames[0]].iter_rows(values_only=True)])
    detail = [list(r) for r in book[book.sheetnames[1]].iter_rows(values_only=True)][6:]
    shortfalls = {r[1]: r for r in detail if r[3] == "activity_shortfall"}
    assert {n: round(r[5] * 100) for n, r in shortfalls.items()} == fd.EXPECTED_SHORTFALL
    ani = shortfalls["Ani Lestari"]
    assert ani[2] == "2026-12-31" and ani[6] == "activity:1320/9450min"
    assert "ambang" in ani[4]  # the reason, in Indonesian


def test_api(client: TestClient, month: dict[str, Any]) -> None:
    client.cookies.clear()
    response = client.get(
        f"/api/v1/admin/recaps/monthly?month=2026-12&unit_id={month['unit_id']}",
        headers={"authorization": f"Bearer {TOKEN}"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["month"] == "2026-12" and body["unit"] == "Puskesmas Sukamaju"
    people = {e["name"]: e for e in body["employees"]}
    for name, (submitted, approved, minutes, effective, percent) in fd.EXPECTED.items():
        activity = people[name]["activity"]
        assert activity == {
            "submitted_days": submitted,
            "approved_days": approved,
            "validated_minutes": minutes,
            "effective_minutes": effective,
            "percent": percent,
        }, name
        assert people[name]["tpp"]["deduction_bp"] == fd.EXPECTED_TPP_TOTAL[name]
        items = people[name]["tpp"]["items"]
        shortfall = [d for d in items if d["code"] == "activity_shortfall"]
        expected = fd.EXPECTED_SHORTFALL.get(name)
        assert [d["basis_points"] for d in shortfall] == ([expected] if expected else [])
    ani = people["Ani Lestari"]
    assert ani["present_days"] == 21 and ani["attendance_rate"] == 100.0
    assert [d["code"] for d in ani["tpp"]["items"]][-1] == "activity_shortfall"
    assert ani["tpp"]["items"][-1]["refs"] == ["activity:1320/9450min"]
