"""Optimistic concurrency: object versions, 412 on a stale If-Match in the admin API, 409 with
the other admin's values on a stale console form, and real concurrent saves of one employee."""

from __future__ import annotations

import asyncio
import html
import re
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from backend import holidays as calendar
from backend import versions
from backend.accounts import create_admin
from backend.admin.security import hash_api_token
from backend.db import (
    admin_users,
    agencies,
    api_tokens,
    audit_log,
    displays,
    employees,
    holidays,
    make_database,
    offices,
    tpp_rules,
    units,
    utcnow,
    work_schedules,
)
from backend.demo import ensure_demo
from tests.conftest import app_db, count, run
from tests.support.admin import PASSWORD, csrf, make_admins, sign_in
from tests.support.server import live_server
from tests.test_admin_api import API, token_for

# -- the mechanism ----------------------------------------------------------------------------


def test_a_version_is_canonical_short_and_changes_with_the_value() -> None:
    a = versions.of({"name": "Budi", "unit_id": 1})
    assert a == versions.of({"unit_id": 1, "name": "Budi"})
    assert re.fullmatch(r"[0-9a-f]{20}", a)
    assert versions.of({"name": "Budi ", "unit_id": 1}) != a
    assert versions.etag(a) == f'"{a}"'


def test_if_match_takes_strong_tags_only() -> None:
    assert versions.if_match(None) is None
    assert versions.if_match(" * ") is None
    assert versions.if_match('"abc"') == frozenset({"abc"})
    assert versions.if_match('"abc", "def"') == frozenset({"abc", "def"})
    # A weak tag never matches (RFC 9110 If-Match uses the strong comparison).
    assert versions.if_match('W/"abc"') == frozenset()
    assert versions.form_version("") is None and versions.form_version("x") == {"x"}


def test_only_editable_columns_count() -> None:
    row = {
        "id": 1,
        "office_id": 2,
        "name": "Lobi",
        "revoked_at": None,
        "last_seen_at": utcnow(),
        "last_seen_ip": "10.0.0.1",
    }
    heartbeat = row | {"last_seen_at": utcnow() + timedelta(seconds=15), "last_seen_ip": "x"}
    assert versions.of_row(displays, row) == versions.of_row(displays, heartbeat)
    assert versions.of_row(displays, row) != versions.of_row(displays, row | {"name": "Aula"})
    assert versions.changed({"name": "A", "active": True}, {"name": "B", "active": True}, ["name", "active"]) == ["name"]  # fmt: skip


def first_employee(client: TestClient) -> Any:
    return run(client, app_db(client).fetch_one, employees.select().order_by(employees.c.id))


def test_guard_refuses_a_stale_version_and_writes_nothing(
    client: TestClient, world: dict[str, Any]
) -> None:
    db = app_db(client)
    person = first_employee(client)
    stale = versions.of_row(employees, person)

    async def rename(name: str, expected: versions.Expected) -> None:
        async with versions.guard(db, employees, person["id"], expected):
            await db.execute(
                employees.update().where(employees.c.id == person["id"]).values(name=name)
            )

    run(client, rename, "Nama Baru", frozenset({stale}))
    with pytest.raises(versions.Conflict) as refused:
        run(client, rename, "Nama Lain", frozenset({stale}))
    assert refused.value.current["name"] == "Nama Baru"
    assert refused.value.version == versions.of_row(employees, first_employee(client))
    assert first_employee(client)["name"] == "Nama Baru"
    run(client, rename, "Tanpa Versi", None)  # no version: not checked, as before
    assert first_employee(client)["name"] == "Tanpa Versi"


def test_of_two_saves_from_one_version_exactly_one_passes(
    client: TestClient, world: dict[str, Any]
) -> None:
    db = app_db(client)
    person = first_employee(client)
    expected = frozenset({versions.of_row(employees, person)})

    async def save(name: str) -> str:
        try:
            async with versions.guard(db, employees, person["id"], expected):
                await asyncio.sleep(0.05)  # both are inside their transaction at once
                await db.execute(
                    employees.update().where(employees.c.id == person["id"]).values(name=name)
                )
        except versions.Conflict:
            return "conflict"
        return name

    async def both() -> list[str]:
        return list(await asyncio.gather(*(save(f"Pemenang {i}") for i in range(4))))

    outcomes = run(client, both)
    winners = [o for o in outcomes if o != "conflict"]
    assert len(winners) == 1 and outcomes.count("conflict") == 3, outcomes
    assert first_employee(client)["name"] == winners[0]


