"""The batcher: concurrent submissions share batches, a failing item is isolated, and a
database that cannot be reached answers the whole batch at once."""

from __future__ import annotations

import asyncio

from backend.checkin.batcher import Batcher
from backend.checkin.records import DatabaseUnavailable


async def test_batcher_isolates_a_failing_item() -> None:
    seen: list[list[int]] = []

    async def run_batch(items: list[int]) -> list[int | Exception]:
        seen.append(items)
        if 13 in items and len(items) > 1:
            raise RuntimeError("a whole-batch failure")
        return [ValueError("bad") if i == 13 else i * 2 for i in items]

    batcher: Batcher[int, int] = Batcher(run_batch, max_batch=10)
    results = await asyncio.gather(*(batcher.submit(i) for i in (1, 13, 3)), return_exceptions=True)
    assert results[0] == 2 and results[2] == 6
    assert isinstance(results[1], ValueError)
    assert seen[0] == [1, 13, 3] and [13] in seen  # retried one by one after the failure
    await batcher.close()


async def test_an_unreachable_database_answers_the_whole_batch_without_retries() -> None:
    seen: list[list[int]] = []

    async def run_batch(items: list[int]) -> list[int | Exception]:
        seen.append(items)
        raise DatabaseUnavailable()

    batcher: Batcher[int, int] = Batcher(run_batch, 10, whole_batch=(DatabaseUnavailable,))
    results = await asyncio.gather(*(batcher.submit(i) for i in (1, 2, 3)), return_exceptions=True)
    assert all(isinstance(r, DatabaseUnavailable) for r in results)
    assert seen == [[1, 2, 3]]  # no retries one by one against a database that is down
    await batcher.close()
