"""The owner's fingerprint (backend/passkeys.py, backend/checkin/userverification.py): passkey
registration at enrolment and the check-in's WebAuthn assertion, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient
from webauthn import verify_authentication_response
from webauthn.helpers import bytes_to_base64url

from backend import passkeys as pk
from backend.checkin.verifier import Keys, verify_one
from backend.db import agencies, checkins, devices, employees, passkeys, units, utcnow
from backend.settings import Settings
from tests.client import Phone
from tests.conftest import app_db, count, run
from tests.support.authenticator import Authenticator
from tests.test_api import code_for, current_token, error_code

RP_ID, ORIGIN = "presensi.test", "https://presensi.test"


def set_policy(client: TestClient, agency: str, unit: str | None = None) -> None:
    db = app_db(client)
    run(client, db.execute, agencies.update().values(user_verification=agency))
    run(client, db.execute, units.update().values(user_verification=unit))
    client.app.state.presensi.hot.user_verification._policies._data.clear()  # type: ignore[attr-defined]


class Owner:
    """A phone with a platform authenticator, enrolled as the PWA does."""

    def __init__(self, client: TestClient, settings: Settings, nip: str, *, register: bool = True):
        self.client = client
        self.phone = Phone(client)
        self.authenticator = Authenticator(RP_ID, ORIGIN)
        answer = self.phone.enrol(nip, code_for(client, settings, nip))
        assert answer.status_code == 201, answer.text
        self.enrolment = answer.json()
        if register and "passkey" in self.enrolment:
            response = self.register()
            assert response.status_code == 201, response.text

    def register(self, options: dict[str, Any] | None = None) -> Any:
        credential = self.authenticator.register(options or self.enrolment["passkey"])
        return self.client.post(
            "/api/v1/devices/passkey",
            json={"device_id": self.phone.device_id, "credential": credential},
        )

    def body(self, token: str, *, assertion: bool = True) -> dict[str, Any]:
        body = self.phone.checkin_body(token)
        if assertion:
            body["assertion"] = self.authenticator.assert_(challenge_of(body))
        return body

    def check_in(self, body: dict[str, Any]) -> Any:
        return self.client.post("/api/v1/checkins", json=body)


def challenge_of(body: dict[str, Any]) -> bytes:
    fields = ("token", "device_id", "client_ts", "nonce")
    message = "|".join(["presensi/checkin/v1", *(str(body[f]) for f in fields)])
    return hashlib.sha256(message.encode()).digest()


@pytest.fixture
def token(settings: Settings, world: dict[str, Any]) -> str:
    return current_token(settings, world["display"]["id"])


@pytest.fixture
def nip(world: dict[str, Any]) -> str:
    return str(world["employees"][0]["nip"])


def test_policy_off_enrols_and_checks_in_unchanged(
    client: TestClient, settings: Settings, nip: str, token: str
) -> None:
    owner = Owner(client, settings, nip)
    assert owner.enrolment["user_verification"] == "off"
    assert "passkey" not in owner.enrolment
    response = owner.check_in(owner.body(token, assertion=False))
    assert response.status_code == 201, response.text
    assert run(client, app_db(client).fetch_val, sa.select(checkins.c.flags)) == ""


def test_owner_with_verification_checks_in(
    client: TestClient, settings: Settings, nip: str, token: str
) -> None:
    set_policy(client, "required")
    owner = Owner(client, settings, nip)
    options = owner.enrolment["passkey"]
    assert owner.enrolment["user_verification"] == "required"
    assert options["rp"]["id"] == RP_ID
    assert options["authenticatorSelection"]["userVerification"] == "required"
    assert options["authenticatorSelection"]["authenticatorAttachment"] == "platform"
    assert [p["alg"] for p in options["pubKeyCredParams"]] == [-7]
    assert count(client, passkeys) == 1
    body = owner.body(token)
    response = owner.check_in(body)
    assert response.status_code == 201, response.text
    assert owner.check_in(body).status_code == 200  # the same scan again: the same record
    assert count(client, checkins) == 1


def test_unverified_user_is_refused_in_indonesian(
    client: TestClient, settings: Settings, nip: str, token: str
) -> None:
    set_policy(client, "required")
    owner = Owner(client, settings, nip)
    owner.authenticator.user_verified = False  # someone else holds the phone
    response = owner.check_in(owner.body(token))
    assert response.status_code == 403
    assert error_code(response) == "user_verification_failed"
    assert "sidik jari" in response.json()["error"]["message"].lower()
    # Without any assertion, a phone that has a passkey is refused the same way.
    response = owner.check_in(owner.body(token, assertion=False))
    assert error_code(response) == "user_verification_failed"
    assert count(client, checkins) == 0


def test_no_platform_authenticator_refused_or_flagged(
    client: TestClient, settings: Settings, world: dict[str, Any], token: str
) -> None:
    set_policy(client, "required")
    first = Owner(client, settings, world["employees"][0]["nip"], register=False)
    response = first.check_in(first.body(token, assertion=False))
    assert response.status_code == 403
    assert error_code(response) == "user_verification_unavailable"
    set_policy(client, "flag")
    second = Owner(client, settings, world["employees"][1]["nip"], register=False)
    assert second.enrolment["user_verification"] == "flag"
    assert second.check_in(second.body(token, assertion=False)).status_code == 201
    flags = run(client, app_db(client).fetch_val, sa.select(checkins.c.flags))
    assert "no_user_verification" in flags.split(",")


def test_unit_policy_overrides_the_agency(
    client: TestClient, settings: Settings, nip: str, token: str
) -> None:
    set_policy(client, "required", unit="off")
    owner = Owner(client, settings, nip)
    assert owner.enrolment["user_verification"] == "off"
    assert owner.check_in(owner.body(token, assertion=False)).status_code == 201


@pytest.mark.parametrize(
    "break_it",
    [
        lambda a: "not an object",
        lambda a: {**a, "response": {}},
        lambda a: {**a, "type": "password"},
        lambda a: {**a, "response": {**a["response"], "signature": "%%%"}},
        lambda a: {**a, "response": {**a["response"], "signature": "AAAA"}},
        lambda a: {**a, "response": {**a["response"], "authenticatorData": "AAAA"}},
        lambda a: {**a, "response": {**a["response"], "clientDataJSON": "e30"}},
        lambda a: {**a, "rawId": bytes_to_base64url(b"other")},
    ],
)
def test_malformed_assertion_is_refused(
    client: TestClient, settings: Settings, nip: str, token: str, break_it: Any
) -> None:
    set_policy(client, "required")
    owner = Owner(client, settings, nip)
    body = owner.body(token)
    body["assertion"] = break_it(body["assertion"])
    response = owner.check_in(body)
    assert response.status_code == 400, response.text
    assert error_code(response) == "invalid_assertion"
    assert count(client, checkins) == 0


def test_wrong_credential_and_wrong_key(
    client: TestClient, settings: Settings, nip: str, token: str
) -> None:
    set_policy(client, "required")
    owner = Owner(client, settings, nip)
    body = owner.phone.checkin_body(token)
    stranger = Authenticator(RP_ID, ORIGIN)
    body["assertion"] = stranger.assert_(challenge_of(body))
    assert error_code(owner.check_in(body)) == "unknown_credential"
    stranger.credential_id = owner.authenticator.credential_id  # same id, another key
    body["assertion"] = stranger.assert_(challenge_of(body))
    response = owner.check_in(body)
    assert response.status_code == 401
    assert error_code(response) == "bad_assertion"
    assert count(client, checkins) == 0


def test_replayed_assertion_is_refused(
    client: TestClient, settings: Settings, nip: str, token: str
) -> None:
    """An assertion lifted from one scan does not verify another: its challenge is that scan's."""
    set_policy(client, "required")
    owner = Owner(client, settings, nip)
    first = owner.body(token)
    assert owner.check_in(first).status_code == 201
    second = owner.body(token, assertion=False)  # a new nonce: a new signed message
    second["assertion"] = first["assertion"]
    response = owner.check_in(second)
    assert response.status_code == 401
    assert error_code(response) == "assertion_mismatch"
    other_site = owner.body(token)
    other_site["assertion"] = owner.authenticator.assert_(
        challenge_of(other_site), origin="https://evil.test"
    )
    assert error_code(owner.check_in(other_site)) == "assertion_mismatch"
    assert count(client, checkins) == 1


