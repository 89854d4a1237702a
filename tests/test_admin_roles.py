"""Every admin route with every role: allowed or refused, on the pages and on the admin API.

The expected table is written out here, not derived from the code, so a route that loses its
check (or gains a wrong one) fails.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import sqlalchemy as sa
from starlette.routing import Route
from starlette.testclient import TestClient

from backend import admin
from backend.admin.security import hash_api_token
from backend.db import api_tokens, employees, units, utcnow
from backend.settings import Settings
from tests.conftest import app_db, run
from tests.support.admin import ROLES, csrf, make_admins, sign_in

ALL = set(ROLES)
WRITERS = {"super_admin", "agency_admin", "unit_operator"}
ORG = {"super_admin", "agency_admin"}
SUPER = {"super_admin"}
ORG_AND_LEADER = ORG | {"leader"}

# (method, path, roles allowed). {admin} is the unit operator's account, {token} an API token of
# the demo agency; everything else is the demo world, which every scoped role can see.
PAGES: list[tuple[str, str, set[str]]] = [
    ("GET", "/admin/", ALL),
    ("GET", "/admin/account", ALL),
    ("POST", "/admin/account/password", ALL),
    ("POST", "/admin/account/language", ALL),
    ("GET", "/admin/agencies", ORG_AND_LEADER),
    ("POST", "/admin/agencies", SUPER),
    ("GET", "/admin/agencies/1", ORG_AND_LEADER),
    ("POST", "/admin/agencies/1", SUPER),
    ("GET", "/admin/units", ALL),
    ("POST", "/admin/units", ORG),
    ("GET", "/admin/units/1", ALL),
    ("POST", "/admin/units/1", ORG),
    ("GET", "/admin/offices", ALL),
    ("POST", "/admin/offices", ORG),
    ("GET", "/admin/offices/1", ALL),
    ("POST", "/admin/offices/1", ORG),
    ("GET", "/admin/employees", ALL),
    ("POST", "/admin/employees", WRITERS),
    ("GET", "/admin/employees/export.csv", ALL),
    ("GET", "/admin/employees/import", WRITERS),
    ("POST", "/admin/employees/import", WRITERS),
    ("GET", "/admin/employees/1", ALL),
    ("POST", "/admin/employees/1", WRITERS),
    ("POST", "/admin/employees/1/active", WRITERS),
    ("POST", "/admin/employees/1/enrolment-code", WRITERS),
    ("POST", "/admin/employees/1/devices/d_none/revoke", WRITERS),
    ("GET", "/admin/displays", ALL),
    ("POST", "/admin/displays", WRITERS),
    ("GET", "/admin/displays/status.json", ALL),
    ("GET", "/admin/displays/1", ALL),
    ("POST", "/admin/displays/1", WRITERS),
    ("POST", "/admin/displays/1/pairing-code", WRITERS),
    ("GET", "/admin/users", ORG),
    ("POST", "/admin/users", ORG),
    ("GET", "/admin/users/{admin}", ORG),
    ("POST", "/admin/users/{admin}", ORG),
    ("GET", "/admin/tokens", ORG),
    ("POST", "/admin/tokens", ORG),
    ("POST", "/admin/tokens/{token}/revoke", ORG),
    ("GET", "/admin/audit", ORG),
    ("GET", "/admin/audit/export.csv", ORG),
    ("GET", "/admin/ledger", ORG_AND_LEADER),
    ("GET", "/admin/ledger/heads.csv", ORG_AND_LEADER),
    ("GET", "/admin/ledger/heads.json", ORG_AND_LEADER),
    # presence review (issue 6)
    ("GET", "/admin/monitor", ALL),
    ("GET", "/admin/monitor/today.json", ALL),
    ("GET", "/admin/recaps/monthly", ALL),
    ("GET", "/admin/recaps/monthly.csv", ALL),
    ("GET", "/admin/recaps/monthly.xlsx", ALL),
    ("GET", "/admin/activities", ALL),
    ("GET", "/admin/activities.csv", ALL),
    ("GET", "/admin/activities.xlsx", ALL),
    ("GET", "/admin/activities/targets", ALL),
    ("POST", "/admin/activities/targets", WRITERS),
    ("GET", "/admin/activities/employees/1", ALL),
    ("POST", "/admin/activities/approve", WRITERS),
    ("GET", "/admin/recaps/daily", ALL),
    ("GET", "/admin/recaps/daily.csv", ALL),
    ("GET", "/admin/recaps/daily.xlsx", ALL),
    ("GET", "/admin/presence", ALL),
    ("GET", "/admin/presence.csv", ALL),
    ("GET", "/admin/presence.xlsx", ALL),
    ("GET", "/admin/presence/employees/1", ALL),
    ("POST", "/admin/presence/employees/1/corrections", WRITERS),
    ("GET", "/admin/review", ALL),
    ("POST", "/admin/review/1", WRITERS),
    ("GET", "/admin/fraud", ORG),
    ("GET", "/admin/fraud/1", ORG),
    ("POST", "/admin/fraud/1", ORG),
    ("GET", "/admin/absences", ALL),
    ("POST", "/admin/absences", WRITERS),
    ("POST", "/admin/absences/1/cancel", WRITERS),
    ("GET", "/admin/requests", ALL),
    ("POST", "/admin/requests/decisions", WRITERS),
    ("GET", "/admin/holidays", ALL),
    ("POST", "/admin/holidays", ORG),
    ("GET", "/admin/schedules", ALL),
    ("POST", "/admin/schedules/rules", ORG),
    ("POST", "/admin/schedules/rules/1/remove", ORG),
    ("POST", "/admin/schedules/shifts", WRITERS),
    ("POST", "/admin/schedules/roster", WRITERS),
    ("GET", "/admin/apel", ALL),
    ("POST", "/admin/apel", WRITERS),
    ("GET", "/admin/apel/1", ALL),
    ("POST", "/admin/apel/1/delete", WRITERS),
    ("GET", "/admin/apel/1/attendance.csv", ALL),
    ("GET", "/admin/apel/1/attendance.xlsx", ALL),
    ("GET", "/admin/tpp", ALL),
    ("POST", "/admin/tpp", ORG),
    # organisation and discipline (issue 12)
    ("GET", "/admin/units/1/org", ALL),
    ("GET", "/admin/delegations", ALL),
    ("POST", "/admin/delegations", WRITERS),
    ("POST", "/admin/delegations/1/cancel", WRITERS),
    ("GET", "/admin/discipline", ALL),
    ("GET", "/admin/discipline.csv", ALL),
    ("GET", "/admin/discipline.xlsx", ALL),
    ("GET", "/admin/webhooks", ORG),
    ("POST", "/admin/webhooks", ORG),
    ("POST", "/admin/webhooks/1/delete", ORG),
    ("POST", "/admin/webhooks/1/resume", ORG),
    ("POST", "/admin/displays/1/revoke", WRITERS),  # last: it switches the display off
]
# Routes with their own rules, tested in test_admin_security.py.
NOT_IN_MATRIX = {("GET", "/admin/login"), ("POST", "/admin/login"), ("POST", "/admin/logout")}
# An endless event stream: tests/test_admin_recaps.py checks who may open it.
NOT_IN_MATRIX |= {("GET", "/admin/monitor/stream")}

API: list[tuple[str, str, set[str]]] = [
    ("GET", "/me", ALL),
    ("GET", "/agencies", ORG_AND_LEADER),
    ("POST", "/agencies", SUPER),
    ("GET", "/agencies/1", ORG_AND_LEADER),
    ("PATCH", "/agencies/1", SUPER),
    ("GET", "/units", ALL),
    ("POST", "/units", ORG),
    ("GET", "/units/1", ALL),
    ("PATCH", "/units/1", ORG),
    ("GET", "/offices", ALL),
    ("POST", "/offices", ORG),
    ("GET", "/offices/1", ALL),
    ("PATCH", "/offices/1", ORG),
    ("GET", "/employees", ALL),
    ("POST", "/employees", WRITERS),
    ("POST", "/employees/import", WRITERS),
    ("GET", "/employees/1", ALL),
    ("PATCH", "/employees/1", WRITERS),
    ("POST", "/employees/1/enrolment-code", WRITERS),
    ("GET", "/employees/1/device", ALL),
    ("POST", "/employees/1/device/revoke", WRITERS),
    ("GET", "/displays", ALL),
    ("POST", "/displays", WRITERS),
    ("GET", "/displays/1", ALL),
    ("PATCH", "/displays/1", WRITERS),
    ("POST", "/displays/1/pairing-code", WRITERS),
    ("GET", "/audit", ORG),
    ("GET", "/apel", ALL),
    ("POST", "/apel", WRITERS),
    ("DELETE", "/apel/1", WRITERS),
    ("GET", "/apel/1/attendance", ALL),
    ("GET", "/recaps/monthly", ALL),
    ("GET", "/requests", ALL),
    ("POST", "/requests/decisions", WRITERS),
    ("GET", "/requests/1", ALL),
    ("POST", "/requests/1", WRITERS),
    ("GET", "/delegations", ALL),
    ("POST", "/delegations", WRITERS),
    ("DELETE", "/delegations/1", WRITERS),
    ("GET", "/discipline", ALL),
    # integration (issue 14)
    ("GET", "/checkins", ALL),
    ("GET", "/reviews", ALL),
    ("POST", "/reviews/1", WRITERS),
    ("GET", "/corrections", ALL),
    ("POST", "/corrections", WRITERS),
    ("GET", "/absences", ALL),
    ("POST", "/absences", WRITERS),
    ("POST", "/absences/1/cancel", WRITERS),
    ("GET", "/holidays", ALL),
    ("POST", "/holidays", ORG),
    ("GET", "/schedules", ALL),
    ("GET", "/shifts", ALL),
    ("GET", "/rosters", ALL),
    ("GET", "/recaps/daily", ALL),
    ("GET", "/deductions", ALL),
    ("GET", "/changes", ALL),
    ("GET", "/webhooks", ORG),
    ("POST", "/webhooks", ORG),
    ("GET", "/webhooks/1", ORG),
    ("DELETE", "/webhooks/1", ORG),
    ("POST", "/webhooks/1/resume", ORG),
    ("POST", "/displays/1/revoke", WRITERS),
]


def route_table(routes: list[Any], prefix: str) -> set[tuple[str, str]]:
    found = set()
    for route in routes:
        if isinstance(route, Route):
            for method in route.methods or ():
                if method != "HEAD":
                    found.add((method, prefix + route.path))
    return found


def normalise(path: str) -> str:
    """The matrix's concrete path with each id segment as {x}."""
    return "/".join(
        "{x}" if seg.isdigit() or seg in ("{admin}", "{token}", "d_none") else seg
        for seg in path.split("/")
    )


