"""Who reports to whom: positions, the atasan langsung, and acting supervisors (Plt/Plh).

Each employee has at most one supervisor (another employee of the same agency, possibly in
another unit). The chain must not loop back. A delegation lets a delegate decide for a supervisor
during a date range; :func:`approver_for` is the one answer to "who decides this employee's
request on this day", used by requests, activity validation and escalations.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any, TypeVar

import sqlalchemy as sa

from backend.db import delegations, employees, units, utcnow
from backend.errors import ApiError

POSITION_KINDS = ("struktural", "fungsional", "pelaksana")
ECHELONS = ("I.a", "I.b", "II.a", "II.b", "III.a", "III.b", "IV.a", "IV.b")
MAX_DELEGATION_DAYS = 366
MAX_CHAIN = 64  # deeper than any real organisation; a longer walk means a loop

K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True)
class Approver:
    employee_id: int
    nip: str
    name: str
    # The supervisor this approver stands in for, when deciding as a delegate (Plt/Plh).
    acting_for: int | None = None


def normalise_position_kind(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    kind = value.strip().lower()
    if kind not in POSITION_KINDS:
        raise ApiError(
            "validation_failed", detail=f"position_kind: one of {', '.join(POSITION_KINDS)}"
        )
    return kind


def normalise_echelon(value: str | None) -> str | None:
    """``II.a``, ``ii.a``, ``IIa`` and ``II/a`` all mean II.a; empty means none."""
    if value is None or not value.strip() or value.strip() in {"-", "non", "none"}:
        return None
    raw = value.strip().replace("/", ".").replace(" ", "")
    if "." not in raw and len(raw) > 1:
        raw = f"{raw[:-1]}.{raw[-1]}"
    roman, _sep, grade = raw.partition(".")
    echelon = f"{roman.upper()}.{grade.lower()}"
    if echelon not in ECHELONS:
        raise ApiError("validation_failed", detail=f"echelon: one of {', '.join(ECHELONS)}")
    return echelon


def cycles(edges: Mapping[K, K | None]) -> set[K]:
    """Keys whose supervisor chain (following ``edges``) comes back to them."""
    looping: set[K] = set()
    done: set[K] = set()
    for start in edges:
        if start in done:
            continue
        path: list[K] = []
        on_path: set[K] = set()
        node: K | None = start
        while node is not None and node not in done and node not in on_path:
            path.append(node)
            on_path.add(node)
            node = edges.get(node)
        if node is not None and node in on_path:
            looping.update(path[path.index(node) :])
        done.update(path)
    return looping


async def supervisor_edges(conn: Any, agency_id: int) -> dict[int, int | None]:
    rows = await conn.fetch_all(
        sa.select(employees.c.id, employees.c.supervisor_id)
        .select_from(employees.join(units))
        .where(units.c.agency_id == agency_id)
    )
    return {r["id"]: r["supervisor_id"] for r in rows}


async def check_supervisor(conn: Any, employee_id: int, supervisor_id: int | None) -> None:
    """Refuse a supervisor that is the employee, in another agency, or closes a loop."""
    if supervisor_id is None:
        return
    if supervisor_id == employee_id:
        raise ApiError("supervisor_is_self")
    rows = await conn.fetch_all(
        sa.select(employees.c.id, units.c.agency_id)
        .select_from(employees.join(units))
        .where(employees.c.id.in_([employee_id, supervisor_id]))
    )
    agency = {r["id"]: r["agency_id"] for r in rows}
    if supervisor_id not in agency:
        raise ApiError("unknown_supervisor")
    if employee_id in agency and agency[employee_id] != agency[supervisor_id]:
        raise ApiError("supervisor_other_agency")
    edges = await supervisor_edges(conn, agency[supervisor_id])
    edges[employee_id] = supervisor_id
    if employee_id in cycles(edges):
        raise ApiError("supervisor_cycle")


async def set_supervisor(conn: Any, employee_id: int, supervisor_id: int | None) -> None:
    """Within the caller's write transaction: check, then store."""
    await check_supervisor(conn, employee_id, supervisor_id)
    await conn.execute(
        employees.update().where(employees.c.id == employee_id).values(supervisor_id=supervisor_id)
    )


def _active_on(on: date) -> Any:
    return sa.and_(
        delegations.c.cancelled_at.is_(None),
        delegations.c.start_date <= on,
        delegations.c.end_date >= on,
    )


