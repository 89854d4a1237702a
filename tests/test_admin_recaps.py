"""Recap pages and exports over HTTP: the fixture month's HTML table and XLSX file match the
hand-computed recap and TPP table."""

from __future__ import annotations

import io
import re
from html import unescape
from typing import Any

import pytest
from openpyxl import load_workbook
from starlette.testclient import TestClient

from backend.accounts import create_admin
from tests import fixtures_month as fm
from tests.conftest import app_db, run
from tests.support.admin import PASSWORD, sign_in
from tests.test_exports import check_month


@pytest.fixture
def month(client: TestClient) -> dict[str, Any]:
    info = run(client, fm.load, app_db(client))
    run(
        client, create_admin, app_db(client), username="hr.fix", password=PASSWORD,
        role="agency_admin", agency_id=info["agency_id"], actor="test",
    )  # fmt: skip
    client.app.state.presensi.extras["clock"] = lambda: fm.NOW  # type: ignore[attr-defined]
    assert sign_in(client, "hr.fix").status_code == 303
    return info


def html_table(page: str) -> list[list[str]]:
    body = page[page.index('<table class="recap">') :]
    body = body[: body.index("</table>")]
    rows = []
    for tr in re.findall(r"<tr>(.*?)</tr>", body, re.S):
        rows.append(
            [
                unescape(re.sub(r"<[^>]+>", "", c)).strip()
                for c in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", tr, re.S)
            ]
        )
    return rows


def test_monthly_html_matches_the_hand_computed_table(
    client: TestClient, month: dict[str, Any]
) -> None:
    page = client.get(f"/admin/recaps/monthly?month=2026-12&unit={month['unit_id']}")
    assert page.status_code == 200, page.text
    assert "<svg" in page.text and "<script>" not in page.text
    table = html_table(page.text)
    header = [["Instansi", "Pemerintah Kabupaten Contoh"], ["Unit", "Puskesmas Sukamaju"],
              ["Periode", "2026-12-01 – 2026-12-31"], ["Dibuat", "2027-01-02 12:00:00+07:00"], []]  # fmt: skip
    check_month(header + table, number=int)


def test_monthly_xlsx_over_http_matches(client: TestClient, month: dict[str, Any]) -> None:
    response = client.get(f"/admin/recaps/monthly.xlsx?month=2026-12&unit={month['unit_id']}")
    assert response.status_code == 200
    assert response.headers["content-disposition"].endswith('_2026-12-01_2026-12-31.xlsx"')
    book = load_workbook(io.BytesIO(response.content), read_only=True)
    table = [list(r) for r in book[book.sheetnames[0]].iter_rows(values_only=True)]
    table[3] = ["Dibuat", "2027-01-02 12:00:00+07:00"]  # generated now, not at the fixture's clock
    check_month(table)
    csv_response = client.get(f"/admin/recaps/monthly.csv?month=2026-12&unit={month['unit_id']}")
    assert csv_response.text.count("\n") == 6 + len(fm.STAFF)
    assert client.get("/admin/recaps/monthly.pdf?month=2026-12").status_code == 404  # no such route


def test_daily_page_and_monitor_summary(client: TestClient, month: dict[str, Any]) -> None:
    page = client.get("/admin/recaps/daily?from=2026-12-09&to=2026-12-09")
    assert page.status_code == 200
    row = html_table(page.text)[1]
    assert row[:4] == ["2026-12-09", "Puskesmas Sukamaju", "5", "3"]
    assert row[-1] == "75.0"
    summary = client.get("/admin/monitor/today.json").json()  # the fixture clock: 2 January
    assert summary["date"] == "2027-01-02" and summary["units"][0]["name"] == "Puskesmas Sukamaju"
    assert client.get("/admin/monitor").status_code == 200


def test_someone_else_s_agency_is_not_shown(
    client: TestClient, month: dict[str, Any], world: dict[str, Any]
) -> None:
    other_unit = run(
        client, app_db(client).fetch_val, "SELECT id FROM units WHERE code = 'DISKOMINFO'"
    )
    response = client.get(f"/admin/recaps/monthly?month=2026-12&unit={other_unit}")
    assert response.status_code == 404


def test_the_event_stream_needs_a_session(client: TestClient, world: dict[str, Any]) -> None:
    response = client.get("/admin/monitor/stream", follow_redirects=False)
    assert response.status_code in (302, 303) and "/admin/login" in response.headers["location"]
    assert client.get(
        "/admin/monitor/today.json", headers={"accept": "application/json"}
    ).status_code in (302, 303, 401)