def generic(path: str) -> str:
    return re.sub(r"\{[a-z_]+(:[a-z]+)?\}", "{x}", path)


def test_the_matrix_covers_every_admin_route() -> None:
    pages = {(m, generic(p)) for m, p in route_table(admin.routes, "/admin")}
    listed = {(m, normalise(p)) for m, p, _ in PAGES} | NOT_IN_MATRIX
    assert pages == listed
    api = {(m, generic(p)) for m, p in route_table(admin.api_routes, "")}
    assert api == {(m, normalise(p)) for m, p, _ in API}


def _fill(path: str, ids: dict[str, int]) -> str:
    return path.format(**ids)


@pytest.fixture
def ids(client: TestClient, settings: Settings, world: dict[str, Any]) -> dict[str, int]:
    admins = make_admins(client)
    db = app_db(client)
    unit = run(client, db.fetch_one, units.select())
    token_id = run(
        client,
        db.fetch_val,
        api_tokens.insert()
        .values(
            name="kepegawaian",
            token_hash="x" * 64,
            prefix="pst_x",
            role="leader",
            agency_id=unit["agency_id"],
            created_by=admins["super_admin"],
            created_at=utcnow(),
        )
        .returning(api_tokens.c.id),
    )
    return {
        "admin": admins["unit_operator"],
        "token": int(token_id),
        **{f"role:{k}": v for k, v in admins.items()},
    }


