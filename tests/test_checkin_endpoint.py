"""The check-in endpoint's answers when something fails under it: JSON every time, 503
``database_unavailable`` with Retry-After when the database cannot be reached (the phone keeps
the scan queued), 500 ``internal_error`` otherwise; nothing is stored that was not answered."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from backend.db import checkins
from backend.settings import Settings
from tests.conftest import count
from tests.test_api import current_token, enrolled, error_code
from tests.test_checkin_records import hot_of


def failing(exc: Exception) -> Any:
    async def fail(*args: Any, **kwargs: Any) -> Any:
        raise exc

    return fail


@pytest.mark.parametrize("where", ["read", "write"])
def test_an_unreachable_database_answers_503_json(
    client: TestClient,
    settings: Settings,
    world: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    where: str,
) -> None:
    phone = enrolled(client, settings, world["employees"][0]["nip"])
    token = current_token(settings, world["display"]["id"])
    hot = hot_of(client)
    lost = ConnectionResetError("the server closed the connection")
    if where == "read":
        monkeypatch.setattr(hot.records, "load_calendar", failing(lost))
    else:
        monkeypatch.setattr(hot.writer._batcher, "_run", failing(lost))
    response = phone.check_in(token)
    assert response.status_code == 503
    assert error_code(response) == "database_unavailable"
    assert int(response.headers["retry-after"]) > 0
    assert response.headers["content-type"] == "application/json"
    assert "content-security-policy" in response.headers
    monkeypatch.undo()
    assert count(client, checkins) == 0
    assert phone.check_in(token).status_code == 201  # the queued scan, sent again


def test_an_unexpected_failure_answers_500_json(
    client: TestClient,
    settings: Settings,
    world: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    phone = enrolled(client, settings, world["employees"][0]["nip"])
    monkeypatch.setattr(hot_of(client).writer._batcher, "_run", failing(RuntimeError("bug")))
    response = phone.check_in(current_token(settings, world["display"]["id"]))
    assert response.status_code == 500
    assert error_code(response) == "internal_error"
    assert "check-in failed" in caplog.text
    assert count(client, checkins) == 0
