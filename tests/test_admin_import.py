"""CSV import of employees from the admin page and the admin API: a 2,000-row file with errors
imports nothing and reports every bad row; the fixed file imports completely."""

from __future__ import annotations

import csv
import io
from typing import Any

import sqlalchemy as sa
from starlette.testclient import TestClient

from backend.db import audit_log, employees
from tests.conftest import app_db, count, run
from tests.support.admin import csrf, make_admins, sign_in

ROWS = 2000


def nip_of(i: int) -> str:
    return f"1985{i:06d}201001{i % 10}1"


def staff_file(bad: bool) -> tuple[str, set[int]]:
    """ROWS employees of the demo unit; with ``bad``, some rows are broken. Returns the text and
    the line numbers (header = line 1) that must be reported."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["nip", "name", "unit", "kind"])
    broken: set[int] = set()
    for i in range(ROWS):
        line = i + 2
        number, name, unit, kind = nip_of(i), f"Pegawai {i}", "DISKOMINFO", "asn"
        assert len(number) == 18
        if bad and i % 97 == 5:
            number = number[:17]  # 17 digits: not an ASN NIP
        elif bad and i % 97 == 17:
            unit = "TIDAK-ADA"
        elif bad and i % 97 == 33:
            name = ""
        elif bad and i % 97 == 51:
            kind = "honorer"
        elif bad and i % 97 == 70 and i > 0:
            number = nip_of(i - 1)  # repeats the line before
        if bad and i % 97 in (5, 17, 33, 51, 70):
            broken.add(line)
        writer.writerow([number, name, unit, kind])
    return out.getvalue(), broken


def upload(client: TestClient, text: str, mode: str) -> Any:
    return client.post(
        "/admin/employees/import",
        data={"csrf_token": csrf(client), "mode": mode},
        files={"file": ("pegawai.csv", text.encode(), "text/csv")},
    )


def reported_lines(html: str) -> set[int]:
    import re

    return {int(n) for n in re.findall(r'<td class="num">(\d+)</td>', html)}


def test_bad_file_imports_nothing_and_reports_every_bad_row(
    client: TestClient, world: dict[str, Any]
) -> None:
    make_admins(client)
    sign_in(client, "unit_operator")
    before = count(client, employees)
    text, broken = staff_file(bad=True)
    assert len(broken) > 100
    response = upload(client, text, "import")
    assert response.status_code == 400
    assert reported_lines(response.text) == broken
    assert f"{len(broken)} dari {ROWS} baris bermasalah" in response.text
    assert count(client, employees) == before

    fixed, none = staff_file(bad=False)
    assert not none
    dry = upload(client, fixed, "check")
    assert dry.status_code == 200 and f"Semua {ROWS} baris valid" in dry.text
    assert count(client, employees) == before
    done = upload(client, fixed, "import")
    assert done.status_code == 200 and f"{ROWS} pegawai diimpor" in done.text
    assert count(client, employees) == before + ROWS
    rows = run(
        client,
        app_db(client).fetch_all,
        sa.select(audit_log).where(audit_log.c.action == "employee.import"),
    )
    assert len(rows) == 1 and '"rows":2000' in rows[0]["detail"]
    # The same file again: every row already exists, nothing changes.
    again = upload(client, fixed, "import")
    assert again.status_code == 400 and len(reported_lines(again.text)) == ROWS
    assert count(client, employees) == before + ROWS


def test_export_round_trips_through_import(client: TestClient, world: dict[str, Any]) -> None:
    make_admins(client)
    sign_in(client, "agency_admin")
    exported = client.get("/admin/employees/export.csv")
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text.lstrip("\ufeff"))))
    assert len(rows) == 5 and set(rows[0]) == {"nip", "name", "unit", "kind", "office", "active"}
    # Every NIP already exists, so the file is rejected as a whole, row by row.
    response = upload(client, exported.text, "check")
    assert len(reported_lines(response.text)) == 5


def test_unit_operator_cannot_import_into_another_unit(
    client: TestClient, world: dict[str, Any]
) -> None:
    from backend.db import units, utcnow

    db = app_db(client)
    agency_id = run(client, db.fetch_val, sa.select(units.c.agency_id))
    run(
        client,
        db.execute,
        units.insert().values(
            agency_id=agency_id, code="BKPSDM", name="BKPSDM", created_at=utcnow()
        ),
    )
    make_admins(client)
    sign_in(client, "unit_operator")
    text = "nip,name,unit\n199001012015011001,Orang Lain,BKPSDM\n199001012015011002,Orang Sini,DISKOMINFO\n"
    response = upload(client, text, "import")
    assert reported_lines(response.text) == {2}
    assert count(client, employees) == 5


def test_import_through_the_api(client: TestClient, world: dict[str, Any]) -> None:
    from tests.test_admin_api import token_for

    headers = {
        "Authorization": f"Bearer {token_for(client, 'unit_operator')}",
        "Content-Type": "text/csv",
    }
    text, broken = staff_file(bad=True)
    response = client.post(
        "/api/v1/admin/employees/import?dry_run=false", content=text, headers=headers
    )
    assert response.status_code == 422
    body = response.json()
    assert body["ok"] is False and body["imported"] == 0 and body["rows"] == ROWS
    assert {e["line"] for e in body["errors"]} == broken
    assert all(e["message"] and e["message_en"] for e in body["errors"])
    assert count(client, employees) == 5
    fixed, _ = staff_file(bad=False)
    dry = client.post("/api/v1/admin/employees/import?dry_run=true", content=fixed, headers=headers)
    assert dry.status_code == 200 and dry.json()["imported"] == 0 and count(client, employees) == 5
    done = client.post("/api/v1/admin/employees/import", content=fixed, headers=headers)
    assert done.status_code == 200 and done.json()["imported"] == ROWS
    assert count(client, employees) == 5 + ROWS


def _org_file(rows: list[tuple[str, ...]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["nip", "name", "unit", "jabatan", "jenis_jabatan", "eselon", "atasan_nip"])
    writer.writerows(rows)
    return out.getvalue()


def test_import_organisation_columns(client: TestClient, world: dict[str, Any]) -> None:
    """Supervisors may be stored staff or rows of the same file (even below their staff);
    unknown NIPs, self-supervision and circles are refused with their line numbers, and a
    refused file writes nothing."""
    from tests.test_admin_api import token_for

    headers = {
        "Authorization": f"Bearer {token_for(client, 'unit_operator')}",
        "Content-Type": "text/csv",
    }
    stored = run(client, app_db(client).fetch_one, employees.select().order_by(employees.c.id))
    kepala, staf, kasubag = nip_of(9001), nip_of(9002), nip_of(9003)
    bad = _org_file(
        [
            (kepala, "Kepala", "DISKOMINFO", "Kepala Dinas", "struktural", "II.a", stored["nip"]),
            (staf, "Staf", "DISKOMINFO", "Pranata", "pelaksana", "", nip_of(9999)),  # unknown
            (nip_of(9004), "Diri", "DISKOMINFO", "", "", "", nip_of(9004)),  # self
            (nip_of(9005), "A", "DISKOMINFO", "", "", "", nip_of(9006)),  # 9005 -> 9006 -> 9005
            (nip_of(9006), "B", "DISKOMINFO", "", "", "", nip_of(9005)),
            (nip_of(9007), "C", "DISKOMINFO", "", "kepala", "", ""),  # not a position kind
            (nip_of(9008), "D", "DISKOMINFO", "", "", "V.x", ""),  # not an echelon
        ]
    )
    response = client.post("/api/v1/admin/employees/import", content=bad, headers=headers)
    assert response.status_code == 422
    lines = {e["line"]: e["message_en"] for e in response.json()["errors"]}
    # Rows checked on their own first (4, 7, 8); the supervisors once every row is valid.
    assert set(lines) == {4, 7, 8}
    assert "own supervisor" in lines[4] and "jenis_jabatan" in lines[7] and "eselon" in lines[8]
    without_cell_errors = _org_file(
        [
            (kepala, "Kepala", "DISKOMINFO", "Kepala Dinas", "struktural", "II.a", stored["nip"]),
            (staf, "Staf", "DISKOMINFO", "Pranata", "pelaksana", "", nip_of(9999)),
            (nip_of(9005), "A", "DISKOMINFO", "", "", "", nip_of(9006)),
            (nip_of(9006), "B", "DISKOMINFO", "", "", "", nip_of(9005)),
        ]
    )
    response = client.post(
        "/api/v1/admin/employees/import", content=without_cell_errors, headers=headers
    )
    errors = {e["line"]: e for e in response.json()["errors"]}
    assert set(errors) == {3, 4, 5}
    assert nip_of(9999) in errors[3]["message_en"]
    assert "circle: lines 4, 5" in errors[4]["message_en"] and "melingkar" in errors[4]["message"]
    assert count(client, employees) == 5
    good = _org_file(
        [
            # The staff member comes before their supervisor, who reports to a stored employee.
            (staf, "Staf", "DISKOMINFO", "Pranata Komputer", "pelaksana", "", kasubag),
            (kasubag, "Kasubag", "DISKOMINFO", "Kasubag Umum", "Struktural", "iv/a", kepala),
            (kepala, "Kepala", "DISKOMINFO", "Kepala Dinas", "struktural", "II.a", stored["nip"]),
        ]
    )
    done = client.post("/api/v1/admin/employees/import", content=good, headers=headers)
    assert done.status_code == 200, done.text
    rows = {r["nip"]: r for r in run(client, app_db(client).fetch_all, employees.select())}
    assert rows[staf]["supervisor_id"] == rows[kasubag]["id"]
    assert rows[kasubag]["supervisor_id"] == rows[kepala]["id"]
    assert rows[kepala]["supervisor_id"] == stored["id"]
    assert (rows[kasubag]["position_kind"], rows[kasubag]["echelon"]) == ("struktural", "IV.a")
    assert rows[staf]["position"] == "Pranata Komputer" and rows[staf]["echelon"] is None