@pytest.mark.parametrize("role", ROLES)
def test_pages_allow_and_refuse_by_role(client: TestClient, ids: dict[str, int], role: str) -> None:
    sign_in(client, role)
    token = csrf(client)
    outcomes = {}
    for method, path, allowed in PAGES:
        url = _fill(path, ids)
        if method == "GET":
            response = client.get(url, follow_redirects=False)
        else:
            response = client.post(url, data={"csrf_token": token}, follow_redirects=False)
        refused = response.status_code == 403
        outcomes[(method, path)] = (response.status_code, role in allowed)
        assert refused == (role not in allowed), (method, url, role, response.status_code)
        assert response.status_code < 500
        if not refused:
            assert response.status_code in (200, 303, 400, 404, 409), (
                method,
                url,
                response.status_code,
            )
    # Still signed in after walking everything (a wrong password change does not sign out).
    assert client.get("/admin/", follow_redirects=False).status_code == 200


def _token_for(client: TestClient, settings: Settings, role: str, admin_id: int) -> str:
    db = app_db(client)
    unit = run(client, db.fetch_one, units.select())
    raw = f"pst_matrix_{role}_0123456789abcdef"
    grant = {
        "super_admin": {},
        "agency_admin": {"agency_id": unit["agency_id"]},
        "unit_operator": {"unit_id": unit["id"], "agency_id": unit["agency_id"]},
        "leader": {"agency_id": unit["agency_id"]},
    }[role]
    run(
        client,
        db.execute,
        api_tokens.insert().values(
            name=role,
            token_hash=hash_api_token(settings.secret_key, raw),
            prefix=raw[:10],
            role=role,
            created_by=admin_id,
            created_at=utcnow(),
            **grant,
        ),
    )
    return raw


