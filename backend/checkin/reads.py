"""The check-in's hot path: cached, batched reads, and the process's check-in writer.

What a scan needs to know besides its token: the display's office (time zone, networks, last
seen), the phone's key and owner, and the day's schedule. These change rarely, so they are kept
for a few seconds; phones seen for the first time are loaded together, one query per batch.

Caches never decide a revocation. The write transaction re-reads display and device revocation
and the employee's ``active`` flag (backend/checkin/planner.py), so a revoke committed by any
process is refused at once; and a scan the cached rows would refuse is checked again on fresh
rows, so the error code is the one DESIGN.md's order gives.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Generic, TypeVar

import sqlalchemy as sa
from databases import Database

from backend import apel, rosters
from backend.checkin.batcher import MAX_BATCH, Batcher
from backend.checkin.records import (
    CheckinWriter,
    DatabaseUnavailable,
    Records,
    open_records,
    unreachable,
)
from backend.checkin.userverification import UserVerification
from backend.checkin.verifier import Item, SignatureVerifier
from backend.db import displays, offices
from backend.devices import public_point
from backend.passkeys import Assertion
from backend.rosters import Calendar
from backend.schedules import DaySchedule

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

DISPLAY_TTL = 5.0  # last_seen_at feeds the display_offline flag (3 periods): seconds are fine
PERSON_TTL = 60.0
MAX_ENTRIES = 200_000


SERVING_ENV = "PRESENSI_SERVING"  # set by `presensi serve` (and inherited by its workers)


def tune_gc() -> None:
    """Fewer cyclic-GC passes while serving: a rush keeps thousands of requests' objects alive,
    and the default thresholds made the collector walk them all many times a second (measured
    with scripts/bench/checkin: 414 → 366 µs of CPU per check-in). What exists after startup is
    frozen out of collection; reference counting still frees nearly everything at once."""
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)


class TTLCache(Generic[K, V]):
    """A dict whose entries expire; concurrent misses for one key share one load.

    ``None`` (not found) is never kept: a display or phone created a moment ago must be found.
    """

    def __init__(self, ttl: float, max_entries: int = MAX_ENTRIES) -> None:
        self.ttl = ttl
        self._max = max_entries
        self._data: dict[K, tuple[float, V]] = {}
        self._loading: dict[K, asyncio.Future[V | None]] = {}

    async def get(
        self, key: K, load: Callable[[], Awaitable[V | None]], *, fresh: bool = False
    ) -> V | None:
        now = time.monotonic()
        if not fresh:
            hit = self._data.get(key)
            if hit is not None and hit[0] > now:
                return hit[1]
            pending = self._loading.get(key)
            if pending is not None:
                return await asyncio.shield(pending)
        future = asyncio.ensure_future(load())
        self._loading[key] = future
        try:
            value = await asyncio.shield(future)
        finally:
            if self._loading.get(key) is future:
                del self._loading[key]
        if value is not None:
            self.put(key, value)
        return value

    def peek(self, key: K) -> V | None:
        hit = self._data.get(key)
        return hit[1] if hit is not None and hit[0] > time.monotonic() else None

    def put(self, key: K, value: V) -> None:
        if len(self._data) >= self._max:
            self._data.pop(next(iter(self._data)))  # the oldest insertion
        self._data[key] = (time.monotonic() + self.ttl, value)

    def forget(self, key: K) -> None:
        self._data.pop(key, None)


@dataclass(frozen=True)
class DayQuery:
    employee_id: int
    agency_id: int
    unit_id: int
    local: datetime


def working_day_on(calendar: Calendar, q: DayQuery) -> tuple[date, DaySchedule | None]:
    """``backend.rosters.working_day_on`` for one batched query."""
    return rosters.working_day_on(
        calendar,
        employee_id=q.employee_id,
        agency_id=q.agency_id,
        unit_id=q.unit_id,
        local=q.local,
    )


WorkingDay = tuple[date, DaySchedule | None]


@dataclass(frozen=True)
class Scan:
    """What the read stage needs of one check-in."""

    device_id: str
    local: datetime  # the scan's time in the display's zone
    signature: bytes | None  # raw r||s, None when it could not be decoded
    message: bytes  # what the phone signed
    fresh: bool  # read the phone and owner again, ignoring the cache
    assertion: Assertion | None = None  # the owner's verification, when the phone sent one


@dataclass(frozen=True)
class Parties:
    """A scan's phone and owner (None: unknown device), the working day it counts for, and
    whether its signature is the phone's (checked only for a known, unrevoked phone)."""

    person: dict[str, Any] | None
    day: WorkingDay | None
    signature_valid: bool
    assertion: str | None = None  # "ok" or the refusal's code, when the scan had an assertion


