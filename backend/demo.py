"""Demo data: an agency, a unit, an office, a display, staff and an admin. Idempotent."""

from __future__ import annotations

import secrets
from typing import Any

import sqlalchemy as sa
from databases import Database

from backend import audit
from backend.accounts import hash_password
from backend.db import admin_users, agencies, displays, employees, offices, units, utcnow
from display_server.pairing import create_display, issue_pairing_code

FIRST = (
    "Budi", "Siti", "Agus", "Dewi", "Rina", "Andi", "Sri", "Joko", "Nur", "Wahyu",
    "Putri", "Dedi", "Ayu", "Hendra", "Fitri", "Rudi", "Lestari", "Eko", "Indah", "Yusuf",
)  # fmt: skip
LAST = (
    "Santoso", "Rahayu", "Saputra", "Wulandari", "Hidayat", "Kusuma", "Pratama", "Lubis",
    "Siregar", "Nasution", "Hasibuan", "Harahap", "Simanjuntak", "Setiawan", "Purnama",
)  # fmt: skip
DEMO_AGENCY = "DEMO"
DEMO_ADMIN = "admin"


def demo_nip(i: int) -> str:
    """A well-formed ASN NIP: birth date, appointment month, sex, sequence (18 digits)."""
    birth = f"19{70 + i % 25:02d}{1 + i % 12:02d}{1 + i % 28:02d}"
    appointed = f"20{5 + i % 15:02d}{1 + (i * 7) % 12:02d}"
    return f"{birth}{appointed}{1 + i % 2}{i % 1000:03d}"


async def _one(db: Database, query: Any) -> Any:
    return await db.fetch_val(query)


async def ensure_demo(db: Database, secret_key: bytes, n_employees: int = 20) -> dict[str, Any]:
    now = utcnow()
    agency_id = await _one(db, sa.select(agencies.c.id).where(agencies.c.code == DEMO_AGENCY))
    if agency_id is None:
        agency_id = await _one(
            db,
            agencies.insert()
            .values(code=DEMO_AGENCY, name="Pemerintah Kota Demo", created_at=now)
            .returning(agencies.c.id),
        )
    unit_id = await _one(db, sa.select(units.c.id).where(units.c.agency_id == agency_id))
    if unit_id is None:
        unit_id = await _one(
            db,
            units.insert()
            .values(
                agency_id=agency_id,
                code="DISKOMINFO",
                name="Dinas Komunikasi dan Informatika",
                created_at=now,
            )
            .returning(units.c.id),
        )
    office = await db.fetch_one(sa.select(offices).where(offices.c.agency_id == agency_id))
    if office is None:
        office_id = await _one(
            db,
            offices.insert()
            .values(
                agency_id=agency_id,
                unit_id=unit_id,
                name="Kantor Diskominfo",
                address="Jl. Merdeka No. 1",
                timezone="Asia/Jakarta",
                created_at=now,
            )
            .returning(offices.c.id),
        )
        office = await db.fetch_one(sa.select(offices).where(offices.c.id == office_id))
    assert office is not None
    display = await db.fetch_one(sa.select(displays).where(displays.c.office_id == office["id"]))
    pairing_code = None
    if display is None:
        display_id, pairing_code = await create_display(
            db, secret_key, office["id"], "Layar Lobi", actor="cli:demo"
        )
    else:
        display_id = display["id"]
        if display["credential_hash"] is None and display["revoked_at"] is None:
            pairing_code = await issue_pairing_code(db, secret_key, display_id, actor="cli:demo")

    have = {r["nip"] for r in await db.fetch_all(sa.select(employees.c.nip))}
    new_rows = []
    for i in range(n_employees):
        nip = demo_nip(i)
        if nip not in have:
            name = f"{FIRST[i % len(FIRST)]} {LAST[(i * 7 + i // len(FIRST)) % len(LAST)]}"
            new_rows.append(
                {
                    "nip": nip,
                    "name": name,
                    "unit_id": unit_id,
                    "office_id": office["id"],
                    "kind": "asn",
                    "created_at": now,
                }
            )
    if new_rows:
        await db.execute_many(employees.insert(), new_rows)

    # The demo admin's password is set anew on every run so it can always be printed.
    password = secrets.token_urlsafe(9)
    admin_id = await _one(
        db, sa.select(admin_users.c.id).where(admin_users.c.username == DEMO_ADMIN)
    )
    values = {"password_hash": hash_password(password), "password_changed_at": now}
    if admin_id is None:
        await db.execute(
            admin_users.insert().values(
                username=DEMO_ADMIN, role="super_admin", created_at=now, **values
            )
        )
    else:
        await db.execute(admin_users.update().where(admin_users.c.id == admin_id).values(**values))
    await audit.record(db, actor="cli:demo", action="demo.ensure")

    staff = await db.fetch_all(
        sa.select(employees.c.nip, employees.c.name)
        .where(employees.c.unit_id == unit_id)
        .order_by(employees.c.id)
    )
    return {
        "office": {"id": office["id"], "name": office["name"]},
        "display": {"id": display_id, "pairing_code": pairing_code},
        "employees": [{"nip": r["nip"], "name": r["name"]} for r in staff],
        "admin": {"username": DEMO_ADMIN, "password": password},
    }
