"""Phones' ECDSA signatures, verified in a helper process next to the event loop.

A check-in's one expensive step is the P-256 verification (~60-130 µs). OpenSSL releases the
GIL while it runs, but a verifying *thread* must take the GIL back after every signature, and
while the event loop is busy (which is exactly during a rush) each hand-back waits for the
interpreter's switch interval: measured here, a 92 µs verification took 3.9 ms of wall time
next to a busy thread, and still 282 µs with a 50 µs switch interval. A separate process has
its own interpreter, so the other core verifies while this one serves HTTP.

Batches go over the helper's stdin and stdout (length-prefixed binary frames, one batch in
flight at a time, no threads in this process). Each item is the phone's public key as an
uncompressed SEC1 point (65 bytes), the raw ``r||s`` signature (64 bytes) and the message; the
answer is one byte per item. If the helper dies it is started again and the batch retried once;
if that fails too, this process verifies from then on: a check-in never fails for the helper.

``python -m backend.checkin.verifier`` is the helper; it exits when its stdin closes. The P-256
primitives live here, not in backend/devices.py, so the helper imports no database code.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import struct
import sys
from collections.abc import Sequence
from typing import BinaryIO

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

log = logging.getLogger("presensi.verifier")

POINT = 65  # 0x04 || x || y
SIGNATURE = 64  # r || s
_FRAME = struct.Struct(">I")
_MESSAGE = struct.Struct(">H")
_P256 = ec.SECP256R1()
_ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())
MAX_KEYS = 100_000  # parsed keys kept (a province's phones); the cache is emptied when full


def key_from_point(point: bytes) -> ec.EllipticCurvePublicKey:
    """A P-256 public key from its uncompressed SEC1 point; ValueError if not on the curve."""
    return ec.EllipticCurvePublicKey.from_encoded_point(_P256, point)


def p1363_to_der(signature: bytes) -> bytes:
    """WebCrypto signs as raw ``r||s`` (IEEE P1363); `cryptography` verifies DER."""
    if len(signature) != SIGNATURE:
        raise ValueError("a P-256 signature is 64 bytes")
    half = SIGNATURE // 2
    return encode_dss_signature(
        int.from_bytes(signature[:half], "big"), int.from_bytes(signature[half:], "big")
    )


def signature_matches(key: ec.EllipticCurvePublicKey, signature: bytes, message: bytes) -> bool:
    """Whether the raw ``r||s`` ``signature`` is ``key``'s over ``message``."""
    try:
        key.verify(p1363_to_der(signature), message, _ECDSA_SHA256)
    except (ValueError, InvalidSignature):
        return False
    return True


class Keys:
    """Parsed public keys by SEC1 point: parsing costs about as much as a verification."""

    def __init__(self) -> None:
        self._keys: dict[bytes, ec.EllipticCurvePublicKey | None] = {}

    def get(self, point: bytes) -> ec.EllipticCurvePublicKey | None:
        key = self._keys.get(point, False)
        if key is False:
            if len(self._keys) >= MAX_KEYS:
                self._keys.clear()
            try:
                key = key_from_point(point)
            except ValueError:
                key = None  # not a point on the curve: every signature fails
            self._keys[point] = key
        return key  # type: ignore[return-value]


def verify_one(keys: Keys, point: bytes, signature: bytes, message: bytes) -> bool:
    key = keys.get(point)
    return key is not None and signature_matches(key, signature, message)


Item = tuple[bytes, bytes, bytes]  # point, raw signature, message


def encode_batch(items: Sequence[Item]) -> bytes:
    parts: list[bytes] = []
    for point, signature, message in items:
        if len(point) != POINT or len(signature) != SIGNATURE or len(message) > 0xFFFF:
            raise ValueError("malformed verification item")
        parts += (point, signature, _MESSAGE.pack(len(message)), message)
    payload = b"".join(parts)
    return _FRAME.pack(len(payload)) + payload