# -- the admin API: ETag and If-Match -----------------------------------------------------------


def audit_count(client: TestClient, action: str) -> int:
    query = sa.select(sa.func.count()).where(audit_log.c.action == action)
    return int(run(client, app_db(client).fetch_val, query))


def test_api_etag_and_if_match_on_an_employee(client: TestClient, world: dict[str, Any]) -> None:
    auth = {"Authorization": f"Bearer {token_for(client, 'agency_admin')}"}
    person = first_employee(client)
    url = f"{API}/employees/{person['id']}"
    got = client.get(url, headers=auth)
    assert got.status_code == 200
    tag = got.headers["etag"]
    assert re.fullmatch(r'"[0-9a-f]{20}"', tag)

    # A write without If-Match works as before, and changes the ETag.
    plain = client.patch(url, json={"name": "Ani Lestari"}, headers=auth)
    assert plain.status_code == 200 and plain.headers["etag"] != tag
    before = audit_count(client, "employee.update")

    # The first reader's tag is now stale: 412, the current tag, nothing written.
    stale = client.patch(url, json={"name": "Ani Stale"}, headers=auth | {"If-Match": tag})
    assert stale.status_code == 412, stale.text
    assert stale.json()["error"]["code"] == "precondition_failed"
    assert stale.headers["etag"] == plain.headers["etag"]
    assert first_employee(client)["name"] == "Ani Lestari"
    assert audit_count(client, "employee.update") == before

    # A weak tag never matches; the current strong one does, and answers the new ETag.
    weak = client.patch(url, json={"name": "X"}, headers=auth | {"If-Match": "W/" + plain.headers["etag"]})  # fmt: skip
    assert weak.status_code == 412
    ok = client.patch(url, json={"name": "Ani Baru"}, headers=auth | {"If-Match": plain.headers["etag"]})  # fmt: skip
    assert ok.status_code == 200 and ok.json()["name"] == "Ani Baru"
    assert ok.headers["etag"] not in (tag, plain.headers["etag"])
    assert ok.headers["etag"] == client.get(url, headers=auth).headers["etag"]
    assert audit_count(client, "employee.update") == before + 1


@pytest.mark.parametrize(
    ("kind", "table", "change"),
    [
        ("agencies", agencies, {"name": "Pemkab Baru"}),
        ("units", units, {"name": "Bagian Baru"}),
        ("offices", offices, {"address": "Jl. Baru 1"}),
        ("displays", displays, {"name": "Lobi Baru"}),
    ],
)
def test_api_etag_and_if_match_on_every_object(
    client: TestClient, world: dict[str, Any], kind: str, table: Any, change: dict[str, str]
) -> None:
    auth = {"Authorization": f"Bearer {token_for(client, 'super_admin')}"}
    row_id = run(client, app_db(client).fetch_val, sa.select(table.c.id).order_by(table.c.id))
    url = f"{API}/{kind}/{row_id}"
    tag = client.get(url, headers=auth).headers["etag"]
    ok = client.patch(url, json=change, headers=auth | {"If-Match": tag})
    assert ok.status_code == 200, ok.text
    assert ok.headers["etag"] != tag
    stored = dict(run(client, app_db(client).fetch_one, table.select().where(table.c.id == row_id))._mapping)  # fmt: skip
    stale = client.patch(url, json={k: v + " lagi" for k, v in change.items()}, headers=auth | {"If-Match": tag})  # fmt: skip
    assert stale.status_code == 412 and stale.headers["etag"] == ok.headers["etag"]
    after = run(client, app_db(client).fetch_one, table.select().where(table.c.id == row_id))
    assert dict(after._mapping) == stored


def test_the_openapi_document_names_if_match(client: TestClient) -> None:
    spec = client.get("/api/v1/openapi.json").json()
    patch = spec["paths"]["/api/v1/admin/employees/{employee_id}"]["patch"]
    assert "412" in patch["responses"]
    assert any(p["name"] == "If-Match" and p["in"] == "header" for p in patch["parameters"])
    office = spec["paths"]["/api/v1/admin/offices/{office_id}"]
    assert "ETag" in office["get"]["responses"]["200"]["headers"]