@pytest.mark.parametrize("role", ROLES)
def test_api_allows_and_refuses_by_role(
    client: TestClient, settings: Settings, ids: dict[str, int], role: str
) -> None:
    headers = {
        "Authorization": f"Bearer {_token_for(client, settings, role, ids['role:super_admin'])}"
    }
    for method, path, allowed in API:
        kwargs: dict[str, Any] = {"headers": headers}
        if method in ("POST", "PATCH"):
            kwargs["json"] = {}
            if path.endswith("/import"):
                kwargs = {
                    "headers": {**headers, "Content-Type": "text/csv"},
                    "content": "nip,name,unit\n",
                }
        response = client.request(method, "/api/v1/admin" + path, **kwargs)
        assert response.status_code < 500, (method, path, response.text)
        if role in allowed:
            assert response.status_code != 403, (method, path, role, response.text)
        else:
            assert response.status_code == 403, (method, path, role, response.status_code)
            assert response.json()["error"]["code"] == "forbidden"


def test_scope_hides_other_agencies_and_units(
    client: TestClient, settings: Settings, ids: dict[str, int]
) -> None:
    """Another agency's (or another unit's) things are 404, never listed."""
    db = app_db(client)
    from backend.db import agencies

    other_agency = run(
        client,
        db.fetch_val,
        agencies.insert()
        .values(code="LAIN", name="Kabupaten Lain", created_at=utcnow())
        .returning(agencies.c.id),
    )
    demo_unit = run(client, db.fetch_one, units.select())
    other_unit = run(
        client,
        db.fetch_val,
        units.insert()
        .values(agency_id=demo_unit["agency_id"], code="BKPSDM", name="BKPSDM", created_at=utcnow())
        .returning(units.c.id),
    )
    far_unit = run(
        client,
        db.fetch_val,
        units.insert()
        .values(agency_id=other_agency, code="DINKES", name="Dinas Kesehatan", created_at=utcnow())
        .returning(units.c.id),
    )
    near = run(
        client,
        db.fetch_val,
        employees.insert()
        .values(
            nip="198001012010011001", name="Tetangga Unit", unit_id=other_unit, created_at=utcnow()
        )
        .returning(employees.c.id),
    )
    far = run(
        client,
        db.fetch_val,
        employees.insert()
        .values(nip="198001012010011002", name="Jauh Sekali", unit_id=far_unit, created_at=utcnow())
        .returning(employees.c.id),
    )

    expectations = {
        # role: (sees the other unit's employee, sees the other agency's employee)
        "super_admin": (True, True),
        "agency_admin": (True, False),
        "leader": (True, False),
        "unit_operator": (False, False),
    }
    for role, (sees_near, sees_far) in expectations.items():
        client.cookies.clear()
        sign_in(client, role)
        listing = client.get("/admin/employees").text
        assert ("Tetangga Unit" in listing) == sees_near, role
        assert ("Jauh Sekali" in listing) == sees_far, role
        assert client.get(f"/admin/employees/{near}").status_code == (200 if sees_near else 404)
        assert client.get(f"/admin/employees/{far}").status_code == (200 if sees_far else 404)
        assert client.get(f"/admin/agencies/{other_agency}").status_code in (
            (200,) if sees_far else (403, 404)
        )
        export = client.get("/admin/employees/export.csv").text
        assert ("Jauh Sekali" in export) == sees_far
    # A unit operator cannot put someone into a unit outside their scope either.
    client.cookies.clear()
    sign_in(client, "unit_operator")
    response = client.post(
        "/admin/employees",
        data={
            "nip": "199001012015011009",
            "name": "Salah Unit",
            "unit_id": str(other_unit),
            "kind": "asn",
            "csrf_token": csrf(client),
        },
    )
    assert response.status_code == 400
    assert (
        run(
            client,
            db.fetch_val,
            sa.select(employees.c.id).where(employees.c.nip == "199001012015011009"),
        )
        is None
    )