def test_reenrolment_replaces_the_passkey(
    client: TestClient, settings: Settings, nip: str, token: str
) -> None:
    set_policy(client, "required")
    old = Owner(client, settings, nip)
    new = Owner(client, settings, nip)
    body = new.phone.checkin_body(token)
    body["assertion"] = old.authenticator.assert_(challenge_of(body))
    assert error_code(new.check_in(body)) == "unknown_credential"
    assert new.check_in(new.body(token)).status_code == 201
    assert error_code(old.check_in(old.body(token))) == "device_revoked"


def test_registration_only_once_and_right_after_enrolment(
    client: TestClient, settings: Settings, world: dict[str, Any]
) -> None:
    set_policy(client, "required")
    owner = Owner(client, settings, world["employees"][0]["nip"])
    again = owner.register()
    assert again.status_code == 409
    assert error_code(again) == "passkey_not_allowed"
    late = Owner(client, settings, world["employees"][1]["nip"], register=False)
    run(
        client,
        app_db(client).execute,
        devices.update()
        .where(devices.c.id == late.phone.device_id)
        .values(created_at=utcnow() - timedelta(seconds=pk.REGISTRATION_SECONDS + 1)),
    )
    assert error_code(late.register()) == "passkey_not_allowed"
    forged = Owner(client, settings, world["employees"][2]["nip"], register=False)
    wrong = {**forged.enrolment["passkey"], "challenge": bytes_to_base64url(b"x" * 32)}
    response = forged.register(wrong)
    assert response.status_code == 400
    assert error_code(response) == "invalid_passkey"
    bad = client.post("/api/v1/devices/passkey", json={"device_id": 5, "credential": []})
    assert error_code(bad) == "invalid_request"
    assert count(client, passkeys) == 1