# -- the console: 409 with the other admin's values --------------------------------------------


def form_version(page: str) -> str:
    match = re.search(r'name="version" value="([0-9a-f]*)"', page)
    assert match, page
    return match.group(1)


def test_a_second_save_from_the_same_form_shows_what_changed(
    client: TestClient, world: dict[str, Any]
) -> None:
    make_admins(client)
    sign_in(client, "agency_admin")
    person = first_employee(client)
    path = f"/admin/employees/{person['id']}"
    loaded = client.get(path).text
    version, token = form_version(loaded), csrf(client, path)
    form = {"csrf_token": token, "version": version, "kind": person["kind"],
            "unit_id": str(person["unit_id"]), "office_id": str(person["office_id"] or "")}  # fmt: skip

    first = client.post(path, data=form | {"name": "Dari Admin Satu"}, follow_redirects=False)
    assert first.status_code == 303
    second = client.post(path, data=form | {"name": "Dari Admin Dua"}, follow_redirects=False)
    assert second.status_code == 409, second.text
    page = html.unescape(second.text)
    assert "Admin lain mengubah data ini" in page
    assert re.search(r'data-side="theirs">Dari Admin Satu<', page)
    assert re.search(r'data-side="yours">Dari Admin Dua<', page)
    assert 'name="name" required maxlength="200" value="Dari Admin Dua"' in page  # kept filled
    assert first_employee(client)["name"] == "Dari Admin Satu"

    # Saving the kept form again applies it: it now carries the stored version.
    again = client.post(
        path, data=form | {"name": "Dari Admin Dua", "version": form_version(second.text)},
        follow_redirects=False,
    )  # fmt: skip
    assert again.status_code == 303
    assert first_employee(client)["name"] == "Dari Admin Dua"


def test_a_stale_deactivate_button_is_refused(client: TestClient, world: dict[str, Any]) -> None:
    make_admins(client)
    sign_in(client, "unit_operator")
    person = first_employee(client)
    path = f"/admin/employees/{person['id']}"
    version, token = form_version(client.get(path).text), csrf(client, path)
    form = {"csrf_token": token, "version": version, "active": "0"}
    assert client.post(path + "/active", data=form, follow_redirects=False).status_code == 303
    # The same button, clicked on a second copy of the old page: no silent reactivation.
    stale = client.post(path + "/active", data=form | {"active": "1"}, follow_redirects=False)
    assert stale.status_code == 409
    assert first_employee(client)["active"] is False


@pytest.mark.parametrize(
    ("role", "table", "path", "field"),
    [
        ("super_admin", agencies, "/admin/agencies/{id}", "name"),
        ("agency_admin", units, "/admin/units/{id}", "name"),
        ("agency_admin", offices, "/admin/offices/{id}", "address"),
        ("agency_admin", displays, "/admin/displays/{id}", "name"),
        ("agency_admin", admin_users, "/admin/users/{id}", "role"),
    ],
)
def test_every_edit_form_refuses_a_stale_save(
    client: TestClient, world: dict[str, Any], role: str, table: Any, path: str, field: str
) -> None:
    ids = make_admins(client)
    sign_in(client, role)
    db = app_db(client)
    row_id = ids["leader"] if table is admin_users else run(
        client, db.fetch_val, sa.select(table.c.id).order_by(table.c.id)
    )  # fmt: skip
    row = run(client, db.fetch_one, table.select().where(table.c.id == row_id))
    path = path.format(id=row_id)
    version = form_version(client.get(path).text)
    form = {k: str(row[k]) if row[k] is not None else "" for k in versions.EDITABLE[table.name]}
    form |= {"csrf_token": csrf(client, path), "version": version}
    if table is offices:
        form["unit_id"] = ""
    if table is admin_users:
        form["active"] = "1"
    values = ("unit_operator", "leader") if field == "role" else ("Satu", "Dua")
    if table is admin_users:
        form["unit_id"] = str(run(client, db.fetch_val, sa.select(units.c.id)))
    first = client.post(path, data=form | {field: values[0]}, follow_redirects=False)
    assert first.status_code == 303, first.text
    stored = dict(run(client, db.fetch_one, table.select().where(table.c.id == row_id))._mapping)
    second = client.post(path, data=form | {field: values[1]}, follow_redirects=False)
    assert second.status_code == 409, second.text
    assert 'data-side="theirs"' in second.text
    after = run(client, db.fetch_one, table.select().where(table.c.id == row_id))
    assert dict(after._mapping) == stored


