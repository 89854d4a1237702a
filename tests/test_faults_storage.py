"""The SQLite data folder runs out of space, on a real server process.

A small tmpfs is mounted for the database (the tests run as root; without the permission to
mount they skip, except under CI=true, where they fail). Once the disk is full, check-ins and
other writes answer ``503 storage_full`` with ``Retry-After``, nothing is acknowledged that is
not stored, and as soon as space is freed the same server process serves again.
"""

from __future__ import annotations

import asyncio
import errno
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx2 as httpx
import pytest

from backend import migrate
from backend.checkin.batcher import Batcher
from backend.errors import ApiError, storage_full
from tests.client import Phone
from tests.conftest import IN_CI
from tests.support.faults import (
    PHONE_TIMEOUT,
    acknowledged,
    enrolment_code,
    missing_records,
    seed_site,
)
from tests.support.server import live_server

DISK_SIZE = "8m"


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount_point = tmp_path / "small-disk"
    mount_point.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={DISK_SIZE}", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode:
        reason = f"cannot mount a small tmpfs ({done.stderr.strip() or done.returncode})"
        if IN_CI:
            pytest.fail(f"{reason}; CI=true requires the disk-full test to run")
        pytest.skip(reason)
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def fill(disk: Path) -> Path:
    """Take every free byte of ``disk``; the file that holds them (delete it to free them)."""
    filler = disk / "filler"
    chunk = b"\0" * (64 * 1024)
    with filler.open("wb", buffering=0) as out:
        try:
            while True:
                out.write(chunk)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC, exc
    for size in (4096, 512, 1):  # the last partial blocks
        with filler.open("ab", buffering=0) as out:
            try:
                while True:
                    out.write(b"\0" * size)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC, exc
    return filler


def checkpoint(path: Path) -> None:
    """Move the WAL into the database file and truncate it, so the next write needs space."""
    conn = sqlite3.connect(path)
    try:
        busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        assert busy == 0, "the WAL could not be checkpointed"
    finally:
        conn.close()


@pytest.mark.slow
def test_a_full_disk_answers_storage_full_and_recovers(small_disk: Path, tmp_path: Path) -> None:
    db_path = small_disk / "presensi.db"
    url = f"sqlite+aiosqlite:///{db_path}"
    migrate.upgrade(url)
    site = asyncio.run(seed_site(url, phones=40, empty=False))
    first, second = site.phones[:20], site.phones[20:]
    code = asyncio.run(enrolment_code(url, site.nips[0]))
    answers = []
    with (
        live_server(tmp_path, url, enrol_limit_per_ip="1000") as server,
        httpx.Client(base_url=server.url, timeout=PHONE_TIMEOUT) as http,
    ):
        for phone in first[:5]:
            answers.append(site.check_in(http, phone))
        assert [a.status_code for a in answers] == [201] * 5

        checkpoint(db_path)
        filler = fill(small_disk)
        during = [site.check_in(http, phone) for phone in first[5:]]
        for answer in during:
            assert answer.status_code in (201, 503), answer.text
            assert answer.headers["content-type"] == "application/json"
        refused = [a for a in during if a.status_code == 503]
        assert refused, "no check-in was refused on a full disk"
        for answer in refused:
            assert answer.json()["error"]["code"] == "storage_full"
            assert answer.json()["error"]["message"] != answer.json()["error"]["message_en"]
            assert int(answer.headers["retry-after"]) > 0
        answers += during

        # Not only the check-in writer: an enrolment (through `databases`) says the same, and
        # its code is not used up by the attempt.
        new_phone = Phone(http)
        enrol = new_phone.enrol(site.nips[0], code)
        assert enrol.status_code == 503, enrol.text
        assert enrol.json()["error"]["code"] == "storage_full"
        assert int(enrol.headers["retry-after"]) > 0

        filler.unlink()  # space is back: the same process serves again, no repair
        after = [site.check_in(http, phone) for phone in second]
        assert [a.status_code for a in after] == [201] * len(second), after[0].text
        # A scan refused while the disk was full goes through when the phone retries it.
        retried = [site.check_in(http, first[5 + during.index(a)]) for a in refused[:3]]
        assert {a.status_code for a in retried} <= {200, 201}
        answers += after + retried
        assert new_phone.enrol(site.nips[0], code).status_code == 201
        assert server.process.poll() is None
    assert asyncio.run(missing_records(url, acknowledged(answers))) == []
    tracebacks = [line for line in server.log if "Traceback" in line]
    assert not tracebacks, "\n".join(server.log[-40:])


def _rollback_after(exc: BaseException) -> sqlite3.OperationalError:
    """What a ROLLBACK after SQLITE_FULL raises: SQLite had already rolled back."""
    try:
        try:
            raise exc
        except BaseException:
            raise sqlite3.OperationalError("cannot rollback - no transaction is active")  # noqa: B904
    except sqlite3.OperationalError as rollback:
        return rollback


def test_storage_full_recognises_a_full_disk_and_nothing_else() -> None:
    full = sqlite3.OperationalError("database or disk is full")
    assert storage_full(full)
    assert storage_full(OSError(errno.ENOSPC, "No space left on device"))
    assert storage_full(_rollback_after(full))
    assert storage_full(asyncpg.DiskFullError("could not extend file"))
    assert not storage_full(sqlite3.OperationalError("database is locked"))
    assert not storage_full(ConnectionRefusedError(errno.ECONNREFUSED, "refused"))
    assert not storage_full(_rollback_after(ValueError("a bug")))


async def test_a_full_disk_refuses_the_whole_batch_without_retrying_each() -> None:
    runs: list[list[int]] = []

    async def run_batch(items: list[int]) -> list[int | Exception]:
        runs.append(items)
        raise _rollback_after(sqlite3.OperationalError("database or disk is full"))

    batcher: Batcher[int, int] = Batcher(run_batch, max_batch=10)
    results = await asyncio.gather(*(batcher.submit(i) for i in range(4)), return_exceptions=True)
    assert all(isinstance(r, ApiError) and r.code == "storage_full" for r in results), results
    assert runs == [[0, 1, 2, 3]]  # one attempt: every item would fail alike
    await batcher.close()
