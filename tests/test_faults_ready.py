"""``/readyz`` asks the check-in path too (``HotPath.ready()``: ``SELECT 1`` through the
connections the writer uses), so a load balancer never sends the morning rush to a process whose
check-in connections are dead while its other connections work."""

from __future__ import annotations

import asyncio

import pytest
from starlette.testclient import TestClient

from backend.state import AppState


def state_of(client: TestClient) -> AppState:
    state: AppState = client.app.state.presensi  # type: ignore[attr-defined]
    return state


def test_readyz_is_503_when_the_check_in_path_is_not_ready(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def dead() -> None:
        raise ConnectionResetError("the writer's connection was terminated")

    monkeypatch.setattr(state_of(client).hot, "ready", dead, raising=False)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["reason"] == "check-in path: ConnectionResetError"
    assert int(response.headers["retry-after"]) > 0


def test_readyz_does_not_hang_on_a_check_in_path_that_does_not_answer(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def hangs() -> None:
        await asyncio.Event().wait()

    monkeypatch.setattr("backend.health.CHECK_TIMEOUT", 0.2)
    monkeypatch.setattr(state_of(client).hot, "ready", hangs, raising=False)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["reason"] == "check-in path: TimeoutError"


def test_readyz_is_200_when_the_check_in_path_answers(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []

    async def fine() -> None:
        calls.append("ready")

    monkeypatch.setattr(state_of(client).hot, "ready", fine, raising=False)
    assert client.get("/readyz").status_code == 200
    assert calls == ["ready"]
