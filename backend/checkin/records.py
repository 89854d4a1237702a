"""Group commit for check-ins: concurrent scans share one transaction and one commit.

During the morning rush thousands of phones submit within minutes. Committing each scan in its
own transaction (and, on SQLite, through ``databases``' new connection and thread per query)
spends the server on fsyncs and thread hops. Instead every request hands its verified record to
the ``CheckinWriter``'s batcher; while one batch is being committed the next one gathers. Each
request's future is resolved only after COMMIT returns, so an answer still means the record is
durable.

What a batch writes is decided by backend/checkin/planner.py, the same on every database; each
database supplies its few statements (backend/checkin/sqlite.py, backend/checkin/postgres.py)
and the batched reads of phones and calendars on connections of its own.
"""

from __future__ import annotations

from typing import Any, Protocol

from backend.checkin.batcher import MAX_BATCH, Batcher
from backend.checkin.planner import PendingCheckin, Results, Written
from backend.errors import ApiError, database_unavailable
from backend.rosters import Calendar

# What the check-in needs to know about a phone and its owner; {ids} is filled per backend.
PERSON_SQL = (
    "SELECT d.id, d.public_key, d.revoked_at IS NOT NULL AS revoked, e.id AS employee_id,"
    " e.nip, e.name, e.active, e.unit_id, e.office_id, u.agency_id FROM devices d"
    " JOIN employees e ON e.id = d.employee_id JOIN units u ON u.id = e.unit_id"
    " WHERE d.id {ids}"
)


class Records(Protocol):
    """One database's check-in reads and writes, on connections of its own."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def ready(self) -> bool:
        """Whether a trivial query passes on every connection the check-in path uses."""
        ...

    async def load_people(self, device_ids: list[str]) -> list[dict[str, Any] | None]:
        """The phone and owner (PERSON_SQL) of each device id, None when unknown."""
        ...

    async def load_calendar(self, **query: Any) -> Calendar:
        """``rosters.load_calendar`` for ``rosters.calendar_queries(**query)``."""
        ...

    async def write(self, items: list[PendingCheckin]) -> Results:
        """One transaction for the batch; one ``Written`` or refusal per item."""
        ...


class DatabaseUnavailable(ApiError):
    """The database did not answer (restarting, unreachable, the connection dropped)."""

    def __init__(self) -> None:
        super().__init__("database_unavailable")


def unreachable(exc: BaseException | None) -> bool:
    """Whether ``exc`` (or what caused it) means the database could not be reached, as
    opposed to a query it refused (backend.errors.database_unavailable)."""
    return exc is not None and database_unavailable(exc)


def open_records(database_url: str) -> Records:
    if database_url.startswith("sqlite"):
        from backend.checkin.sqlite import SqliteRecords

        return SqliteRecords(database_url.split("///", 1)[-1])
    from backend.checkin.postgres import PostgresRecords

    return PostgresRecords(database_url)


class CheckinWriter:
    """The one writer of check-in records, shared by every request of this process."""

    def __init__(self, records: Records) -> None:
        self.records = records
        self._batcher: Batcher[PendingCheckin, Written] = Batcher(
            records.write, MAX_BATCH, whole_batch=(DatabaseUnavailable,)
        )

    async def commit(self, item: PendingCheckin) -> Written:
        return await self._batcher.submit(item)

    @property
    def batches(self) -> int:
        return self._batcher.batches

    @property
    def items(self) -> int:
        return self._batcher.items

    async def close(self) -> None:
        await self._batcher.close()