# -- real concurrency: two servers' worth of clients on one employee ---------------------------

SECRET = b"test-secret-key-0123456789"


async def _prepare(database_url: str) -> tuple[int, str]:
    """The demo agency, an agency admin, an API token; the first employee's id and the token."""
    db = make_database(database_url)
    await db.connect()
    try:
        await ensure_demo(db, SECRET, 2)
        agency_id = await db.fetch_val(sa.select(agencies.c.id))
        admin_id = await create_admin(
            db, username="tu.satu", password=PASSWORD, role="agency_admin",
            agency_id=agency_id, actor="test",
        )  # fmt: skip
        raw = "pst_concurrency-test-token-0123456789"
        await db.execute(
            api_tokens.insert().values(
                name="sistem", token_hash=hash_api_token(SECRET, raw), prefix=raw[:8],
                role="agency_admin", agency_id=agency_id, created_by=admin_id,
                created_at=utcnow(),
            )
        )  # fmt: skip
        employee_id = await db.fetch_val(sa.select(employees.c.id).order_by(employees.c.id))
        return int(employee_id), raw
    finally:
        await db.disconnect()


async def _final_name(database_url: str, employee_id: int) -> str:
    db = make_database(database_url)
    await db.connect()
    try:
        query = sa.select(employees.c.name).where(employees.c.id == employee_id)
        return str(await db.fetch_val(query))
    finally:
        await db.disconnect()


async def _sign_in(client: httpx.AsyncClient) -> None:
    page = await client.get("/admin/login")
    token = re.search(r'name="login_token" value="([^"]+)"', page.text)
    assert token, page.text
    done = await client.post(
        "/admin/login",
        data={"username": "tu.satu", "password": PASSWORD, "login_token": token.group(1)},
    )
    assert done.status_code == 303, done.text


def test_concurrent_saves_of_one_employee_one_winner_per_round(
    tmp_path: Path, database_url: str
) -> None:
    employee_id, raw = asyncio.run(_prepare(database_url))
    rounds = 12

    async def race(base: str) -> tuple[list[tuple[int, int]], list[str]]:
        api = httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {raw}"})
        pages = [httpx.AsyncClient(base_url=base, follow_redirects=False) for _ in range(2)]
        try:
            for page in pages:
                await _sign_in(page)
            url, path = f"{API}/employees/{employee_id}", f"/admin/employees/{employee_id}"
            results: list[tuple[int, int]] = []
            winners: list[str] = []
            for n in range(rounds):
                tag = (await api.get(url)).headers["etag"]
                loaded = [(await p.get(path)).text for p in pages]
                forms = []
                for i, text in enumerate(loaded):
                    person = (await api.get(url)).json()
                    forms.append(
                        {
                            "csrf_token": re.findall(r'name="csrf_token" value="([^"]+)"', text)[0],
                            "version": form_version(text),
                            "name": f"Halaman {i} putaran {n}",
                            "kind": person["kind"],
                            "unit_id": str(person["unit_id"]),
                            "office_id": str(person["office_id"] or ""),
                        }
                    )
                answers = await asyncio.gather(
                    api.patch(url, json={"name": f"API putaran {n}"}, headers={"If-Match": tag}),
                    *(p.post(path, data=f) for p, f in zip(pages, forms, strict=True)),
                )
                codes = [a.status_code for a in answers]
                assert all(c < 500 for c in codes), codes
                ok = [i for i, c in enumerate(codes) if c in (200, 303)]
                refused = [i for i, c in enumerate(codes) if c in (409, 412)]
                assert len(ok) == 1 and len(refused) == 2, codes
                assert codes[0] in (200, 412) and all(c in (303, 409) for c in codes[1:]), codes
                winners.append(
                    f"API putaran {n}" if ok[0] == 0 else f"Halaman {ok[0] - 1} putaran {n}"
                )
                results.append((ok[0], len(refused)))
            return results, winners
        finally:
            await api.aclose()
            for page in pages:
                await page.aclose()

    with live_server(tmp_path, database_url) as server:
        results, winners = asyncio.run(race(server.url))
        assert not [line for line in server.log if "Traceback" in line], server.log[-40:]
    assert len(results) == rounds
    assert asyncio.run(_final_name(database_url, employee_id)) == winners[-1]


