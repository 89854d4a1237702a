"""``kill -9`` half way through: a check-in rush, a CSV import, a backup restore.

Each runs as a real process (``presensi serve``, ``presensi employee import``, ``presensi
restore``) that is killed with SIGKILL while it writes, then checked: every check-in it
acknowledged is stored, the import is all or nothing, the restored database is the old one or
the new one, and running the same command again works without any repair.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
import sqlalchemy as sa
from databases import Database
from sqlalchemy.ext.asyncio import create_async_engine

from backend import migrate
from backend.backup import backup
from backend.db import audit_log, employees
from tests.support.faults import PHONE_TIMEOUT, acknowledged, missing_records, seed_site
from tests.support.server import ROOT, live_server, server_env
from tests.test_backup import empty_url, snapshot
from tests.test_faults_pg import wait_for

pytestmark = pytest.mark.slow
__all__ = ["empty_url"]  # a fixture of tests/test_backup.py, used here as well


def presensi(env: dict[str, str], *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "backend.cli", *args],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def kill_when(proc: subprocess.Popen[bytes], condition: Callable[[], bool], what: str) -> None:
    """SIGKILL ``proc`` as soon as ``condition`` holds; fail if it ends before that."""

    def reached() -> bool:
        if condition():
            return True
        assert proc.poll() is None, f"the process finished before {what}: raise the row count"
        return False

    try:
        wait_for(reached, what, timeout=120)
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=10) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


async def count_rows(url: str, table: sa.Table) -> int:
    db = Database(url)
    await db.connect()
    try:
        return int(await db.fetch_val(sa.select(sa.func.count()).select_from(table)))
    finally:
        await db.disconnect()


# -- the check-in rush ------------------------------------------------------------------------


def test_kill_9_during_a_check_in_rush_loses_nothing_acknowledged(
    tmp_path: Path, database_url: str
) -> None:
    site = asyncio.run(seed_site(database_url, phones=40))
    scans = [(phone, offset) for offset in (0, -1) for phone in site.phones]
    answers: list[Any] = []
    lock = threading.Lock()
    with live_server(tmp_path, database_url) as server:
        with httpx.Client(base_url=server.url, timeout=PHONE_TIMEOUT) as http:

            def one(scan: tuple[Any, int]) -> None:
                try:
                    answer = site.check_in(http, scan[0], scan[1])
                except httpx.TransportError:
                    return  # the server died: the phone keeps the scan queued
                with lock:
                    answers.append(answer)

            with ThreadPoolExecutor(8) as pool:
                futures = [pool.submit(one, scan) for scan in scans]
                kill_when(server.process, lambda: len(answers) >= 20, "20 check-ins answered")
                for future in futures:
                    future.result()
    assert len(answers) < len(scans), "the kill came after the rush"
    assert {a.status_code for a in answers} <= {200, 201}
    ids = acknowledged(answers)
    assert asyncio.run(missing_records(database_url, ids)) == []

    # Started again on the same database, no repair: the phones retry their queued scans and
    # those that were acknowledged get the same record back.
    by_body = {a.request.content: a.json()["checkin_id"] for a in answers}
    with (
        live_server(tmp_path, database_url) as server,
        httpx.Client(base_url=server.url, timeout=PHONE_TIMEOUT) as http,
    ):
        for answer in answers[:5]:
            again = http.post("/api/v1/checkins", content=answer.request.content,
                              headers={"content-type": "application/json"})  # fmt: skip
            assert again.status_code == 200
            assert again.json()["checkin_id"] == by_body[answer.request.content]
        rest = [site.check_in(http, phone, -1) for phone in site.phones]
        assert {a.status_code for a in rest} <= {200, 201}


# -- the CSV import ---------------------------------------------------------------------------

IMPORT_ROWS = 6_000
PROGRESS = re.compile(rb"(\d+)/(\d+)")


def test_kill_9_during_a_csv_import_imports_nothing(tmp_path: Path, database_url: str) -> None:
    asyncio.run(seed_site(database_url, phones=1))
    before = asyncio.run(count_rows(database_url, employees))
    csv = tmp_path / "pegawai.csv"
    lines = ["nip,name,unit,kind"]
    lines += [f"{198001012006040000 + n},Pegawai {n},DISKOMINFO,asn" for n in range(IMPORT_ROWS)]
    csv.write_text("\n".join(lines) + "\n", encoding="utf-8")
    env = server_env(tmp_path / "data", database_url, "http://127.0.0.1")
    proc = presensi(env, "employee", "import", str(csv))
    assert proc.stderr is not None
    progress = bytearray()
    seen = [0]

    def read_progress() -> None:  # tqdm rewrites its line with \r: read what comes, as it comes
        assert proc.stderr is not None
        while chunk := os.read(proc.stderr.fileno(), 4096):
            progress.extend(chunk)
            done = [int(m.group(1)) for m in PROGRESS.finditer(progress[-200:])]
            if done:
                seen[0] = max(seen[0], done[-1])

    reader = threading.Thread(target=read_progress, daemon=True)
    reader.start()
    kill_when(proc, lambda: 0 < seen[0] < IMPORT_ROWS, "the import is half way")
    reader.join(timeout=10)
    proc.stderr.close()
    assert 0 < seen[0] < IMPORT_ROWS
    assert asyncio.run(count_rows(database_url, employees)) == before, "a half import"

    again = subprocess.run(
        [sys.executable, "-m", "backend.cli", "employee", "import", str(csv)],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert again.returncode == 0, again.stderr[-2000:]
    assert f"{IMPORT_ROWS} employees imported" in again.stdout
    assert asyncio.run(count_rows(database_url, employees)) == before + IMPORT_ROWS


# -- the backup restore -----------------------------------------------------------------------

AUDIT_ROWS = 20_000


@pytest.fixture
def big_backup(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A backup of a SQLite database with an agency and many audit rows; and that database."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'source.db'}"
    migrate.upgrade(url)
    asyncio.run(seed_site(url, phones=3, empty=False))

    async def fill() -> None:
        engine = create_async_engine(url)
        now = datetime.now(UTC)
        rows = [
            {"at": now, "actor": "test", "action": "test.fill", "target": f"n:{n}", "detail": "{}"}
            for n in range(AUDIT_ROWS)
        ]
        async with engine.begin() as conn:
            await conn.execute(audit_log.insert(), rows)
        await engine.dispose()

    asyncio.run(fill())
    file = tmp_path / "presensi.jsonl.gz"
    asyncio.run(backup(url, file))
    yield file, url


def read_position(pid: int, path: Path) -> int:
    """How far process ``pid`` has read the file ``path`` (0 when it does not have it open)."""
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}") == str(path):
                    with open(f"/proc/{pid}/fdinfo/{fd}") as info:
                        return int(info.readline().split()[1])
            except (FileNotFoundError, ProcessLookupError):
                continue
    except FileNotFoundError:
        return 0
    return 0


def described(url: str) -> Any:
    """What a database holds: absent, no schema, or every row of every table."""
    if url.startswith("sqlite") and not Path(url.split("///", 1)[1]).exists():
        return "absent"
    if migrate.current_revision(url) is None:
        return "no schema"
    return asyncio.run(snapshot(url))


@pytest.mark.parametrize(
    ("target", "kill_at"),
    [("migrated", "loading"), ("new", "loading"), ("new", "migrating")],
)
def test_kill_9_during_a_restore_leaves_the_old_database(
    tmp_path: Path, big_backup: tuple[Path, str], empty_url: str, target: str, kill_at: str
) -> None:
    file, source_url = big_backup
    if kill_at == "migrating" and not empty_url.startswith("sqlite"):
        pytest.skip("PostgreSQL migrates in one transaction: the loading case covers it")
    if target == "migrated":  # the target exists, migrated and empty
        migrate.upgrade(empty_url)
    old = described(empty_url)
    env = server_env(tmp_path / "data", empty_url, "http://127.0.0.1")
    proc = presensi(env, "restore", str(file))
    size = file.stat().st_size
    if kill_at == "migrating":  # SQLite: as soon as the new database's file appears
        staging = Path(empty_url.split("///", 1)[1] + ".restoring")

        def condition() -> bool:
            return staging.exists()
    else:

        def condition() -> bool:
            return size * 0.3 < read_position(proc.pid, file.resolve()) < size

    try:
        kill_when(proc, condition, f"the restore is {kill_at}")
    finally:
        assert proc.stderr is not None
        proc.stderr.close()
    assert described(empty_url) == old, "a half restore"

    # The same command again, no repair: the whole backup is there.
    again = subprocess.run(
        [sys.executable, "-m", "backend.cli", "restore", str(file)],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert again.returncode == 0, again.stderr[-2000:]
    assert asyncio.run(snapshot(empty_url)) == asyncio.run(snapshot(source_url))
    assert asyncio.run(count_rows(empty_url, audit_log)) >= AUDIT_ROWS
