"""One spelling of a NIP or username: a padding is never a fresh set of tries, nor a bypass."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from backend import identifiers
from backend.app import create_app
from backend.demo import ensure_demo
from backend.employees import ValidationError, validate_nip
from tests.client import Phone
from tests.conftest import app_db, make_settings, run
from tests.support.admin import make_admins, sign_in
from tests.test_api import code_for, error_code

NIP = "199001012020121001"
# What the outside test tried, and what phones, spreadsheets and IMEs add.
KNOWN = [" ", "\t", "\n", "\r", "\v", "\f", "\xa0", "\u3000", "\u2002", "\u2009", "\u200b",
         "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad", "\u202f", "\u205f", "\u1680",
         "\u2028", "\u2029", "\x00", "\x1f", "\x85", "\u200e", "\u202e"]  # fmt: skip
invisible = st.sampled_from(KNOWN) | st.characters(categories=["Zs", "Zl", "Zp", "Cc", "Cf"])
padding = st.text(invisible, max_size=4)


@given(before=padding, inside=padding, after=padding)
def test_every_padding_is_the_same_nip(before: str, inside: str, after: str) -> None:
    padded = before + NIP[:8] + inside + NIP[8:] + after
    assert identifiers.nip(padded) == NIP
    assert validate_nip(padded, "asn") == NIP
    assert identifiers.username_key(before + "Admin" + after) == "admin"


def test_full_width_digits_are_ascii() -> None:
    assert identifiers.nip("１９９００１０１２０２０１２１００１") == NIP


@pytest.mark.parametrize("value", [NIP[:-1], NIP + "1", "19900101202012100x", "٠" * 18])
def test_asn_and_pppk_need_eighteen_ascii_digits(value: str) -> None:
    for kind in ("asn", "pppk"):
        with pytest.raises(ValidationError):
            validate_nip(value, kind)


def test_contract_numbers_keep_their_shape() -> None:
    assert validate_nip(" -K.001\u3000", "contract") == "-K.001"


@pytest.fixture
def limited(tmp_path: Path, database_url: str) -> Any:
    settings = make_settings(tmp_path, database_url, enrol_limit_per_nip="3")
    with TestClient(create_app(settings), base_url="https://presensi.test") as client:
        info = run(client, ensure_demo, app_db(client), settings.secret_key, 2)
        yield client, settings, info


@hsettings(
    max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(paddings=st.lists(st.tuples(padding, padding), min_size=4, max_size=4))
def test_paddings_share_one_enrolment_limit(limited: Any, paddings: list[tuple[str, str]]) -> None:
    client, settings, info = limited
    run(client, client.app.state.presensi.enrol_nip_limiter.reset)
    nip = info["employees"][0]["nip"]
    code = code_for(client, settings, nip)
    for before, after in paddings[:3]:
        response = Phone(client).enrol(before + nip + after, "WRONGCOD")
        assert error_code(response) == "invalid_code"
    before, after = paddings[3]
    limited_now = Phone(client).enrol(before + nip + after, code)  # even the right code waits
    assert limited_now.status_code == 429 and error_code(limited_now) == "rate_limited"


def test_a_padded_nip_with_its_code_enrols_as_the_nip(limited: Any) -> None:
    client, settings, info = limited
    person = info["employees"][1]
    response = Phone(client).enrol("\u3000" + person["nip"] + "\xa0\t", code_for(
        client, settings, person["nip"]
    ))  # fmt: skip
    assert response.status_code == 201, response.text
    assert response.json()["employee"]["nip"] == person["nip"]


def test_only_invisible_characters_are_no_nip(limited: Any) -> None:
    client, _settings, _info = limited
    assert error_code(Phone(client).enrol("\u200b\u3000 ", "WRONGCOD")) == "invalid_request"


def test_padded_usernames_share_one_sign_in_limit(client: TestClient, world: Any) -> None:
    make_admins(client)
    for pad in (" ", "\t", "\xa0", "\u3000", "\u200b"):
        response = sign_in(client, "leader" + pad, "wrong password!")
        assert response.status_code == 401
    assert sign_in(client, "LEADER\u3000").status_code == 429
    assert sign_in(client, "leader").status_code == 429


def test_padded_username_signs_in(client: TestClient, world: Any) -> None:
    make_admins(client)
    assert sign_in(client, "\u3000leader\u200b").status_code == 303
