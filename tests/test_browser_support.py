from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import segno
from PIL import Image

from tests.support import browser
from tests.support.browser import (
    CHROMIUM_ARGS,
    decode_qr,
    launch_chromium,
    read_qr,
    require_chromium,
    write_qr_y4m,
)

if TYPE_CHECKING:
    from playwright.sync_api import Page

TOKEN_URL = "https://presensi.test/s#v1.k1.7.123456.abc"

# getUserMedia only exists in secure contexts, so the page is served by Playwright's router under
# https:// rather than from about:blank or a data: URL; no server or network is involved.
CAMERA_PAGE = """<!doctype html>
<html><body style="margin:0">
<video id="video" autoplay muted playsinline></video>
<canvas id="canvas"></canvas>
<script>
  const video = document.getElementById("video");
  const canvas = document.getElementById("canvas");
  window.cameraReady = navigator.mediaDevices
    .getUserMedia({ video: true })
    .then((stream) => {
      video.srcObject = stream;
      return new Promise((resolve) => video.addEventListener("playing", resolve, { once: true }));
    })
    .then(() => [video.videoWidth, video.videoHeight]);
  // Resolves on the next decoded camera frame, so each grab sees a frame the last one did not.
  window.grabFrame = () =>
    new Promise((resolve) => video.requestVideoFrameCallback(resolve)).then(() => {
      canvas.width = video.videoWidth;
      canvas.height = video.videoHeight;
      canvas.getContext("2d").drawImage(video, 0, 0);
      return [canvas.width, canvas.height];
    });
</script>
</body></html>
"""


def y4m_header(width: int, height: int, fps: int) -> bytes:
    return f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420\n".encode("ascii")


def luma_frames(path: Path, width: int, height: int, fps: int) -> list[Image.Image]:
    data = path.read_bytes()
    offset = len(y4m_header(width, height, fps))
    frame_len = len(b"FRAME\n") + width * height * 3 // 2
    frames = []
    for start in range(offset, len(data), frame_len):
        assert data[start : start + 6] == b"FRAME\n"
        luma = data[start + 6 : start + 6 + width * height]
        frames.append(Image.frombytes("L", (width, height), luma))
    return frames


def decode_image(image: Image.Image, tmp_path: Path) -> list[str]:
    png = tmp_path / "frame.png"
    image.save(png)
    return decode_qr(png)


def test_y4m_has_exact_header_and_length(tmp_path: Path) -> None:
    path = write_qr_y4m(tmp_path / "qr.y4m", TOKEN_URL, width=320, height=240, frames=3, fps=5)
    data = path.read_bytes()
    header = y4m_header(320, 240, 5)
    frame_len = len(b"FRAME\n") + 320 * 240 + 2 * (160 * 120)
    assert data.startswith(header)
    assert len(data) == len(header) + 3 * frame_len
    assert data.count(b"FRAME\n") == 3


def test_y4m_frame_holds_the_code_on_neutral_chroma(tmp_path: Path) -> None:
    path = write_qr_y4m(tmp_path / "qr.y4m", TOKEN_URL, width=320, height=240, frames=1)
    [frame] = luma_frames(path, 320, 240, 10)
    assert decode_image(frame, tmp_path) == [TOKEN_URL]
    chroma = path.read_bytes()[-(160 * 120 * 2) :]
    assert set(chroma) == {128}


def test_y4m_sequence_shows_each_code_in_turn(tmp_path: Path) -> None:
    texts = ["A-first", "B-second", "C-third"]
    path = write_qr_y4m(tmp_path / "seq.y4m", texts, width=160, height=120, fps=2)
    seen = [decode_image(frame, tmp_path) for frame in luma_frames(path, 160, 120, 2)]
    assert seen == [[text] for text in texts for _ in range(2)]


def test_y4m_rejects_a_scale_that_does_not_fit(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="needs"):
        write_qr_y4m(tmp_path / "big.y4m", TOKEN_URL, width=160, height=120, scale=10)


def test_y4m_rejects_odd_dimensions(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="even"):
        write_qr_y4m(tmp_path / "odd.y4m", TOKEN_URL, width=161, height=120)


def test_decode_qr_reads_segno_png(tmp_path: Path) -> None:
    png = tmp_path / "qr.png"
    segno.make_qr(TOKEN_URL, error="m").save(png, scale=6, border=4)
    assert decode_qr(png) == [TOKEN_URL]
    assert decode_qr(str(png)) == [TOKEN_URL]
    assert decode_qr(png.read_bytes()) == [TOKEN_URL]


def test_decode_qr_finds_nothing_in_a_blank_image(tmp_path: Path) -> None:
    png = tmp_path / "blank.png"
    Image.new("L", (200, 200), 255).save(png)
    assert decode_qr(png) == []


def test_chromium_args_keep_the_offline_flags() -> None:
    for flag in ("--disable-background-networking", "--disable-component-update", "--no-sandbox"):
        assert flag in CHROMIUM_ARGS


def test_missing_chromium_skips_locally(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(browser, "chromium_available", lambda: False)
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="scripts/install-browser"):
        require_chromium()


def test_missing_chromium_fails_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(browser, "chromium_available", lambda: False)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true"):
        require_chromium()


@pytest.fixture
def camera_page(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Page]:
    """A page whose fake camera shows TOKEN_URL, or the texts given by indirect parametrize."""
    require_chromium()
    from playwright.sync_api import sync_playwright

    texts: str | list[str] = getattr(request, "param", TOKEN_URL)
    video = write_qr_y4m(tmp_path / "camera.y4m", texts)
    with sync_playwright() as playwright:
        chromium = launch_chromium(playwright, fake_video=video)
        try:
            page = chromium.new_page()
            page.route(
                "https://presensi.test/**",
                lambda route: route.fulfill(content_type="text/html", body=CAMERA_PAGE),
            )
            page.goto("https://presensi.test/camera")
            yield page
        finally:
            chromium.close()


@pytest.mark.browser
def test_fake_camera_shows_the_qr_to_the_page(camera_page: Page) -> None:
    assert camera_page.evaluate("window.cameraReady") == [640, 480]
    assert camera_page.evaluate("window.grabFrame()") == [640, 480]
    assert read_qr(camera_page.locator("#canvas")) == [TOKEN_URL]


@pytest.mark.browser
@pytest.mark.parametrize("camera_page", [["CODE-A", "CODE-B"]], indirect=True)
def test_fake_camera_plays_codes_in_turn(camera_page: Page) -> None:
    camera_page.evaluate("window.cameraReady")
    seen: list[str] = []
    # Each code is held for one second; grabFrame waits for a fresh frame, so this loop is paced
    # by the camera, and the deadline only guards against a stalled stream.
    deadline = time.monotonic() + 10
    while len(set(seen)) < 2 and time.monotonic() < deadline:
        camera_page.evaluate("window.grabFrame()")
        seen += read_qr(camera_page.locator("#canvas"))
    assert list(dict.fromkeys(seen)) == ["CODE-A", "CODE-B"]
