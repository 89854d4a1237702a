"""The owner's fingerprint end to end: Debian's Chromium with the DevTools virtual authenticator
(``WebAuthn.addVirtualAuthenticator``), the real phone app, a real server on localhost (WebAuthn
needs a host name as its RP ID, never an IP address)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import sqlalchemy as sa

from backend.db import agencies, passkeys
from tests.support.browser import launch_chromium, require_chromium
from tests.support.server import LiveServer, live_server
from tests.test_scanner_browser import (
    PERIOD,
    TIMEOUT_MS,
    enrolled_page,
    records,
    run_db,
    token_url,
    wait_result,
)

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, CDPSession, Page

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture
def server(tmp_path: Path, database_url: str) -> Iterator[LiveServer]:
    require_chromium()
    with live_server(tmp_path, database_url, host="localhost", qr_period=str(PERIOD)) as live:
        yield live


@pytest.fixture
def demo(server: LiveServer) -> dict[str, Any]:
    info: dict[str, Any] = json.loads(server.cli("demo", "--json", "--employees", "3"))
    return info


@pytest.fixture
def chromium() -> Iterator[Browser]:
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        yield browser
        browser.close()


@pytest.fixture
def context(chromium: Browser) -> Iterator[BrowserContext]:
    ctx = chromium.new_context(locale="id-ID")
    ctx.set_default_timeout(TIMEOUT_MS)
    yield ctx
    ctx.close()


def set_policy(database_url: str, policy: str) -> None:
    run_db(database_url, lambda db: db.execute(agencies.update().values(user_verification=policy)))


def with_fingerprint(context: BrowserContext) -> tuple[Page, CDPSession, str]:
    """A new phone page with a platform authenticator whose owner's fingerprint matches."""
    page = context.new_page()
    cdp = context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    added = cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
                "automaticPresenceSimulation": True,
            }
        },
    )
    return page, cdp, added["authenticatorId"]


def enrol_on(page: Page, server: LiveServer, person: dict[str, str]) -> None:
    from tests.test_scanner_browser import enrol

    enrol(page, server, person)
    page.locator("#screen-scan").wait_for(state="visible")


def passkey_count(database_url: str) -> int:
    count = sa.select(sa.func.count()).select_from(passkeys)
    return int(run_db(database_url, lambda db: db.fetch_val(count)))


def check_in(page: Page, server: LiveServer, display_id: int, offset: int, state: str) -> None:
    page.goto("about:blank")
    page.goto(token_url(server, display_id, offset=offset))
    wait_result(page, state)


def owner_then_someone_else(
    server: LiveServer, demo: dict[str, Any], context: BrowserContext, database_url: str
) -> Page:
    """The owner enrols with the policy on and checks in; then someone whose fingerprint is not
    the owner's holds the phone and scans: refused, nothing recorded."""
    set_policy(database_url, "required")
    person = demo["employees"][0]
    page, cdp, authenticator = with_fingerprint(context)
    enrol_on(page, server, person)
    assert passkey_count(database_url) == 1
    check_in(page, server, demo["display"]["id"], -1, "ok")
    assert page.inner_text("#result-name") == person["name"]
    assert len(records(database_url)) == 1
    cdp.send(
        "WebAuthn.setUserVerified", {"authenticatorId": authenticator, "isUserVerified": False}
    )
    check_in(page, server, demo["display"]["id"], 0, "bad")
    assert len(records(database_url)) == 1
    return page


def test_owner_checks_in_and_unverified_user_is_refused(
    server: LiveServer, demo: dict[str, Any], context: BrowserContext, database_url: str
) -> None:
    page = owner_then_someone_else(server, demo, context, database_url)
    message = page.inner_text("#result-message")
    assert "Sidik jari, wajah, atau PIN tidak terkonfirmasi" in message
    assert "HP Anda sendiri" in message  # says what to do


def test_fraud_lent_phone_refused(
    server: LiveServer, demo: dict[str, Any], context: BrowserContext, database_url: str
) -> None:
    """Staff lend their phone to a colleague (or an honorer) who scans for them: with the policy
    on, the colleague cannot pass the owner's fingerprint, face or PIN."""
    page = owner_then_someone_else(server, demo, context, database_url)
    assert "PIN" in page.inner_text("#result-message")
    [row] = records(database_url)  # only the owner's own scan, made before the phone was lent
    assert row["status"] == "accepted"
    assert "no_user_verification" not in row["flags"]


def test_policy_off_phone_unchanged(
    server: LiveServer, demo: dict[str, Any], context: BrowserContext, database_url: str
) -> None:
    """No policy: no passkey is made even on a phone that has an authenticator, and the scan
    carries no assertion."""
    page, _cdp, _authenticator = with_fingerprint(context)
    enrol_on(page, server, demo["employees"][1])
    check_in(page, server, demo["display"]["id"], 0, "ok")
    assert passkey_count(database_url) == 0
    [row] = records(database_url)
    assert "no_user_verification" not in row["flags"].split(",")


def test_flag_policy_phone_without_authenticator(
    server: LiveServer, demo: dict[str, Any], context: BrowserContext, database_url: str
) -> None:
    """The agency accepts phones without a platform authenticator, flagged for review."""
    set_policy(database_url, "flag")
    page = enrolled_page(context, server, demo["employees"][2])  # no virtual authenticator
    check_in(page, server, demo["display"]["id"], 0, "ok")
    [row] = records(database_url)
    assert "no_user_verification" in row["flags"].split(",")
