"""PostgreSQL restarted during a check-in rush, on a real server process and a private cluster
(tests/support/pgcluster.py; the shared one keeps serving the other tests).

Phones check in one after another; after the first third the cluster stops, some phones try
during the outage, then it starts again and the rest check in. Whatever happens, no request
hangs past the phone's timeout, nothing acknowledged is lost, and the admin console and
``/readyz`` serve again within seconds without restarting the server.

The check-in path's own connections (backend/checkin/) reconnect too, and answer JSON 503
while the database is away.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx2 as httpx
import pytest

from backend import migrate
from tests.support.faults import (
    PHONE_TIMEOUT,
    Site,
    acknowledged,
    missing_records,
    seed_site,
)
from tests.support.pgcluster import PgCluster, private_cluster
from tests.support.server import LiveServer, live_server
from tests.test_faults_pg import RECOVERY, sign_in, wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.slow]
PHONES = 45


@dataclass
class Rush:
    server: LiveServer
    cluster: PgCluster
    url: str
    site: Site
    before: list[Any] = field(default_factory=list)  # answers before the outage
    during: list[Any] = field(default_factory=list)  # answers or transport errors
    after: list[Any] = field(default_factory=list)  # after PostgreSQL and /readyz are back
    slowest: float = 0.0


def timed_check_in(rush: Rush, http: httpx.Client, phone: Any) -> Any:
    started = time.monotonic()
    try:
        return rush.site.check_in(http, phone)
    except httpx.TimeoutException:
        pytest.fail(f"a check-in hung past the phone's {PHONE_TIMEOUT} s timeout")
    except httpx.TransportError as exc:  # a dropped connection: the phone queues the scan
        return exc
    finally:
        rush.slowest = max(rush.slowest, time.monotonic() - started)


@pytest.fixture(scope="module")
def rush(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rush]:
    with private_cluster() as cluster:
        url = cluster.create_database("presensi")
        migrate.upgrade(url)
        site = asyncio.run(seed_site(url, phones=PHONES, empty=False))
        tmp_path = tmp_path_factory.mktemp("restart")
        with (
            live_server(tmp_path, url) as server,
            httpx.Client(base_url=server.url, timeout=PHONE_TIMEOUT) as http,
        ):
            state = Rush(server, cluster, url, site)
            third = PHONES // 3
            for phone in site.phones[:third]:
                state.before.append(timed_check_in(state, http, phone))
            cluster.stop("fast")  # what `pg_ctlcluster ... restart` does first
            for phone in site.phones[third : 2 * third]:
                state.during.append(timed_check_in(state, http, phone))
            cluster.start()
            wait_for(lambda: http.get("/readyz").status_code == 200, "/readyz answers 200")
            for phone in site.phones[third:]:  # those refused during the outage retry
                state.after.append(timed_check_in(state, http, phone))
            yield state


def test_before_the_outage_every_check_in_is_accepted(rush: Rush) -> None:
    assert [a.status_code for a in rush.before] == [201] * len(rush.before)


def test_no_request_hangs_and_nothing_acknowledged_is_lost(rush: Rush) -> None:
    assert rush.slowest < PHONE_TIMEOUT
    answers = [a for a in rush.before + rush.during + rush.after if isinstance(a, httpx.Response)]
    assert acknowledged(rush.before)
    assert asyncio.run(missing_records(rush.url, acknowledged(answers))) == []
    assert rush.server.process.poll() is None


def test_the_admin_console_serves_again_without_a_restart(rush: Rush) -> None:
    with httpx.Client(base_url=rush.server.url, timeout=PHONE_TIMEOUT) as http:
        sign_in(http)
        assert http.get("/admin/employees").status_code == 200
        assert http.get("/readyz").status_code == 200


def test_a_second_restart_is_survived_too(rush: Rush) -> None:
    """``pg_ctl restart`` while the server idles: the console is back within seconds."""
    rush.cluster.restart("fast")
    started = time.monotonic()
    with httpx.Client(base_url=rush.server.url, timeout=PHONE_TIMEOUT) as http:
        wait_for(lambda: http.get("/readyz").status_code == 200, "/readyz answers 200")
        sign_in(http)
        assert http.get("/admin/employees").status_code == 200
    assert time.monotonic() - started < RECOVERY


def test_during_the_outage_check_ins_answer_json_503(rush: Rush) -> None:
    for answer in rush.during:
        assert isinstance(answer, httpx.Response), f"connection dropped: {answer!r}"
        assert answer.status_code == 503, answer.text
        assert answer.headers["content-type"] == "application/json"
        assert answer.json()["error"]["code"] == "database_unavailable"
        assert int(answer.headers["retry-after"]) > 0


def test_after_the_restart_check_ins_are_accepted_again(rush: Rush) -> None:
    assert [a.status_code for a in rush.after] == [201] * len(rush.after)