def decode_batch(payload: bytes) -> list[Item]:
    items: list[Item] = []
    at = 0
    while at < len(payload):
        point = payload[at : at + POINT]
        signature = payload[at + POINT : at + POINT + SIGNATURE]
        at += POINT + SIGNATURE
        (length,) = _MESSAGE.unpack_from(payload, at)
        at += _MESSAGE.size
        items.append((point, signature, payload[at : at + length]))
        at += length
    return items


class Helper:
    """One helper process and its pipes; one batch in flight at a time."""

    def __init__(self) -> None:
        self.process: asyncio.subprocess.Process | None = None

    async def spawn(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "backend.checkin.verifier",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )

    async def exchange(self, frame: bytes, count: int) -> list[bool]:
        process = self.process
        if process is None or process.stdin is None or process.stdout is None:
            raise RuntimeError("no helper")
        process.stdin.write(frame)
        await process.stdin.drain()
        answer = await process.stdout.readexactly(count)
        return [byte == 1 for byte in answer]

    async def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.returncode is not None:
            return
        assert process.stdin is not None
        process.stdin.close()  # the helper exits at end of input
        try:
            await asyncio.wait_for(process.wait(), 5)
        except TimeoutError:
            process.kill()
            await process.wait()

    async def discard(self) -> None:
        process, self.process = self.process, None
        if process is not None and process.returncode is None:
            process.kill()
            await process.wait()


HelperFailure = (OSError, asyncio.IncompleteReadError, RuntimeError)
MIN_SHARE = 16  # a batch is split between helpers only when each gets at least this many


class SignatureVerifier:
    """Verifies batches of signatures in ``helpers`` helper processes, splitting each batch
    between them, or in this process (``helpers=0``)."""

    def __init__(self, helpers: int) -> None:
        self.helpers = [Helper() for _ in range(helpers)]
        self._keys = Keys()  # for in-process verification
        self.restarts = 0

    async def start(self) -> None:
        try:
            for helper in self.helpers:
                await helper.spawn()
        except OSError as exc:  # verified here instead; a check-in never waits on this
            log.error("signature helper did not start (%s); verifying in process", exc)
            await self._give_up()

    async def stop(self) -> None:
        for helper in self.helpers:
            await helper.stop()

    async def _give_up(self) -> None:
        helpers, self.helpers = self.helpers, []
        for helper in helpers:
            await helper.discard()

    def verify_here(self, items: Sequence[Item]) -> list[bool]:
        return [verify_one(self._keys, *item) for item in items]

    async def verify(self, items: Sequence[Item]) -> list[bool]:
        """One result per item, in order."""
        if not items:
            return []
        if not self.helpers:
            return self.verify_here(items)
        shares = max(1, min(len(self.helpers), len(items) // MIN_SHARE))
        size = -(-len(items) // shares)
        parts = await asyncio.gather(
            *(
                self._verify_on(helper, items[n * size : (n + 1) * size])
                for n, helper in enumerate(self.helpers[:shares])
            )
        )
        return [verdict for part in parts for verdict in part]

    async def _verify_on(self, helper: Helper, items: Sequence[Item]) -> list[bool]:
        frame = encode_batch(items)
        try:
            return await helper.exchange(frame, len(items))
        except HelperFailure as exc:
            log.warning("signature helper failed (%s); starting it again", type(exc).__name__)
        await helper.discard()
        self.restarts += 1
        try:
            await helper.spawn()
            return await helper.exchange(frame, len(items))
        except HelperFailure as exc:
            log.error("signature helper failed again (%s); verifying in process", exc)
            await self._give_up()
        return self.verify_here(items)


def serve(source: BinaryIO, sink: BinaryIO) -> None:
    """The helper's loop: read a frame, answer one byte per item, until end of input."""
    keys = Keys()
    while True:
        header = source.read(_FRAME.size)
        if len(header) < _FRAME.size:
            return
        (length,) = _FRAME.unpack(header)
        payload = source.read(length)
        if len(payload) < length:
            return
        sink.write(bytes(verify_one(keys, *item) for item in decode_batch(payload)))
        sink.flush()


if __name__ == "__main__":
    # Ctrl-C reaches the whole process group; the server stops the helper itself, after the
    # batches already submitted are answered.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    serve(sys.stdin.buffer, sys.stdout.buffer)