def test_verification_agrees_with_the_webauthn_package() -> None:
    """``parse_assertion`` + the batch's P-256 check accept exactly what
    ``webauthn.verify_authentication_response`` accepts."""
    authenticator = Authenticator(RP_ID, ORIGIN)
    message = b"presensi/checkin/v1|token|d_device|1|nonce"
    challenge = pk.assertion_challenge(message)
    numbers = authenticator.key.public_key().public_numbers()
    point = b"\x04" + numbers.x.to_bytes(32, "big") + numbers.y.to_bytes(32, "big")
    for verified in (True, False):
        authenticator.user_verified = verified
        response = authenticator.assert_(challenge)
        parsed = pk.parse_assertion(response, message=message, rp_id=RP_ID, origin=ORIGIN)
        assert parsed.error is None
        assert parsed.user_verified is verified
        assert verify_one(Keys(), *parsed.item(point))
        reference = verify_authentication_response(
            credential=response,
            expected_challenge=challenge,
            expected_rp_id=RP_ID,
            expected_origin=ORIGIN,
            credential_public_key=authenticator.cose_key(),
            credential_current_sign_count=0,
            require_user_verification=False,
        )
        assert reference.user_verified is verified
    other = Authenticator(RP_ID, ORIGIN)
    forged = other.assert_(challenge)
    parsed = pk.parse_assertion(forged, message=message, rp_id=RP_ID, origin=ORIGIN)
    assert not verify_one(Keys(), *parsed.item(point))


