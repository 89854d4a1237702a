"""Real-browser test support: launching Chromium, fake camera videos, QR decoding.

Chromium's fake capture device plays a Y4M file in a loop, so a test can put any QR code in
front of the scanner page's "camera" without hardware.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import segno
import zxingcpp
from PIL import Image

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Locator, Playwright

CHROMIUM_PATH = Path("/usr/bin/chromium")

# The test machine has no internet: without the background-networking flags Chromium keeps
# trying to reach Google services and fills the logs with refused connections.
CHROMIUM_ARGS: list[str] = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# BT.601 limited range, which is how Chromium interprets I420 from the fake capture device.
_Y_BLACK = 16
_Y_WHITE = 235
_CHROMA_NEUTRAL = 128


def chromium_available() -> bool:
    """True when both the Playwright package and the system Chromium binary are present."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return False
    return CHROMIUM_PATH.is_file() and os.access(CHROMIUM_PATH, os.X_OK)


def require_chromium() -> None:
    """Skip the calling test without Chromium, but fail in CI, where a skip would hide a gap."""
    import pytest

    if chromium_available():
        return
    reason = (
        f"Chromium not found at {CHROMIUM_PATH} (or playwright not installed); "
        "run scripts/install-browser"
    )
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} — browser tests are mandatory when CI=true")
    pytest.skip(reason)


def launch_chromium(
    playwright: Playwright,
    *,
    fake_video: Path | None = None,
    extra_args: Iterable[str] = (),
) -> Browser:
    """Launch headless system Chromium; with `fake_video`, the camera plays that Y4M file."""
    args = list(CHROMIUM_ARGS)
    if fake_video is not None:
        args += [
            # Grants the camera permission prompt, so pages need no extra context permissions.
            "--use-fake-ui-for-media-stream",
            "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-video-capture={Path(fake_video).resolve()}",
        ]
    args += list(extra_args)
    # Playwright's bundled browsers cannot be downloaded here, so always use Debian's.
    return playwright.chromium.launch(executable_path=str(CHROMIUM_PATH), headless=True, args=args)


def _qr_luma(text: str, width: int, height: int, scale: int | None) -> np.ndarray:
    # make_qr, not make: segno.make picks a Micro QR for short texts, which phones cannot read.
    qr = segno.make_qr(text, error="m", boost_error=False)
    modules = np.array(list(qr.matrix_iter(scale=1, border=4)), dtype=bool)
    side = modules.shape[0]
    if scale is None:
        scale = min(width, height) // side
    if scale < 1 or side * scale > min(width, height):
        raise ValueError(
            f"QR for {text!r} is {side} modules with its quiet zone; at scale {scale} it needs "
            f"{side * scale}px but the frame is {width}x{height}"
        )
    symbol = np.where(modules, _Y_BLACK, _Y_WHITE).astype(np.uint8)
    symbol = np.repeat(np.repeat(symbol, scale, axis=0), scale, axis=1)
    frame = np.full((height, width), _Y_WHITE, dtype=np.uint8)
    top = (height - symbol.shape[0]) // 2
    left = (width - symbol.shape[1]) // 2
    frame[top : top + symbol.shape[0], left : left + symbol.shape[1]] = symbol
    return frame


def write_qr_y4m(
    path: Path | str,
    text: str | Sequence[str],
    *,
    width: int = 640,
    height: int = 480,
    frames: int | None = None,
    fps: int = 10,
    scale: int | None = None,
    frames_per_code: int | None = None,
) -> Path:
    """Write a Y4M video of QR codes for Chromium's fake camera, and return its path.

    One text gives `frames` identical frames (default 10). A sequence of texts shows each code
    for `frames_per_code` frames (default `fps`, i.e. one second) in turn; `frames` then defaults
    to one pass through the list. Chromium loops the file when it reaches the end.
    `scale` is pixels per module; by default the largest that fits the frame.
    """
    if width % 2 or height % 2:
        raise ValueError(f"4:2:0 needs even dimensions, got {width}x{height}")
    texts = [text] if isinstance(text, str) else list(text)
    if not texts:
        raise ValueError("expected at least one text to encode, got an empty sequence")
    hold = frames_per_code if frames_per_code is not None else fps
    if frames is None:
        frames = 10 if isinstance(text, str) else hold * len(texts)
    if frames < 1 or hold < 1 or fps < 1:
        raise ValueError(
            f"frames, fps and frames_per_code must be ≥ 1, got {frames}, {fps}, {hold}"
        )

    planes = [_qr_luma(t, width, height, scale).tobytes() for t in texts]
    chroma = bytes([_CHROMA_NEUTRAL]) * ((width // 2) * (height // 2) * 2)
    path = Path(path)
    with path.open("wb") as out:
        # Chromium's fake capture only takes 4:2:0: with C422 getUserMedia fails (NotFoundError).
        out.write(f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420\n".encode("ascii"))
        for index in range(frames):
            out.write(b"FRAME\n")
            out.write(planes[(index // hold) % len(planes)])
            out.write(chroma)
    return path


def decode_qr(image: bytes | Path | str) -> list[str]:
    """Texts of every QR code in a PNG (bytes) or image file (path)."""
    source = io.BytesIO(image) if isinstance(image, bytes) else Path(image)
    with Image.open(source) as img:
        barcodes = zxingcpp.read_barcodes(img.convert("L"), formats=zxingcpp.BarcodeFormat.QRCode)
    return [barcode.text for barcode in barcodes]


def read_qr(locator: Locator) -> list[str]:
    """Texts of the QR codes visible in one element, as the user would see it on screen."""
    return decode_qr(locator.screenshot())
