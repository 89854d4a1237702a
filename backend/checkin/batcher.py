"""Coalesce concurrent submissions into batches run one at a time.

While one batch runs the next one gathers, so the batch size grows with the load on its own
and no request waits for a timer. The reads (backend/checkin/reads.py) and the writes
(backend/checkin/records.py) of the check-in each go through one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

from backend.errors import ApiError, storage_full

log = logging.getLogger("presensi.writer")

T = TypeVar("T")
R = TypeVar("R")
MAX_BATCH = 512  # also keeps SQLite under its bound-variable limit in batched reads


class Batcher(Generic[T, R]):
    """``run`` gets a list of items and returns one result per item; a result that is an
    exception is raised in that item's caller only. When ``run`` itself fails for a batch of
    several items, each item is retried alone so one bad record cannot sink its neighbours;
    an exception of a ``whole_batch`` type (the database is unreachable) is every item's
    answer at once, without retries.
    """

    def __init__(
        self,
        run: Callable[[list[T]], Awaitable[Sequence[R | Exception]]],
        max_batch: int,
        *,
        whole_batch: tuple[type[Exception], ...] = (),
    ) -> None:
        self._run = run
        self._max = max_batch
        self._whole_batch = whole_batch
        self._queue: list[tuple[T, asyncio.Future[R]]] = []
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.batches = 0
        self.items = 0

    async def submit(self, item: T) -> R:
        # While a batch runs, its loop is the caller's: asking for the running loop costs a
        # getpid() system call on Python 3.11, and this is every check-in's path.
        loop = self._loop
        if self._task is None or loop is None:
            loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        self._queue.append((item, future))
        if self._task is None:
            self._loop = loop
            self._task = loop.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        try:
            while self._queue:
                batch, self._queue = self._queue[: self._max], self._queue[self._max :]
                await self._run_batch(batch)
        finally:
            self._task = None

    async def _run_batch(self, batch: list[tuple[T, asyncio.Future[R]]]) -> None:
        self.batches += 1
        self.items += len(batch)
        try:
            results: Sequence[R | Exception] = await self._run([item for item, _ in batch])
        except asyncio.CancelledError:
            for _, future in batch:  # never leave a caller waiting on a batch that will not run
                if not future.done():
                    future.set_exception(RuntimeError("the check-in writer was stopped"))
            raise
        except Exception as exc:
            if storage_full(exc):  # every item would fail alike; nothing was stored
                results = [ApiError("storage_full") for _ in batch]
            elif len(batch) == 1 or isinstance(exc, self._whole_batch):
                results = [exc] * len(batch)
            else:
                log.warning("batch of %d failed (%s); retrying one by one", len(batch), exc)
                for one in batch:
                    await self._run_batch([one])
                return
        for (_, future), result in zip(batch, results, strict=True):
            if future.done():  # the caller went away (client disconnected)
                continue
            if isinstance(result, Exception):
                future.set_exception(result)
            else:
                future.set_result(result)

    async def close(self) -> None:
        """Wait for the batches already submitted (shutdown must not drop acknowledged work)."""
        while self._task is not None:
            await asyncio.shield(self._task)