class HotPath:
    """Everything a check-in reads and writes, shared by the requests of one process."""

    def __init__(self, db: Database, records: Records, *, signature_helpers: int = 0) -> None:
        self.db = db
        self.records = records
        self.writer = CheckinWriter(records)
        self.verifier = SignatureVerifier(signature_helpers)
        self.apel = apel.Schedule(db)  # the apel sessions, for apel tokens and the displays
        self.user_verification = UserVerification(db)
        self._displays: TTLCache[int, dict[str, Any]] = TTLCache(DISPLAY_TTL)
        self._persons: TTLCache[str, dict[str, Any]] = TTLCache(PERSON_TTL)
        self._scans: Batcher[Scan, Parties] = Batcher(
            self._read_scans, MAX_BATCH, whole_batch=(DatabaseUnavailable,)
        )

    @classmethod
    def for_url(cls, db: Database, database_url: str, *, signature_helpers: int) -> HotPath:
        return cls(db, open_records(database_url), signature_helpers=signature_helpers)

    async def start(self) -> None:
        await self.records.start()
        await self.verifier.start()
        if os.environ.get(SERVING_ENV):
            tune_gc()

    async def stop(self) -> None:
        await self.writer.close()
        await self._scans.close()
        await self.verifier.stop()
        await self.records.stop()

    async def ready(self) -> bool:
        """Whether a check-in could be read and written now: a trivial query through the
        same connections the check-in path uses (``databases``' pool and the records' own)."""
        try:
            await self.db.fetch_val("SELECT 1")
        except Exception as exc:
            if not unreachable(exc):
                raise
            return False
        return await self.records.ready()

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[HotPath]:
        await self.start()
        try:
            yield self
        finally:
            await self.stop()

    async def display(self, display_id: int, *, fresh: bool = False) -> dict[str, Any] | None:
        if not fresh:
            hit = self._displays.peek(display_id)
            if hit is not None:
                return hit

        async def load() -> dict[str, Any] | None:
            try:
                row = await self._fetch_display(display_id)
            except Exception as exc:
                if unreachable(exc):
                    raise DatabaseUnavailable() from exc
                raise
            return None if row is None else dict(row._mapping)

        return await self._displays.get(display_id, load, fresh=fresh)

    async def _fetch_display(self, display_id: int) -> Any:
        return await self.db.fetch_one(
            sa.select(
                displays.c.id,
                displays.c.revoked_at,
                displays.c.last_seen_at,
                offices.c.id.label("office_id"),
                offices.c.timezone,
                offices.c.allowed_networks,
                offices.c.latitude,
                offices.c.longitude,
                offices.c.radius_m,
            )
            .select_from(displays.join(offices))
            .where(displays.c.id == display_id)
        )

    async def _load_people(self, device_ids: list[str]) -> list[dict[str, Any] | None]:
        people: list[dict[str, Any] | None] = []
        for row in await self.records.load_people(device_ids):
            person = None
            if row is not None:
                person = {**row, "point": public_point(json.loads(row["public_key"]))}
                self._persons.put(row["id"], person)
            people.append(person)
        return people

    async def parties(self, scan: Scan) -> Parties:
        """The phone's owner, the working day and the signature's verdict for one scan, read
        and verified in one batch with the concurrent scans': one read of the phones not
        cached, then the signatures (in the helper process) while the calendar loads."""
        return await self._scans.submit(scan)

    async def _read_scans(self, scans: list[Scan]) -> list[Parties | Exception]:
        people: dict[str, dict[str, Any] | None] = {}
        missing: list[str] = []
        for scan in scans:
            cached = None if scan.fresh else self._persons.peek(scan.device_id)
            if cached is None:
                missing.append(scan.device_id)
            else:
                people[scan.device_id] = cached
        if missing:
            people.update(zip(missing, await self._load_people(missing), strict=True))
        to_verify: list[int] = []
        signed: list[Item] = []
        queries: list[DayQuery | None] = []
        for n, scan in enumerate(scans):
            person = people[scan.device_id]
            if person is None:
                queries.append(None)
                continue
            queries.append(
                DayQuery(person["employee_id"], person["agency_id"], person["unit_id"], scan.local)
            )
            if not person["revoked"] and scan.signature is not None:
                to_verify.append(n)
                signed.append((person["point"], scan.signature, scan.message))
        asserted = [(n, scans[n], a) for n in to_verify if (a := scans[n].assertion)]
        passkeys = await self.user_verification.prepare(asserted) if asserted else None
        if passkeys is not None:
            signed += passkeys.items  # one more verification each, in the same helper batch
        verdicts = asyncio.ensure_future(self.verifier.verify(signed))
        try:
            days = iter(await self._working_days([q for q in queries if q is not None]))
        finally:
            answers = await verdicts
            valid = dict(zip(to_verify, answers[: len(to_verify)], strict=True))
        assertions = passkeys.verdicts(answers[len(to_verify) :]) if passkeys else {}
        results: list[Parties | Exception] = []
        for n, (scan, query) in enumerate(zip(scans, queries, strict=True)):
            day = None if query is None else next(days)
            person = people[scan.device_id]
            results.append(Parties(person, day, valid.get(n, False), assertions.get(n)))
        return results

    async def working_day(
        self, *, employee_id: int, agency_id: int, unit_id: int, local: datetime
    ) -> WorkingDay:
        """``backend.rosters.working_day`` as the check-in decides it, from the calendar that
        ``parties`` loads for a batch (rosters, holidays and rules read fresh: no stale shifts)."""
        (day,) = await self._working_days([DayQuery(employee_id, agency_id, unit_id, local)])
        return day

    async def _working_days(self, queries: list[DayQuery]) -> list[WorkingDay]:
        if not queries:
            return []
        calendar = await self.records.load_calendar(
            agency_ids={q.agency_id for q in queries},
            employee_ids=sorted({q.employee_id for q in queries}),
            start=min(q.local.date() for q in queries) - timedelta(days=1),
            end=max(q.local.date() for q in queries),
        )
        return [working_day_on(calendar, q) for q in queries]

    def forget(self, *, display_id: int | None = None, device_id: str | None = None) -> None:
        if display_id is not None:
            self._displays.forget(display_id)
        if device_id is not None:
            self._persons.forget(device_id)
