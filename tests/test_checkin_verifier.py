"""Signatures verified in helper processes: the same verdicts as in process, in order, and a
helper that dies or never starts costs a restart or a fallback, never a check-in."""

from __future__ import annotations

import asyncio
import io
import sys
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from hypothesis import given
from hypothesis import strategies as st
from starlette.testclient import TestClient

from backend.app import create_app
from backend.checkin.verifier import Item, SignatureVerifier, decode_batch, encode_batch, serve
from backend.db import checkins, displays, utcnow
from backend.demo import ensure_demo
from tests.client import b64url
from tests.conftest import app_db, count, make_settings, run
from tests.test_api import current_token, enrolled
from tests.test_checkin_records import hot_of


def signed(message: bytes) -> Item:
    key = ec.generate_private_key(ec.SECP256R1())
    r, s = decode_dss_signature(key.sign(message, ec.ECDSA(hashes.SHA256())))
    point = key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return point, r.to_bytes(32, "big") + s.to_bytes(32, "big"), message


GOOD = [signed(f"presensi/checkin/v1|scan {n}".encode()) for n in range(6)]
NOT_ON_CURVE = b"\x04" + b"\x01" * 64


def mixed_batch() -> tuple[list[Item], list[bool]]:
    """Good and bad items interleaved, so a verdict in the wrong place shows."""
    items: list[Item] = []
    expected: list[bool] = []
    for n, (point, signature, message) in enumerate(GOOD):
        if n % 3 == 0:
            items.append((point, signature, message))
            expected.append(True)
        elif n % 3 == 1:
            items.append((point, signature, message + b"x"))  # another message
            expected.append(False)
        else:
            items.append((NOT_ON_CURVE, signature, message))
            expected.append(False)
    items.append((GOOD[1][0], GOOD[2][1], GOOD[2][2]))  # someone else's signature
    expected.append(False)
    return items, expected


@given(
    st.lists(
        st.tuples(
            st.binary(min_size=65, max_size=65),
            st.binary(min_size=64, max_size=64),
            st.binary(max_size=300),
        ),
        max_size=20,
    )
)
def test_frames_round_trip(items: list[Item]) -> None:
    frame = encode_batch(items)
    assert int.from_bytes(frame[:4], "big") == len(frame) - 4
    assert decode_batch(frame[4:]) == items


def test_malformed_items_are_not_framed() -> None:
    point, signature, message = GOOD[0]
    for bad in ((point[:64], signature, message), (point, signature[:63], message)):
        with pytest.raises(ValueError, match="malformed"):
            encode_batch([bad])


def test_the_helper_loop_answers_one_byte_per_item_until_end_of_input() -> None:
    items, expected = mixed_batch()
    source = io.BytesIO(encode_batch(items) + encode_batch(items[:2]))
    sink = io.BytesIO()
    serve(source, sink)  # returns at end of input
    assert sink.getvalue() == bytes(expected) + bytes(expected[:2])


async def verdicts(helpers: int, batches: list[list[Item]]) -> tuple[list[list[bool]], Any]:
    verifier = SignatureVerifier(helpers)
    await verifier.start()
    try:
        return [await verifier.verify(batch) for batch in batches], verifier
    finally:
        await verifier.stop()


def test_helpers_give_the_in_process_verdicts_in_order() -> None:
    items, expected = mixed_batch()
    big, big_expected = items * 6, expected * 6  # split between two helpers
    here, _ = asyncio.run(verdicts(0, [items]))
    there, verifier = asyncio.run(verdicts(2, [items, [], big, big[::-1]]))
    assert here == [expected]
    assert there == [expected, [], big_expected, big_expected[::-1]]
    assert verifier.restarts == 0


def test_a_helper_that_dies_is_started_again_and_the_batch_still_answered() -> None:
    items, expected = mixed_batch()
    big, big_expected = items * 6, expected * 6

    async def scenario() -> tuple[list[bool], list[bool], int, bool]:
        verifier = SignatureVerifier(2)
        await verifier.start()
        try:
            first = await verifier.verify(big)
            dead = verifier.helpers[0].process
            assert dead is not None
            dead.kill()
            await dead.wait()
            second = await verifier.verify(big)
            new = verifier.helpers[0].process
            return first, second, verifier.restarts, new is not None and new.pid != dead.pid
        finally:
            await verifier.stop()

    first, second, restarts, replaced = asyncio.run(scenario())
    assert first == second == big_expected
    assert restarts == 1
    assert replaced


def test_helpers_that_cannot_start_leave_verification_in_process(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(sys, "executable", str(tmp_path / "no-python-here"))
    items, expected = mixed_batch()
    results, verifier = asyncio.run(verdicts(2, [items]))
    assert results == [expected]
    assert verifier.helpers == []


def test_stop_ends_the_helpers() -> None:
    async def scenario() -> list[int | None]:
        verifier = SignatureVerifier(2)
        await verifier.start()
        processes = [h.process for h in verifier.helpers]
        await verifier.stop()
        return [p.returncode if p is not None else None for p in processes]

    assert asyncio.run(scenario()) == [0, 0]  # each saw the end of its input and returned


def test_check_ins_over_http_are_verified_in_the_helpers(tmp_path: Path, database_url: str) -> None:
    settings = make_settings(tmp_path, database_url, signature_helpers="2")
    with TestClient(create_app(settings), base_url="https://presensi.test") as client:
        world = run(client, ensure_demo, app_db(client), settings.secret_key, 2)
        run(client, app_db(client).execute, displays.update().values(last_seen_at=utcnow()))
        verifier = hot_of(client).verifier
        assert len(verifier.helpers) == 2
        assert all(h.process is not None and h.process.returncode is None for h in verifier.helpers)
        phone = enrolled(client, settings, world["employees"][0]["nip"])
        token = current_token(settings, world["display"]["id"])
        forged = phone.checkin_body(token)
        forged["signature"] = b64url(bytes(64))
        refused = client.post("/api/v1/checkins", json=forged)
        assert refused.status_code == 401, refused.text
        assert refused.json()["error"]["code"] == "bad_signature"
        assert count(client, checkins) == 0
        accepted = phone.check_in(token)
        assert accepted.status_code == 201, accepted.text
        assert count(client, checkins) == 1
        assert verifier.restarts == 0
