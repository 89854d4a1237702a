"""Fraud patterns across scans: computed as scans arrive and in a nightly pass.

Each pattern found is a cluster of scans (``fraud_clusters``, per agency, pattern and key) that
an agency admin reviews on the "Indikasi kecurangan" page, confirming or dismissing it; the
decision is kept. The cluster's pattern is a flag on each of its scans (shown with the record's
own flags), but flags never change a verdict.

- ``shared_client``: 3 or more different employees scanning from the same client IP and user
  agent within 60 s (one person scanning for several colleagues); one cluster per client a day.
- ``shared_coordinates``: identical reported coordinates (to 5 decimals, and the same value to
  7, see EXACT_DECIMALS) across different employees on different days; one cluster per
  coordinate.
- ``impossible_travel``: consecutive scans of one employee at two offices farther apart than
  60 km/h allows (the offices' geofence positions); one cluster per employee a day.
- ``console_token``: scans made with a token printed by ``presensi display token``; one cluster
  per printed token, and every use is in the audit log with who printed it.
- ``platform_changed``: a device whose user agent changes platform (Android, iOS, …) mid-life;
  one cluster per device.

``detect`` is pure: the same rows give the same clusters, so the arrival pass (``FraudWatch``,
after the scan's answer, off the hot path) and the nightly pass (``nightly``, also
``presensi fraud-scan``) agree, and running either twice adds nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import logging
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from time import monotonic as time_now
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from databases import Database

from backend import audit, geofence
from backend.db import (
    as_utc,
    audit_log,
    checkins,
    dialect_insert,
    employees,
    fraud_cluster_scans,
    fraud_clusters,
    insert_or_lock,
    offices,
    units,
    utcnow,
)

log = logging.getLogger("presensi.fraud")

PATTERNS = (
    "shared_client",
    "shared_coordinates",
    "impossible_travel",
    "console_token",
    "platform_changed",
)
DECISIONS = ("confirmed", "dismissed")
SHARED_CLIENT_SECONDS = 60
SHARED_CLIENT_EMPLOYEES = 3
COORDINATE_DECIMALS = 5
# Fixes scattered inside one office agree to 5 decimals (1 m) by chance many times a month
# (tests/test_fraud.py: 69 such pairs in the generated month); a mock-location app repeats its
# value exactly. So the values must also agree to 7 decimals (1 cm), which GPS noise never does.
EXACT_DECIMALS = 7
MAX_SPEED_KMH = 60.0
# How far back the arrival pass looks for a device's or an employee's previous scan (a day:
# the previous scan of a working day; at 60 km/h a day is farther than any two offices of an
# agency), and the nightly pass (a week: a platform change over a weekend).
HISTORY = timedelta(days=1)
NIGHTLY_HISTORY = timedelta(days=7)
ARRIVAL_BATCH = 1000
# The arrival pass waits for a lull of this many seconds without new scans (at most
# ARRIVAL_MAX_DELAY after the first one waiting), so during the morning rush it does not compete
# with the check-ins for the server, and it runs on few large queries.
ARRIVAL_DELAY = 2.0
ARRIVAL_MAX_DELAY = 60.0


@dataclass(frozen=True)
class Found:
    pattern: str
    agency_id: int
    key: str
    checkin_ids: frozenset[int]
    first_at: datetime
    last_at: datetime


def platform(user_agent: str) -> str:
    """The operating system a user agent names ("" when it names none we know)."""
    ua = user_agent.lower()
    for needle, name in (
        ("android", "android"),
        ("iphone", "ios"),
        ("ipad", "ios"),
        ("ipod", "ios"),
        ("cros", "chromeos"),
        ("windows", "windows"),
        ("macintosh", "macos"),
        ("mac os x", "macos"),
        ("linux", "linux"),
    ):
        if needle in ua:
            return name
    return ""


def _found(pattern: str, agency_id: int, key: str, rows: Iterable[dict[str, Any]]) -> Found:
    rows = list(rows)
    times = [r["at"] for r in rows]
    return Found(
        pattern, agency_id, key[:200], frozenset(r["id"] for r in rows), min(times), max(times)
    )


def _shared_client(rows: list[dict[str, Any]]) -> list[Found]:
    groups: dict[tuple[int, str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        if r["client_ip"]:
            groups[(r["agency_id"], r["client_ip"], r["user_agent"])].append(r)
    found = []
    window = timedelta(seconds=SHARED_CLIENT_SECONDS)
    for (agency_id, ip, ua), scans in groups.items():
        scans.sort(key=lambda r: (r["at"], r["id"]))
        members: dict[int, dict[str, Any]] = {}
        people: Counter[int] = Counter()
        start = 0
        for end, scan in enumerate(scans):
            people[scan["employee_id"]] += 1
            while scan["at"] - scans[start]["at"] > window:
                people[scans[start]["employee_id"]] -= 1
                if not people[scans[start]["employee_id"]]:
                    del people[scans[start]["employee_id"]]
                start += 1
            if len(people) >= SHARED_CLIENT_EMPLOYEES:
                members.update((s["id"], s) for s in scans[start : end + 1])
        by_day: dict[date, list[dict[str, Any]]] = defaultdict(list)
        for m in members.values():
            by_day[m["local_date"]].append(m)
        client = hashlib.sha256(f"{ip}|{ua}".encode()).hexdigest()[:16]
        for day, day_rows in by_day.items():
            found.append(_found("shared_client", agency_id, f"{client}|{day}", day_rows))
    return found


def coordinate_key(latitude: float, longitude: float) -> str:
    return f"{latitude:.{COORDINATE_DECIMALS}f},{longitude:.{COORDINATE_DECIMALS}f}"


def _shared_coordinates(rows: list[dict[str, Any]]) -> list[Found]:
    groups: dict[tuple[int, str], dict[str, list[dict[str, Any]]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for r in rows:
        if r["latitude"] is not None and r["longitude"] is not None:
            key = coordinate_key(r["latitude"], r["longitude"])
            exact = f"{r['latitude']:.{EXACT_DECIMALS}f},{r['longitude']:.{EXACT_DECIMALS}f}"
            groups[(r["agency_id"], key)][exact].append(r)
    found = []
    for (agency_id, key), by_value in groups.items():
        # Two employees and two days among the scans: then some pair differs in both.
        members = [
            s
            for scans in by_value.values()
            if len({s["employee_id"] for s in scans}) >= 2
            and len({s["local_date"] for s in scans}) >= 2
            for s in scans
        ]
        if members:
            found.append(_found("shared_coordinates", agency_id, key, members))
    return found


def _impossible_travel(
    rows: list[dict[str, Any]], places: dict[int, tuple[float, float]]
) -> list[Found]:
    by_employee: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        by_employee[r["employee_id"]].append(r)
    found = []
    for employee_id, scans in by_employee.items():
        scans.sort(key=lambda r: (r["at"], r["id"]))
        for before, after in itertools.pairwise(scans):
            if before["office_id"] == after["office_id"]:
                continue
            a, b = places.get(before["office_id"]), places.get(after["office_id"])
            if a is None or b is None:
                continue
            km = geofence.distance_m(*a, *b) / 1000
            hours = (after["at"] - before["at"]).total_seconds() / 3600
            if km > MAX_SPEED_KMH * hours:
                key = f"{employee_id}|{after['local_date']}"
                found.append(_found("impossible_travel", after["agency_id"], key, [before, after]))
    return _merged(found)


def _console_token(rows: list[dict[str, Any]]) -> list[Found]:
    groups: dict[tuple[int, str], list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        if "console_token" in r["flags"].split(","):
            groups[(r["agency_id"], f"{r['display_id']}|{r['window']}")].append(r)
    return [_found("console_token", a, key, scans) for (a, key), scans in groups.items()]


def _platform_changed(rows: list[dict[str, Any]]) -> list[Found]:
    by_device: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        by_device[r["device_id"]].append(r)
    found = []
    for device_id, scans in by_device.items():
        scans.sort(key=lambda r: (r["at"], r["id"]))
        known = [(s, platform(s["user_agent"])) for s in scans]
        known = [(s, p) for s, p in known if p]
        for (before, p0), (after, p1) in itertools.pairwise(known):
            if p0 != p1:
                found.append(
                    _found("platform_changed", after["agency_id"], device_id, [before, after])
                )
    return _merged(found)


def _merged(found: list[Found]) -> list[Found]:
    """Findings with the same cluster key as one."""
    by_key: dict[tuple[str, int, str], Found] = {}
    for f in found:
        k = (f.pattern, f.agency_id, f.key)
        if k in by_key:
            o = by_key[k]
            f = Found(
                f.pattern, f.agency_id, f.key, o.checkin_ids | f.checkin_ids,
                min(o.first_at, f.first_at), max(o.last_at, f.last_at),
            )  # fmt: skip
        by_key[k] = f
    return list(by_key.values())


def detect(rows: list[dict[str, Any]], places: dict[int, tuple[float, float]]) -> list[Found]:
    """Every pattern among ``rows`` (ROW_COLUMNS, ``at`` in UTC); ``places`` maps an office id
    to its position, for offices that have one."""
    rows = [{**r, "at": as_utc(r["at"])} for r in {r["id"]: r for r in rows}.values()]
    return [
        *_shared_client(rows),
        *_shared_coordinates(rows),
        *_impossible_travel(rows, places),
        *_console_token(rows),
        *_platform_changed(rows),
    ]


ROW_COLUMNS = (
    checkins.c.id,
    checkins.c.employee_id,
    checkins.c.device_id,
    checkins.c.display_id,
    checkins.c.window,
    checkins.c.office_id,
    units.c.agency_id,
    checkins.c.at,
    checkins.c.local_date,
    checkins.c.client_ip,
    checkins.c.user_agent,
    checkins.c.latitude,
    checkins.c.longitude,
    checkins.c.flags,
)


def _rows_query(where: Any) -> Any:
    return (
        sa.select(*ROW_COLUMNS)
        .select_from(
            checkins.join(employees, employees.c.id == checkins.c.employee_id).join(
                units, units.c.id == employees.c.unit_id
            )
        )
        .where(where)
    )


async def _rows(db: Database, where: Any) -> list[dict[str, Any]]:
    return [dict(r._mapping) for r in await db.fetch_all(_rows_query(where))]


async def places(db: Database) -> dict[int, tuple[float, float]]:
    found = await db.fetch_all(
        sa.select(offices.c.id, offices.c.latitude, offices.c.longitude).where(
            offices.c.latitude.is_not(None), offices.c.longitude.is_not(None)
        )
    )
    return {r["id"]: (r["latitude"], r["longitude"]) for r in found}


async def apply(db: Database, found: list[Found], *, now: datetime | None = None) -> int:
    """Store the clusters and their scans (idempotent); the number of scans newly clustered.
    A decided cluster keeps its decision when scans join it."""
    now = now or utcnow()
    added = 0
    for f in sorted(found, key=lambda f: (f.agency_id, f.pattern, f.key)):
        async with db.transaction():
            created, row = await insert_or_lock(
                db,
                fraud_clusters,
                {"agency_id": f.agency_id, "pattern": f.pattern, "key": f.key},
                {"first_at": f.first_at, "last_at": f.last_at, "created_at": now},
            )
            cluster_id = row["id"]
            if not created and (
                as_utc(row["first_at"]) > f.first_at or as_utc(row["last_at"]) < f.last_at
            ):
                await db.execute(
                    fraud_clusters.update()
                    .where(fraud_clusters.c.id == cluster_id)
                    .values(
                        first_at=min(as_utc(row["first_at"]), f.first_at),
                        last_at=max(as_utc(row["last_at"]), f.last_at),
                    )
                )
            have = {
                r["checkin_id"]
                for r in await db.fetch_all(
                    sa.select(fraud_cluster_scans.c.checkin_id).where(
                        fraud_cluster_scans.c.cluster_id == cluster_id
                    )
                )
            }
            new = sorted(f.checkin_ids - have)
            if not new:
                continue
            await db.execute(
                dialect_insert(db, fraud_cluster_scans)
                .values([{"cluster_id": cluster_id, "checkin_id": c} for c in new])
                .on_conflict_do_nothing()
            )
            added += len(new)
            if f.pattern == "console_token":
                await _audit_console_uses(db, f, new)
    return added


async def _audit_console_uses(db: Database, f: Found, checkin_ids: list[int]) -> None:
    """Each scan made with a printed token, in the audit log with who printed it."""
    display_id, window = f.key.split("|")
    printed = await db.fetch_one(
        sa.select(audit_log.c.actor, audit_log.c.at)
        .where(
            audit_log.c.action == "display.console_token",
            audit_log.c.target == console_target(int(display_id), int(window)),
        )
        .order_by(audit_log.c.id.desc())
        .limit(1)
    )
    for checkin_id in checkin_ids:
        who = await db.fetch_one(
            sa.select(employees.c.nip, checkins.c.device_id)
            .select_from(checkins.join(employees, employees.c.id == checkins.c.employee_id))
            .where(checkins.c.id == checkin_id)
        )
        await audit.record(
            db,
            actor="system",
            action="checkin.console_token",
            target=f"checkin:{checkin_id}",
            detail={
                "display_id": int(display_id),
                "window": int(window),
                "printed_by": printed["actor"] if printed else "",
                "printed_at": printed["at"] if printed else None,
                "nip": who["nip"] if who else "",
            },
        )


def console_target(display_id: int, window: int) -> str:
    """The audit target of ``presensi display token`` for one token."""
    return f"display:{display_id}:window:{window}"


async def scan_range(db: Database, start: date, end: date, *, now: datetime | None = None) -> int:
    """The nightly pass over working days ``start``..``end`` (with a week before them for
    previous scans, and every stored coordinate); the number of scans newly clustered."""
    rows = await _rows(db, checkins.c.local_date.between(start - NIGHTLY_HISTORY, end))
    rows += await _rows(db, checkins.c.latitude.is_not(None))
    found = [
        f for f in detect(rows, await places(db)) if any(start <= d <= end for d in _days(rows, f))
    ]
    return await apply(db, found, now=now)


def _days(rows: list[dict[str, Any]], f: Found) -> set[date]:
    return {r["local_date"] for r in rows if r["id"] in f.checkin_ids}


async def arrived(db: Database, checkin_ids: list[int], *, now: datetime | None = None) -> int:
    """The arrival pass for new scans: their context from the database, then ``detect``."""
    new = await _rows(db, checkins.c.id.in_(checkin_ids))
    if not new:
        return 0
    first = min(as_utc(r["at"]) for r in new)
    last = max(as_utc(r["at"]) for r in new)
    near = timedelta(seconds=SHARED_CLIENT_SECONDS)
    context = await _rows(
        db,
        checkins.c.client_ip.in_({r["client_ip"] for r in new})
        & checkins.c.at.between(first - near, last + near),
    )
    context += await _rows(
        db,
        (
            checkins.c.employee_id.in_({r["employee_id"] for r in new})
            | checkins.c.device_id.in_({r["device_id"] for r in new})
        )
        & checkins.c.at.between(first - HISTORY, last + near),
    )
    spots = sorted(
        {
            (r["latitude"], r["longitude"])
            for r in new
            if r["latitude"] is not None and r["longitude"] is not None
        }
    )
    if spots:
        # Scans whose values agree to EXACT_DECIMALS with a new one, found through the
        # coordinates index; plain SQL, as an expression of hundreds of ranges costs more to
        # build and compile than the query takes.
        h = 0.5 * 10**-EXACT_DECIMALS
        loaded = {r["id"] for r in new} | {r["id"] for r in context}
        for start in range(0, len(spots), 100):
            chunk = spots[start : start + 100]
            ranges = " OR ".join(
                f"(latitude BETWEEN :a{i} AND :b{i} AND longitude BETWEEN :c{i} AND :d{i})"
                for i in range(len(chunk))
            )
            values: dict[str, float] = {}
            for i, (lat, lon) in enumerate(chunk):
                values |= {f"a{i}": lat - h, f"b{i}": lat + h, f"c{i}": lon - h, f"d{i}": lon + h}
            found_ids = {
                r[0]
                for r in await db.fetch_all(
                    f"SELECT id FROM checkins WHERE {ranges}",  # noqa: S608 (numbered names)
                    values,
                )
            } - loaded
            if found_ids:
                context += await _rows(db, checkins.c.id.in_(sorted(found_ids)))
    ids = set(checkin_ids)
    found = [f for f in detect(new + context, await places(db)) if f.checkin_ids & ids]
    return await apply(db, found, now=now)


async def nightly(
    db: Database, retention_days: int, timezone: str, *, now: datetime | None = None
) -> tuple[int, int]:
    """Yesterday's and today's patterns, and the position purge: (clustered, cleared)."""
    now = now or utcnow()
    today = now.astimezone(ZoneInfo(timezone)).date()
    clustered = await scan_range(db, today - timedelta(days=1), today, now=now)
    cleared = await geofence.purge(db, retention_days, now=now)
    return clustered, cleared


async def decide(
    db: Database, cluster_id: int, decision: str, note: str, actor: str, ip: str = ""
) -> None:
    """A reviewer confirms or dismisses a cluster; the decision is kept (and audited)."""
    async with db.transaction():
        await db.execute(
            fraud_clusters.update()
            .where(fraud_clusters.c.id == cluster_id)
            .values(status=decision, note=note[:500], decided_by=actor[:100], decided_at=utcnow())
        )
        await audit.record(
            db,
            actor=actor,
            action=f"fraud.{decision}",
            target=f"fraud_cluster:{cluster_id}",
            detail={"note": note[:500]},
            ip=ip,
        )


class FraudWatch:
    """The arrival pass, after the answer: ``seen`` queues a new scan's id without waiting; a
    task of its own clusters them in batches, and runs the nightly pass once a day."""

    def __init__(
        self,
        db: Database,
        *,
        retention_days: int,
        timezone: str,
        clock: Callable[[], datetime] = utcnow,
        nightly_at: time = time(1, 0),
        delay: float = ARRIVAL_DELAY,
    ) -> None:
        self.delay = delay
        self._first_seen = self._last_seen = 0.0
        self.db = db
        self.retention_days = retention_days
        self.timezone = timezone
        self.clock = clock
        self.nightly_at = nightly_at
        self._pending: list[int] = []
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None
        self.passes = 0
        self.nightly_done = asyncio.Event()  # set after each nightly pass (for tests)

    def seen(self, checkin_id: int) -> None:
        self._last_seen = time_now()
        if not self._pending:
            self._first_seen = self._last_seen
        self._pending.append(checkin_id)
        self._idle.clear()
        self._wake.set()

    async def idle(self) -> None:
        """Until every scan seen so far has been through the arrival pass (for tests)."""
        await self._idle.wait()

    def _next_nightly(self) -> datetime:
        zone = ZoneInfo(self.timezone)
        local = self.clock().astimezone(zone)
        at = datetime.combine(local.date(), self.nightly_at, zone)
        return at if at > local else at + timedelta(days=1)

    async def _run(self) -> None:
        due = self._next_nightly()
        while True:
            wait = max(0.0, (due - self.clock()).total_seconds())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=min(wait, 3600))
            self._wake.clear()
            while self._pending and self.delay:  # wait for a lull in the rush
                now_s = time_now()
                lull = self._last_seen + self.delay - now_s
                if lull <= 0 or now_s - self._first_seen >= ARRIVAL_MAX_DELAY:
                    break
                await asyncio.sleep(lull)
            while self._pending:
                batch, self._pending = self._pending[:ARRIVAL_BATCH], self._pending[ARRIVAL_BATCH:]
                try:
                    await arrived(self.db, batch, now=self.clock())
                except Exception:  # a signal for reviewers: never take the server down
                    log.exception("fraud patterns: the arrival pass failed")
                self.passes += 1
            self._idle.set()
            if self.clock() >= due:
                try:
                    clustered, cleared = await nightly(
                        self.db, self.retention_days, self.timezone, now=self.clock()
                    )
                    log.info(
                        "nightly pass: %d scans clustered, %d positions cleared", clustered, cleared
                    )
                except Exception:
                    log.exception("fraud patterns: the nightly pass failed")
                self.nightly_done.set()
                due = self._next_nightly()

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        self._task = asyncio.create_task(self._run())
        try:
            yield
        finally:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
