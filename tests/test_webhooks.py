"""Webhooks (issue 14): subscriptions, the SSRF guard, and delivery to a real receiver — a small
ASGI app under uvicorn on loopback that verifies every delivery with the ``standardwebhooks``
package — stopped in the middle of a stream of changes and started again."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from starlette.testclient import TestClient

from backend import webhooks
from backend.app import create_app
from backend.db import utcnow
from backend.settings import Settings
from tests.conftest import app_db, make_settings, run
from tests.support.admin import make_admins, sign_in
from tests.test_integration_month import API, make_token


class Receiver:
    """Records every delivery whose signature verifies; anything else is answered 401."""

    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.got: list[tuple[str, dict[str, Any]]] = []
        self.refused = 0
        self.arrived = threading.Event()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        try:
            payload = Webhook(self.secret).verify(body, headers)
            self.got.append((headers["webhook-id"], payload))
            status = 204
        except WebhookVerificationError:
            self.refused += 1
            status = 401
        self.arrived.set()
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b""})


class Served:
    """uvicorn in a thread on a fixed loopback port: ``start()`` and ``stop()`` at will."""

    def __init__(self, app: Any) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.app = app
        self.server: uvicorn.Server | None = None
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        config = uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning",
                                lifespan="off")  # fmt: skip
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        while not self.server.started:  # uvicorn's own flag, set once it listens
            if not self.thread.is_alive():
                raise RuntimeError("the receiver did not start")
            self.thread.join(0.01)

    def stop(self) -> None:
        assert self.server is not None and self.thread is not None
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    """Loopback receivers allowed, as the two settings permit."""
    return make_settings(
        tmp_path, database_url, webhook_allow_http="true", webhook_allowed_networks="127.0.0.0/8"
    )


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    app = create_app(settings)
    app.state.presensi.extras["webhook_worker"] = False  # the tests drive their own Dispatcher
    with TestClient(app, base_url="https://presensi.test") as c:
        yield c


@pytest.fixture
def hooked(client: TestClient, settings: Settings) -> tuple[TestClient, Settings]:
    return client, settings


def test_ssrf_guard(client: TestClient, settings: Settings, world: dict[str, Any]) -> None:
    h = make_token(client, settings)
    for url in ("https://[::1]/x", "https://10.1.2.3/x", "https://169.254.169.254/latest",
                "https://192.168.1.1/", "ftp://example.org/", "https://user:pw@example.org/",
                "https://unresolvable.invalid/", 42):  # fmt: skip
        r = client.post(f"{API}/webhooks", headers=h, json={"url": url, "events": ["*"]})
        assert r.status_code == 422, (url, r.text)
        assert r.json()["error"]["code"] == "webhook_url_refused"
    r = client.post(f"{API}/webhooks", headers=h, json={"url": "https://127.0.0.1/", "events": []})
    assert r.json()["error"]["code"] == "validation_failed"
    assert client.get(f"{API}/webhooks", headers=h).json()["items"] == []


def test_allowed_networks_and_http_setting(tmp_path: Path, database_url: str) -> None:
    import asyncio

    strict = make_settings(tmp_path, database_url)
    for url in ("http://example.org/hook", "https://127.0.0.1/hook", "https://localhost:8443/x"):
        with pytest.raises(Exception) as refused:
            asyncio.run(webhooks.resolve(url, strict))
        assert getattr(refused.value, "code", "") == "webhook_url_refused", url
    allowed = make_settings(tmp_path, database_url, webhook_allow_http="true",
                            webhook_allowed_networks="127.0.0.0/8")  # fmt: skip
    assert asyncio.run(webhooks.resolve("http://127.0.0.1:9/x", allowed))[4] == "127.0.0.1"
    with pytest.raises(Exception) as refused:
        asyncio.run(webhooks.resolve("https://10.0.0.1/x", allowed))
    assert getattr(refused.value, "code", "") == "webhook_url_refused"
    with pytest.raises(ValueError):
        make_settings(tmp_path, database_url, webhook_allowed_networks="not-a-network")
    with pytest.raises(ValueError):
        make_settings(tmp_path, database_url, changes_retention_days="30")


def queue_until(client: TestClient, dispatcher: webhooks.Dispatcher, expected: int) -> None:
    """Queue until ``expected`` deliveries are queued. On PostgreSQL a change is handed out once
    every older transaction of the cluster has ended (other tests' databases share it)."""
    queued = 0
    deadline = time.monotonic() + 30
    while queued < expected and time.monotonic() < deadline:
        queued += run(client, dispatcher.queue)
    assert queued == expected


def test_deliveries_survive_a_receiver_restart_in_order_per_record(
    hooked: tuple[TestClient, Settings], world: dict[str, Any]
) -> None:
    client, settings = hooked
    h = make_token(client, settings)
    receiver = Receiver("")
    served = Served(receiver)
    url = f"http://127.0.0.1:{served.port}/hooks/presensi"
    r = client.post(
        f"{API}/webhooks", headers=h, json={"url": url, "events": ["employee.updated", "absence.*"]}
    )
    assert r.status_code == 201, r.text
    hook_id, secret = r.json()["id"], r.json()["secret"]
    assert secret.startswith("whsec_")
    receiver.secret = secret
    assert "secret" not in client.get(f"{API}/webhooks/{hook_id}", headers=h).json()

    now = [utcnow()]
    dispatcher = webhooks.Dispatcher(app_db(client), settings, clock=lambda: now[0], base_delay=5)
    employees = client.get(f"{API}/employees?per_page=5", headers=h).json()["items"]

    def changes(round_: int) -> None:
        for e in employees:
            r = client.patch(
                f"{API}/employees/{e['id']}", headers=h, json={"name": f"{e['name']} {round_}"}
            )
            assert r.status_code == 200, r.text

    served.start()
    changes(1)
    queue_until(client, dispatcher, 5)
    assert run(client, dispatcher.send_due) == 5
    assert len(receiver.got) == 5
    served.stop()  # the receiver goes away in the middle of the stream
    changes(2)
    absence = client.post(f"{API}/absences", headers=h, json={
        "nip": employees[0]["nip"], "kind": "dl", "start_date": "2026-12-07",
        "end_date": "2026-12-08", "reference": "SPT/1"})  # fmt: skip
    assert absence.status_code == 201
    assert (
        client.post(f"{API}/absences/{absence.json()['id']}/cancel", headers=h).status_code == 200
    )
    changes(3)
    queue_until(client, dispatcher, 5 * 2 + 2)
    run(client, dispatcher.send_due)  # all fail: nobody listens
    hook = client.get(f"{API}/webhooks/{hook_id}", headers=h).json()
    failed = [d for d in hook["deliveries"] if d["status"] == "pending"]
    assert failed and all(d["next_attempt_at"] for d in failed)
    assert any(d["attempts"] == 1 and d["error"] for d in failed)
    # Later changes of a record wait for its earlier one: only the first of each was tried.
    assert {d["attempts"] for d in failed if d["seq"] > min(x["seq"] for x in failed) + 6} == {0}
    served.start()
    for _ in range(20):  # each round moves the clock past the next retry
        now[0] += timedelta(seconds=700)
        run(client, dispatcher.step)
        hook = client.get(f"{API}/webhooks/{hook_id}", headers=h).json()
        if all(d["status"] == "delivered" for d in hook["deliveries"]):
            break
    served.stop()
    assert all(d["status"] == "delivered" for d in hook["deliveries"])
    assert all(
        d["response_code"] == 204 and d["latency_ms"] is not None for d in hook["deliveries"]
    )
    # Every change arrived; duplicates only with the same webhook-id; in order per record.
    by_id: dict[str, dict[str, Any]] = {}
    for msg_id, payload in receiver.got:
        assert by_id.setdefault(msg_id, payload) == payload
    assert len(by_id) == 5 * 3 + 2
    per_record: dict[str, list[int]] = {}
    for _msg_id, payload in receiver.got:
        per_record.setdefault(
            f"{payload['type'].split('.')[0]}:{payload['data']['id']}", []
        ).append(payload["seq"])
    for seqs in per_record.values():
        first = list(dict.fromkeys(seqs))
        assert first == sorted(first)
    names = [p["data"]["name"] for _, p in receiver.got if p["type"] == "employee.updated"]
    # The last delivery of each record carries its last state (no order across records).
    assert sorted(names[-5:]) == sorted(f"{e['name']} 3" for e in employees)
    kinds = [p["type"] for _, p in receiver.got if p["type"].startswith("absence")]
    assert kinds == ["absence.created", "absence.cancelled"]
    assert receiver.refused == 0
    assert all(set(p) == {"type", "seq", "timestamp", "data"} for _, p in receiver.got)


def test_a_wrong_secret_is_detected_and_24_hours_of_failures_pause(
    hooked: tuple[TestClient, Settings], world: dict[str, Any]
) -> None:
    client, settings = hooked
    h = make_token(client, settings)
    receiver = Receiver(webhooks.new_secret())  # not the subscription's secret
    served = Served(receiver)
    url = f"http://127.0.0.1:{served.port}/x"
    hook_id = client.post(
        f"{API}/webhooks", headers=h, json={"url": url, "events": ["employee.updated"]}
    ).json()["id"]
    now = [utcnow()]
    dispatcher = webhooks.Dispatcher(app_db(client), settings, clock=lambda: now[0])
    employee = client.get(f"{API}/employees?per_page=1", headers=h).json()["items"][0]
    client.patch(f"{API}/employees/{employee['id']}", headers=h, json={"name": "Nama Baru"})
    served.start()
    try:
        queue_until(client, dispatcher, 1)
        run(client, dispatcher.send_due)
        assert receiver.refused == 1 and receiver.got == []
        hook = client.get(f"{API}/webhooks/{hook_id}", headers=h).json()
        assert hook["deliveries"][0]["response_code"] == 401 and hook["paused_at"] is None
        now[0] += timedelta(hours=25)
        run(client, dispatcher.step)
    finally:
        served.stop()
    hook = client.get(f"{API}/webhooks/{hook_id}", headers=h).json()
    assert hook["paused_at"] is not None and "401" in hook["paused_reason"]
    # Paused: nothing is sent; the console shows the warning.
    assert run(client, dispatcher.step) == 0
    make_admins(client)
    assert sign_in(client, "super_admin").status_code == 303
    page = client.get("/admin/webhooks")
    assert page.status_code == 200 and 'data-testid="webhook-paused"' in page.text
    assert url in page.text and "401" in page.text
    assert client.post(f"{API}/webhooks/{hook_id}/resume", headers=h).json()["paused_at"] is None
    assert client.delete(f"{API}/webhooks/{hook_id}", headers=h).status_code == 204
    assert client.get(f"{API}/webhooks/{hook_id}", headers=h).status_code == 404
    assert json.loads(json.dumps(client.get(f"{API}/webhooks", headers=h).json())) == {
        "items": [],
        "next": None,
    }


def test_the_console_page_creates_and_deletes(client: TestClient, world: dict[str, Any]) -> None:
    from tests.support.admin import csrf

    make_admins(client)
    assert sign_in(client, "agency_admin").status_code == 303
    form = {"csrf_token": csrf(client, "/admin/webhooks"), "url": "http://127.0.0.1:9/h",
            "events": "checkin.created, absence.*"}  # fmt: skip
    page = client.post("/admin/webhooks", data=form)
    assert page.status_code == 200 and 'data-testid="webhook-secret">whsec_' in page.text
    listing = client.get("/admin/webhooks").text
    assert "checkin.created, absence.*" in listing
    bad = client.post("/admin/webhooks", data=form | {"url": "https://10.0.0.1/"})
    assert bad.status_code == 400
    hook_id = run(client, app_db(client).fetch_val, "SELECT id FROM webhooks")
    gone = client.post(
        f"/admin/webhooks/{hook_id}/delete",
        data={"csrf_token": form["csrf_token"]},
        follow_redirects=False,
    )
    assert gone.status_code == 303 and "127.0.0.1:9" not in client.get("/admin/webhooks").text
