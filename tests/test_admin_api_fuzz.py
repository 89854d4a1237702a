"""schemathesis over the whole admin API (issue 14) with a super-admin token: requests generated
from the OpenAPI document, every answer below 500 and, when it is an error, the JSON envelope.
Bounded (a few examples per operation) so it runs in about a minute; SQLite, the demo world."""

from __future__ import annotations

import json
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from starlette.testclient import TestClient

from backend.openapi import openapi_document
from backend.settings import Settings
from tests.test_integration_month import make_token

EXAMPLES = 15


@pytest.fixture
def database_url(sqlite_url: str) -> str:  # one engine is enough to look for crashes
    import asyncio

    from tests.conftest import _empty

    asyncio.run(_empty(sqlite_url))
    return sqlite_url


def admin_operations(doc: dict[str, Any]) -> list[Any]:
    schema = schemathesis.openapi.from_dict(doc)
    found = []
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path.startswith("/api/v1/admin"):
            found.append(operation)
    return found


def test_no_5xx_anywhere_in_the_admin_api(
    client: TestClient, settings: Settings, world: dict[str, Any]
) -> None:
    headers = make_token(client, settings)
    operations = admin_operations(openapi_document(settings))
    assert len(operations) > 40
    seen: dict[str, int] = {}

    def fuzz(operation: Any) -> None:
        @settings_for_fuzz
        @given(case=operation.as_strategy())
        def check(case: Any) -> None:
            kwargs: dict[str, Any] = {"headers": {**(case.headers or {}), **headers},
                                      "params": case.query or None}  # fmt: skip
            if case.body is not None and not isinstance(case.body, schemathesis.core.NotSet):
                if case.media_type == "text/csv":
                    kwargs["content"] = str(case.body).encode()
                    kwargs["headers"]["Content-Type"] = "text/csv"
                else:
                    kwargs["content"] = json.dumps(case.body).encode()
                    kwargs["headers"]["Content-Type"] = "application/json"
            response = client.request(case.method, case.formatted_path, **kwargs)
            key = f"{case.method} {operation.path}"
            seen[key] = seen.get(key, 0) + 1
            assert response.status_code < 500, (key, response.status_code, response.text[:300])
            body = response.json() if "json" in response.headers.get("content-type", "") else {}
            if response.status_code >= 400 and not operation.path.endswith("/import"):
                assert set(body["error"]) >= {"code", "message", "message_en"}, key

        check()

    for operation in operations:
        fuzz(operation)
    assert len(seen) == len(operations)


settings_for_fuzz = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