def test_admin_api_sets_the_policy(
    client: TestClient, settings: Settings, world: dict[str, Any], token: str
) -> None:
    from tests.test_admin_api import API, token_for

    headers = {"Authorization": f"Bearer {token_for(client, 'super_admin')}"}
    agency_id = run(client, app_db(client).fetch_val, sa.select(agencies.c.id))
    agency = client.get(f"{API}/agencies/{agency_id}", headers=headers)
    assert agency.json()["user_verification"] == "off"
    changed = client.patch(
        f"{API}/agencies/{agency_id}",
        json={"user_verification": "required"},
        headers={**headers, "If-Match": agency.headers["etag"]},
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["user_verification"] == "required"
    assert changed.headers["etag"] != agency.headers["etag"]  # the policy is part of the version
    bad = client.patch(
        f"{API}/agencies/{agency_id}", json={"user_verification": "maybe"}, headers=headers
    )
    assert bad.status_code == 422
    unit_id = run(client, app_db(client).fetch_val, sa.select(units.c.id))
    unit = client.patch(
        f"{API}/units/{unit_id}", json={"user_verification": "off"}, headers=headers
    )
    assert unit.json()["user_verification"] == "off"
    inherit = client.patch(
        f"{API}/units/{unit_id}", json={"user_verification": ""}, headers=headers
    )
    assert inherit.json()["user_verification"] is None
    client.app.state.presensi.hot.user_verification._policies._data.clear()  # type: ignore[attr-defined]
    owner = Owner(client, settings, world["employees"][0]["nip"])
    assert owner.enrolment["user_verification"] == "required"
    employee_id = run(
        client,
        app_db(client).fetch_val,
        sa.select(employees.c.id).where(employees.c.nip == world["employees"][0]["nip"]),
    )
    device = client.get(f"{API}/employees/{employee_id}/device", headers=headers).json()
    assert device["device"]["passkey"] is True
    audit = client.get(f"{API}/audit?action=agency.", headers=headers).json()["items"]
    assert json.loads(audit[0]["detail"])["user_verification"] == "required"


def test_console_unit_form_sets_the_policy(
    client: TestClient, settings: Settings, world: dict[str, Any]
) -> None:
    from tests.support.admin import csrf, make_admins, sign_in
    from tests.test_versions import form_version

    make_admins(client)
    sign_in(client, "agency_admin")
    db = app_db(client)
    unit = run(client, db.fetch_one, units.select().order_by(units.c.id))
    path = f"/admin/units/{unit['id']}"
    page = client.get(path)
    assert 'name="user_verification"' in page.text
    assert "Sidik jari pemilik" in page.text
    form = {
        "csrf_token": csrf(client, path),
        "version": form_version(page.text),
        "code": unit["code"],
        "name": unit["name"],
        "user_verification": "flag",
    }
    assert client.post(path, data=form, follow_redirects=False).status_code == 303
    stored = run(client, db.fetch_val, sa.select(units.c.user_verification))
    assert stored == "flag"
    bad = client.post(
        path,
        data=form
        | {"user_verification": "sometimes", "version": form_version(client.get(path).text)},
        follow_redirects=False,
    )
    assert bad.status_code == 400  # the form again, with the error (as every console form)
    assert "user_verification harus off, required, atau flag" in bad.text
    assert run(client, db.fetch_val, sa.select(units.c.user_verification)) == "flag"
    client.app.state.presensi.hot.user_verification._policies._data.clear()  # type: ignore[attr-defined]
    person = world["employees"][0]
    Owner(client, settings, person["nip"])
    employee_id = run(
        client, db.fetch_val, sa.select(employees.c.id).where(employees.c.nip == person["nip"])
    )
    assert "passkey terdaftar" in client.get(f"/admin/employees/{employee_id}").text


def test_a_stale_cache_never_refuses(
    client: TestClient, settings: Settings, nip: str, token: str
) -> None:
    """A passkey registered through another process, while this one still remembers the phone
    without one: the refusal is decided again on fresh rows, and the scan is accepted."""
    from backend.checkin.userverification import NO_PASSKEY

    set_policy(client, "required")
    owner = Owner(client, settings, nip)
    uv = client.app.state.presensi.hot.user_verification  # type: ignore[attr-defined]
    uv._passkeys.put(owner.phone.device_id, NO_PASSKEY)
    assert owner.check_in(owner.body(token)).status_code == 201
    set_policy(client, "off")
    uv._policies.put(run(client, app_db(client).fetch_val, sa.select(units.c.id)), "required")
    again = Owner(client, settings, nip)  # re-enrolled while the policy was off: no passkey
    # Accepted on the fresh policy (200: the same window as the scan above, its record).
    assert again.check_in(again.body(token, assertion=False)).status_code == 200