async def delegate_for(conn: Any, supervisor_id: int, on: date) -> Approver | None:
    """The delegate standing in for ``supervisor_id`` on ``on`` (the latest delegation wins)."""
    row = await conn.fetch_one(
        sa.select(employees.c.id, employees.c.nip, employees.c.name)
        .select_from(delegations.join(employees, employees.c.id == delegations.c.delegate_id))
        .where(delegations.c.supervisor_id == supervisor_id, _active_on(on))
        .where(employees.c.active.is_(True))
        .order_by(delegations.c.id.desc())
        .limit(1)
    )
    if row is None:
        return None
    return Approver(row["id"], row["nip"], row["name"], acting_for=supervisor_id)


async def approver_for(conn: Any, employee_id: int, on: date) -> Approver | None:
    """Who decides ``employee_id``'s requests on ``on``: the supervisor's delegate when one is
    acting, else the supervisor; None (the unit operator decides) when there is no active one."""
    sup = sa.alias(employees, "sup")
    row = await conn.fetch_one(
        sa.select(sup.c.id, sup.c.nip, sup.c.name, sup.c.active)
        .select_from(employees.join(sup, sup.c.id == employees.c.supervisor_id))
        .where(employees.c.id == employee_id)
    )
    if row is None:
        return None
    delegate = await delegate_for(conn, row["id"], on)
    if delegate is not None and delegate.employee_id != employee_id:
        return delegate
    if not row["active"]:
        return None
    return Approver(row["id"], row["nip"], row["name"])


async def chain(conn: Any, employee_id: int) -> list[int]:
    """The supervisors above ``employee_id``, nearest first (stops at a loop)."""
    above: list[int] = []
    node = employee_id
    seen = {employee_id}
    for _ in range(MAX_CHAIN):
        sup = await conn.fetch_val(
            sa.select(employees.c.supervisor_id).where(employees.c.id == node)
        )
        if sup is None or sup in seen:
            break
        above.append(sup)
        seen.add(sup)
        node = sup
    return above


async def represented(conn: Any, employee_id: int, on: date) -> list[int]:
    """The supervisors ``employee_id`` decides for on ``on``: themself and those they act for."""
    rows = await conn.fetch_all(
        sa.select(delegations.c.supervisor_id).where(
            delegations.c.delegate_id == employee_id, _active_on(on)
        )
    )
    return [employee_id, *(r["supervisor_id"] for r in rows if r["supervisor_id"] != employee_id)]


async def subordinate_count(conn: Any, employee_id: int, on: date) -> int:
    """Active employees whose requests ``employee_id`` decides on ``on`` (directly or acting)."""
    bosses = await represented(conn, employee_id, on)
    count = await conn.fetch_val(
        sa.select(sa.func.count())
        .select_from(employees)
        .where(employees.c.supervisor_id.in_(bosses), employees.c.active.is_(True))
        .where(employees.c.id != employee_id)
    )
    return int(count or 0)


async def create_delegation(
    conn: Any,
    *,
    supervisor_id: int,
    delegate_id: int,
    start_date: date,
    end_date: date,
    created_by: int | None,
) -> int:
    """Within the caller's write transaction. Both must be in one agency, the range sane."""
    if supervisor_id == delegate_id:
        raise ApiError("delegation_to_self")
    if end_date < start_date:
        raise ApiError("validation_failed", detail="end_date: on or after start_date")
    if (end_date - start_date).days >= MAX_DELEGATION_DAYS:
        raise ApiError(
            "validation_failed", detail=f"a delegation spans at most {MAX_DELEGATION_DAYS} days"
        )
    rows = await conn.fetch_all(
        sa.select(employees.c.id, units.c.agency_id, employees.c.active)
        .select_from(employees.join(units))
        .where(employees.c.id.in_([supervisor_id, delegate_id]))
    )
    found = {r["id"]: r for r in rows}
    if supervisor_id not in found or delegate_id not in found:
        raise ApiError("not_found")
    if found[supervisor_id]["agency_id"] != found[delegate_id]["agency_id"]:
        raise ApiError("supervisor_other_agency")
    if not found[delegate_id]["active"]:
        raise ApiError("employee_inactive")
    return int(
        await conn.execute(
            delegations.insert().values(
                supervisor_id=supervisor_id,
                delegate_id=delegate_id,
                start_date=start_date,
                end_date=end_date,
                created_by=created_by,
                created_at=utcnow(),
            )
        )
    )


async def cancel_delegation(conn: Any, delegation_id: int) -> bool:
    """Within the caller's write transaction; False when there is no such active delegation."""
    live = delegations.c.id == delegation_id, delegations.c.cancelled_at.is_(None)
    if await conn.fetch_val(sa.select(delegations.c.id).where(*live)) is None:
        return False
    await conn.execute(delegations.update().where(*live).values(cancelled_at=utcnow()))
    return True
