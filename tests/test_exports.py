"""Exports of the fixture month: the XLSX and CSV files read back match the hand-computed tables."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Any

import pytest
from openpyxl import load_workbook
from starlette.testclient import TestClient

from backend import exports, recaps, tpp
from tests import fixtures_month as fm
from tests.conftest import app_db, run

GENERATED = datetime(2027, 1, 2, 12, 0, tzinfo=fm.WIB)


@pytest.fixture
def month(client: TestClient) -> dict[str, Any]:
    return run(client, fm.load, app_db(client))


def sheets(client: TestClient, month: dict[str, Any], lang: str = "id") -> list[exports.Sheet]:
    db = app_db(client)
    recap = run(
        client, recaps.compute, db, agency_id=month["agency_id"], unit_id=month["unit_id"],
        start=fm.START, end=fm.END, now=fm.NOW,
    )  # fmt: skip
    rules = run(client, tpp.rules_for, db, month["agency_id"])
    header = exports.header_rows(
        lang,
        agency=recap.agency_name,
        unit=recap.unit_name,
        start=fm.START,
        end=fm.END,
        generated=GENERATED,
    )
    columns, rows = exports.monthly_table(recap, rules, lang)
    detail_columns, detail_rows = exports.tpp_detail_table(recap, rules, lang)
    return [
        exports.Sheet("Rekap bulanan", header, columns, rows),
        exports.Sheet("Rincian TPP", header, detail_columns, detail_rows),
    ]


def check_month(table: list[list[Any]], number: Any = int) -> None:
    """Header rows, then a blank row, the headings and one row per employee."""
    assert table[0][:2] == ["Instansi", "Pemerintah Kabupaten Contoh"]
    assert table[1][:2] == ["Unit", "Puskesmas Sukamaju"]
    assert table[2][:2] == ["Periode", "2026-12-01 – 2026-12-31"]
    assert table[3][:2] == ["Dibuat", "2027-01-02 12:00:00+07:00"]
    headings = table[5]
    assert headings[:4] == ["No.", "NIP", "Nama", "Unit"]
    assert headings[-2:] == ["Kehadiran %", "Potongan TPP %"]
    where = {key: headings.index(exports._t("id", label)) for key, label in exports.COUNT_COLUMNS}
    body = {row[2]: row for row in table[6:]}
    assert sorted(body) == sorted(fm.EXPECTED_MONTH)
    for name, expected in fm.EXPECTED_MONTH.items():
        row = body[name]
        assert row[1] == fm.NIPS[name]
        got = tuple(number(row[where[c]]) for c in fm.COLUMNS if c != "off")
        assert got == expected[:-1], name
        assert float(row[-2]) == pytest.approx(round(100 * fm.EXPECTED_RATE[name], 2))
        assert float(row[-1]) == fm.EXPECTED_TPP_TOTAL[name] / 100


def test_xlsx_matches_the_hand_computed_recap_and_tpp(
    client: TestClient, month: dict[str, Any]
) -> None:
    out = io.BytesIO()
    run(client, exports.write_xlsx, sheets(client, month), out)
    book = load_workbook(io.BytesIO(out.getvalue()), read_only=True)
    assert book.sheetnames == ["Rekap bulanan", "Rincian TPP"]
    check_month([list(r) for r in book["Rekap bulanan"].iter_rows(values_only=True)])
    detail = [list(r) for r in book["Rincian TPP"].iter_rows(values_only=True)][6:]
    expected = [
        (fm.NIPS[n], day.isoformat(), code, bp / 100)
        for n, lines in fm.EXPECTED_TPP.items()
        for day, code, bp, _ in lines
    ]
    assert sorted((r[0], r[2], r[3], r[5]) for r in detail) == sorted(expected)
    absent = next(r for r in detail if r[3] == "absent")
    assert (absent[4], absent[6]) == ("Tidak hadir tanpa keterangan", "tanpa pindaian")


def test_csv_matches_too_and_streams_in_chunks(client: TestClient, month: dict[str, Any]) -> None:
    sheet = sheets(client, month)[0]

    async def collect() -> list[bytes]:
        return [chunk async for chunk in exports.csv_chunks(sheet)]

    data = b"".join(run(client, collect))
    assert data.startswith("\ufeff".encode())
    check_month(list(csv.reader(io.StringIO(data.decode("utf-8-sig")))), number=int)


def test_english_headings(client: TestClient, month: dict[str, Any]) -> None:
    sheet = sheets(client, month, "en")[0]
    assert [h[0] for h in sheet.header] == ["Agency", "Unit", "Period", "Generated"]
    assert sheet.columns[-1] == "TPP deduction %"


def test_xlsx_response_streams_a_file(client: TestClient, month: dict[str, Any]) -> None:
    tables = sheets(client, month)

    async def body() -> tuple[dict[str, str], bytes]:
        response = await exports.xlsx_response(
            tables, exports.filename("Rekap PKM", fm.START, fm.END, "xlsx")
        )
        chunks = [c async for c in response.body_iterator]
        return dict(response.headers), b"".join(
            c if isinstance(c, bytes) else c.encode() for c in chunks
        )

    headers, data = run(client, body)
    assert (
        headers["content-disposition"]
        == 'attachment; filename="Rekap-PKM_2026-12-01_2026-12-31.xlsx"'
    )
    assert headers["content-type"] == exports.XLSX_TYPE
    assert data[:2] == b"PK"
    check_month(
        [
            list(r)
            for r in load_workbook(io.BytesIO(data), read_only=True)["Rekap bulanan"].iter_rows(
                values_only=True
            )
        ]
    )


def test_daily_table_matches_the_daily_expectations(
    client: TestClient, month: dict[str, Any]
) -> None:
    recap = run(
        client, recaps.compute, app_db(client), agency_id=month["agency_id"],
        start=fm.START, end=fm.END, now=fm.NOW,
    )  # fmt: skip
    _columns, rows = exports.daily_table(recap, "en")
    by_day = {r[0]: r for r in rows}
    keys = [k for k, _ in exports.COUNT_COLUMNS]
    for day, (expected, rate) in fm.EXPECTED_DAILY.items():
        row = by_day[day.isoformat()]
        assert {k: row[2 + i] for i, k in enumerate(keys) if row[2 + i]} == {
            k: v for k, v in expected.items() if k != "off"
        }
        assert row[-1] == round(100 * rate, 2)


def test_formulas_are_neutralised() -> None:
    assert exports._safe("=HYPERLINK(1)") == "'=HYPERLINK(1)"
    assert exports._safe("Ani") == "Ani" and exports._safe(-1) == -1