# -- sets edited as one: TPP rules, work hours; and a holiday's switch ---------------------------


def test_tpp_rules_from_a_stale_page_are_refused(client: TestClient, world: dict[str, Any]) -> None:
    make_admins(client)
    sign_in(client, "agency_admin")
    page = client.get("/admin/tpp").text
    form = dict(re.findall(r'name="([A-Za-z0-9_]+)" value="([^"]*)" inputmode', page))
    form |= {"csrf_token": csrf(client, "/admin/tpp"), "version": form_version(page)}
    first = client.post("/admin/tpp", data=form | {"absent": "2,5"}, follow_redirects=False)
    assert first.status_code == 303
    second = client.post("/admin/tpp", data=form | {"absent": "4"}, follow_redirects=False)
    assert second.status_code == 409
    assert re.search(r'data-side="theirs">2.5<', second.text)
    assert re.search(r'data-side="yours">4<', second.text)
    assert 'name="absent" value="4"' in second.text  # kept filled
    assert run(client, app_db(client).fetch_val, sa.select(tpp_rules.c.basis_points)) == 250
    again = client.post(
        "/admin/tpp", data=form | {"absent": "4", "version": form_version(second.text)},
        follow_redirects=False,
    )  # fmt: skip
    assert again.status_code == 303
    assert run(client, app_db(client).fetch_val, sa.select(tpp_rules.c.basis_points)) == 400


def test_work_hours_added_from_a_stale_page_are_refused(
    client: TestClient, world: dict[str, Any]
) -> None:
    make_admins(client)
    sign_in(client, "agency_admin")
    page = client.get("/admin/schedules").text
    form = {"csrf_token": csrf(client, "/admin/schedules"), "version": form_version(page),
            "name": "Ramadan", "weekday": ["0", "1"], "start": "08:00", "end": "15:00",
            "valid_from": "2027-02-08", "valid_to": "2027-03-09"}  # fmt: skip
    before = count(client, work_schedules)
    assert (
        client.post("/admin/schedules/rules", data=form, follow_redirects=False).status_code == 303
    )
    assert count(client, work_schedules) == before + 2
    second = client.post(
        "/admin/schedules/rules", data=form | {"name": "Ramadan lagi"}, follow_redirects=False
    )
    assert second.status_code == 409
    assert "Ramadan lagi" in second.text and 'value="Ramadan lagi"' in second.text
    assert count(client, work_schedules) == before + 2
    rule_id = run(client, app_db(client).fetch_val, sa.select(sa.func.max(work_schedules.c.id)))
    stale = client.post(
        f"/admin/schedules/rules/{rule_id}/remove",
        data={"csrf_token": form["csrf_token"], "version": form["version"]},
        follow_redirects=False,
    )
    assert stale.status_code == 409 and count(client, work_schedules) == before + 2


def test_a_holiday_switched_from_a_stale_page_is_refused(
    client: TestClient, world: dict[str, Any]
) -> None:
    make_admins(client)
    sign_in(client, "agency_admin")
    agency_id = run(client, app_db(client).fetch_val, sa.select(agencies.c.id))
    run(client, calendar.put, app_db(client), agency_id=agency_id, day=date(2026, 12, 24),
        name="Cuti bersama Natal", kind="cuti_bersama", actor="test")  # fmt: skip
    page = client.get("/admin/holidays?year=2026").text
    version = re.findall(r'name="version" value="([0-9a-f]+)"', page)[0]
    form = {"csrf_token": csrf(client, "/admin/holidays"), "day": "2026-12-24",
            "version": version}  # fmt: skip
    off = client.post("/admin/holidays", data=form | {"action": "off"}, follow_redirects=False)
    assert off.status_code == 303
    # Another copy of the old page, where the other admin switches it back on, then off again.
    stale = client.post("/admin/holidays", data=form | {"action": "on"}, follow_redirects=False)
    assert stale.status_code == 409 and 'data-side="theirs"' in stale.text
    active = run(client, app_db(client).fetch_val, sa.select(holidays.c.active))
    assert active is False
