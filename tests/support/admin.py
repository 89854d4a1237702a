"""Helpers for admin console tests: one admin per role, signing in, CSRF tokens from pages."""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa
from starlette.testclient import TestClient

from backend.accounts import create_admin
from backend.db import units
from tests.conftest import app_db, run

PASSWORD = "correct horse battery"
ROLES = ("super_admin", "agency_admin", "unit_operator", "leader")


def make_admins(client: TestClient) -> dict[str, int]:
    """Admins ``super``, ``agency``, ``operator`` (the demo unit) and ``leader`` (the demo
    agency), all with PASSWORD; needs the ``world`` fixture first."""
    db = app_db(client)
    unit = run(client, db.fetch_one, units.select().order_by(units.c.id))
    grants: dict[str, dict[str, Any]] = {
        "super_admin": {},
        "agency_admin": {"agency_id": unit["agency_id"]},
        "unit_operator": {"unit_id": unit["id"], "agency_id": unit["agency_id"]},
        "leader": {"agency_id": unit["agency_id"]},
    }
    return {
        role: run(
            client,
            create_admin,
            db,
            username=role,
            password=PASSWORD,
            role=role,
            actor="test",
            **grant,
        )
        for role, grant in grants.items()
    }


def login_token(client: TestClient) -> str:
    page = client.get("/admin/login")
    match = re.search(r'name="login_token" value="([^"]+)"', page.text)
    assert match, page.text
    return match.group(1)


def sign_in(client: TestClient, username: str, password: str = PASSWORD) -> Any:
    """Sign in (keeping the client's cookies); returns the response to the login post."""
    return client.post(
        "/admin/login",
        data={"username": username, "password": password, "login_token": login_token(client)},
        follow_redirects=False,
    )


def csrf(client: TestClient, path: str = "/admin/account") -> str:
    page = client.get(path)
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match, f"no CSRF token on {path}: {page.status_code}"
    return match.group(1)


def session_cookie(client: TestClient) -> str:
    value = client.cookies.get("__Host-presensi_session")
    assert value
    return value


def unit_id(client: TestClient) -> int:
    db = app_db(client)
    return int(run(client, db.fetch_val, sa.select(units.c.id).order_by(units.c.id)))
