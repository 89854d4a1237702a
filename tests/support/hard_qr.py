"""Deterministic hard QR images for measuring decoders.

Every image is a photograph, simulated with numpy and Pillow only, of the scanner URL shown on an
office monitor: a pinhole camera looks at the screen plane (QR, white page, bezel, room), then the
capture is degraded by blur, glare, low contrast, noise, screen texture and so on. Fixed seeds make
the set identical on every run, so decode rates can be compared between decoders and over time.

    python -m tests.support.hard_qr OUT_DIR   # writes the PNGs and manifest.json
"""

from __future__ import annotations

import base64
import io
import json
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import segno
from PIL import Image

WIDTH, HEIGHT = 640, 480
FOCAL = 800.0  # focal length in pixels, roughly a phone's main camera at 640x480
QUIET = 4  # modules of quiet zone around the symbol
INK, PAPER = 20.0, 235.0  # what a camera records for a black and a white screen pixel
BEZEL, ROOM = 18.0, 120.0
SUPERSAMPLE = 2  # samples per pixel side: anti-aliasing, and screen-texture moiré when sampled

Array = np.ndarray


@dataclass(frozen=True)
class Shot:
    """Where the camera is relative to the screen, and what happens to the picture afterwards."""

    ppm: float = 7.0  # camera pixels per module at the centre of the symbol
    yaw: float = 0.0  # degrees, turning around the vertical axis (standing to the side)
    pitch: float = 0.0  # degrees, tilting around the horizontal axis (monitor above eye level)
    roll: float = 0.0  # degrees, phone rotated in the hand
    shift: tuple[float, float] = (0.0, 0.0)  # symbol centre offset from image centre, pixels
    ink: float = INK
    paper: float = PAPER
    blur: float = 0.0  # gaussian sigma in pixels (focus / motion)
    noise: float = 0.0  # gaussian sensor noise sigma, grey levels
    glare: tuple[tuple[float, float, float, float], ...] = ()  # (x, y, radius, strength) blobs
    screen_texture: float = 0.0  # 0..1 strength of the RGB sub-pixel structure (moiré)
    screen_px_per_module: float = 20.0
    jpeg: int = 0  # JPEG quality to round-trip through, 0 for none
    colour: bool = False


def token_url(rng: np.random.Generator) -> str:
    """A scanner URL in the shape the server issues: `<PUBLIC_URL>/s#v1.<kid>.<d>.<w>.<mac>`."""
    mac = base64.urlsafe_b64encode(rng.bytes(16)).rstrip(b"=").decode()
    display = int(rng.integers(1, 400))
    window = int(rng.integers(117_000_000, 119_000_000))
    return f"https://presensi.example.go.id/s#v1.k1.{display}.{window}.{mac}"


def qr_modules(text: str) -> Array:
    """The symbol with its quiet zone as a boolean array, True for dark modules."""
    qr = segno.make(text, error="m", micro=False, boost_error=False)
    if qr.version > 5:
        raise ValueError(f"expected a QR of version <= 5, got {qr.version} for {text!r}")
    matrix = np.array([list(row) for row in qr.matrix], dtype=bool)
    return np.pad(matrix, QUIET, constant_values=False)


def camera_homography(shot: Shot, n: int) -> Array:
    """Map plane coordinates in modules (symbol from 0 to n) to image pixels."""
    yaw, pitch, roll = (math.radians(a) for a in (shot.yaw, shot.pitch, shot.roll))
    ry = np.array(
        [[math.cos(yaw), 0, math.sin(yaw)], [0, 1, 0], [-math.sin(yaw), 0, math.cos(yaw)]]
    )
    rx = np.array(
        [[1, 0, 0], [0, math.cos(pitch), -math.sin(pitch)], [0, math.sin(pitch), math.cos(pitch)]]
    )
    rz = np.array(
        [[math.cos(roll), -math.sin(roll), 0], [math.sin(roll), math.cos(roll), 0], [0, 0, 1]]
    )
    rot = rz @ rx @ ry
    distance = FOCAL / shot.ppm  # one module is one unit in the plane
    centre = np.array([0.0, 0.0, distance]) - rot[:, 0] * n / 2 - rot[:, 1] * n / 2
    k = np.array(
        [
            [FOCAL, 0, WIDTH / 2 + shot.shift[0]],
            [0, FOCAL, HEIGHT / 2 + shot.shift[1]],
            [0, 0, 1],
        ]
    )
    return k @ np.column_stack([rot[:, 0], rot[:, 1], centre])


def render_plane(modules: Array, shot: Shot) -> Array:
    """Sample the screen plane through the camera; returns float32 HxWx3 in grey levels."""
    n = modules.shape[0]
    inverse = np.linalg.inv(camera_homography(shot, n)).astype(np.float32)
    offsets = (np.arange(SUPERSAMPLE, dtype=np.float32) + 0.5) / SUPERSAMPLE
    # every sub-pixel sample of the image at once: shape (samples, HEIGHT, WIDTH)
    oy, ox = (a.reshape(-1, 1, 1) for a in np.meshgrid(offsets, offsets, indexing="ij"))
    ys, xs = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
    px, py = xs + ox, ys + oy
    w = inverse[2, 0] * px + inverse[2, 1] * py + inverse[2, 2]
    u = (inverse[0, 0] * px + inverse[0, 1] * py + inverse[0, 2]) / w
    v = (inverse[1, 0] * px + inverse[1, 1] * py + inverse[1, 2]) / w
    grey, on_screen = sample_plane(modules, u, v, shot)
    if shot.screen_texture > 0:
        return apply_subpixels(grey, u, v, on_screen, shot).mean(axis=0)
    return np.repeat(grey.mean(axis=0)[..., None], 3, axis=2)


def sample_plane(modules: Array, u: Array, v: Array, shot: Shot) -> tuple[Array, Array]:
    """The scene at plane coordinates: symbol on a white page, text bars, bezel, room.

    Returns the grey levels and the mask of points on the lit screen.
    """
    n = modules.shape[0]
    # a 16:9 page around the symbol, as the display page shows it full-screen
    half_h = n * 0.62
    half_w = half_h * 16 / 9
    cu, cv = np.abs(u - n / 2), v - n / 2
    on_screen = (cu < half_w) & (np.abs(cv) < half_h)
    on_bezel = (cu < half_w + 2.5) & (np.abs(cv) < half_h + 2.5)
    out = np.float32(ROOM) + np.float32(25 / (3 * n)) * np.clip(cv, -3 * n, 3 * n)
    out = np.where(on_bezel, np.float32(BEZEL), out)
    out = np.where(on_screen, np.float32(shot.paper), out)
    # office name and clock above the code: dark bars that are not part of the symbol
    text = on_screen & (cv < -n / 2 - 0.8) & (cv > -n / 2 - 2.6) & (cu < n * 0.45)
    text &= (np.floor(u * 1.3) % 3) != 0
    inside = (u >= 0) & (u < n) & (v >= 0) & (v < n)
    iu = np.clip(u, 0, n - 1).astype(np.intp)
    iv = np.clip(v, 0, n - 1).astype(np.intp)
    dark = text | (inside & modules[iv, iu])
    return np.where(dark, np.float32(shot.ink), out), on_screen


def apply_subpixels(grey: Array, u: Array, v: Array, on_screen: Array, shot: Shot) -> Array:
    """LCD structure: each screen pixel is three vertical R, G, B stripes with dark gaps."""
    sub = u * shot.screen_px_per_module * 3
    channel = np.floor(sub).astype(np.intp) % 3
    lit_pixel = ((sub % 1.0) < 0.75) & ((v * shot.screen_px_per_module % 1.0) < 0.85)
    strength = np.where(on_screen, np.float32(shot.screen_texture), np.float32(0))
    layers = []
    for c in range(3):
        # a lit sub-pixel is about three times brighter, so the average stays about the same
        gain = np.where(lit_pixel & (channel == c), np.float32(2.65), np.float32(0.1))
        layers.append(grey * (1 - strength + strength * gain))
    return np.stack(layers, axis=-1)


def degrade(img: Array, shot: Shot, rng: np.random.Generator) -> Array:
    """Camera-side effects on a float HxWx3 image."""
    ys, xs = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
    for gx, gy, radius, strength in shot.glare:
        blob = strength * np.exp(-((xs - gx) ** 2 + (ys - gy) ** 2) / (2 * radius**2))
        img = img + blob[..., None]
    if shot.blur > 0:
        img = np.stack([gaussian(img[..., c], shot.blur) for c in range(3)], axis=2)
    if shot.noise > 0:
        img = img + rng.normal(0, shot.noise, img.shape).astype(np.float32)
    return np.clip(img, 0, 255)


def gaussian(channel: Array, sigma: float) -> Array:
    """Separable gaussian blur with edge padding (Pillow's blur does not take float images)."""
    radius = math.ceil(3 * sigma)
    taps = np.exp(-(np.arange(-radius, radius + 1) ** 2) / (2 * sigma**2))
    taps /= taps.sum()
    padded = np.pad(channel, radius, mode="edge")
    rows = sum(w * padded[:, i : i + channel.shape[1]] for i, w in enumerate(taps))
    return sum(w * rows[i : i + channel.shape[0], :] for i, w in enumerate(taps)).astype(np.float32)


def photograph(text: str, shot: Shot, seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    img = degrade(render_plane(qr_modules(text), shot), shot, rng)
    pixels = np.round(img).astype(np.uint8)
    picture = (
        Image.fromarray(pixels, "RGB") if shot.colour else Image.fromarray(pixels[..., 1], "L")
    )
    if shot.jpeg:
        buffer = io.BytesIO()
        picture.save(buffer, format="JPEG", quality=shot.jpeg)
        picture = Image.open(io.BytesIO(buffer.getvalue()))
        picture.load()
    return picture


def cases() -> list[tuple[str, Shot]]:
    """(category, shot) for every image; the order and the values are part of the benchmark."""
    out: list[tuple[str, Shot]] = []
    for ppm in (5.0, 6.0, 7.0, 8.0, 9.0, 10.0):
        out.append(("clean", Shot(ppm=ppm)))
    for sigma in (1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 5.0):
        out.append(("blur", Shot(ppm=7.0, blur=sigma)))
    for yaw, pitch in (
        (30, 0),
        (40, 10),
        (50, 0),
        (55, -15),
        (60, 0),
        (65, 10),
        (-45, 20),
        (0, 50),
    ):
        out.append(("perspective", Shot(ppm=7.0, yaw=yaw, pitch=pitch)))
    for x, y, radius, strength in (
        (320, 240, 40, 160),
        (300, 200, 70, 200),
        (360, 260, 25, 255),
        (250, 300, 90, 120),
        (400, 180, 55, 230),
        (320, 240, 120, 90),
        (280, 230, 35, 255),
        (340, 250, 60, 255),
    ):
        out.append(("glare", Shot(ppm=7.0, glare=((x, y, radius, strength),), blur=0.8)))
    for ink, paper in (
        (90, 170),
        (110, 170),
        (120, 165),
        (130, 165),
        (60, 110),
        (170, 215),
        (140, 170),
        (200, 235),
    ):
        out.append(("low_contrast", Shot(ppm=7.0, ink=ink, paper=paper, noise=3.0)))
    for sigma, quality in (
        (15, 0),
        (25, 0),
        (35, 0),
        (45, 0),
        (10, 25),
        (20, 15),
        (30, 30),
        (55, 0),
    ):
        out.append(("noise", Shot(ppm=6.0, noise=sigma, jpeg=quality, blur=0.5)))
    for ppm in (1.5, 1.8, 2.0, 2.2, 2.5, 2.8, 3.0, 3.5):
        out.append(("small", Shot(ppm=ppm, shift=(40.0, -30.0))))
    for texture, spm, yaw in (
        (0.2, 20, 0),
        (0.3, 24, 10),
        (0.4, 18, 0),
        (0.5, 27, 20),
        (0.6, 15, 5),
        (0.8, 22, 30),
    ):
        out.append(
            (
                "moire",
                Shot(
                    ppm=5.0,
                    screen_texture=texture,
                    screen_px_per_module=spm,
                    yaw=yaw,
                    blur=0.7,
                    colour=True,
                ),
            )
        )
    for roll in (10, 25, 45, 90, 135, 180, 225, 315):
        out.append(("rotation", Shot(ppm=7.0, roll=roll)))
    monitor = (
        Shot(
            ppm=4.0,
            yaw=35,
            pitch=15,
            roll=5,
            ink=45,
            paper=200,
            blur=1.2,
            noise=6,
            screen_texture=0.3,
            glare=((220, 170, 80, 90),),
            colour=True,
        ),
        Shot(
            ppm=3.5,
            yaw=-40,
            pitch=10,
            roll=-8,
            ink=50,
            paper=190,
            blur=1.0,
            noise=8,
            screen_texture=0.4,
            glare=((380, 210, 60, 140),),
            colour=True,
            jpeg=40,
        ),
        Shot(
            ppm=5.0,
            yaw=50,
            pitch=20,
            roll=3,
            ink=40,
            paper=210,
            blur=1.5,
            noise=5,
            screen_texture=0.3,
            glare=((300, 260, 100, 70),),
            colour=True,
        ),
        Shot(
            ppm=3.0,
            yaw=25,
            pitch=25,
            roll=-12,
            ink=55,
            paper=185,
            blur=0.9,
            noise=7,
            screen_texture=0.2,
            colour=True,
        ),
        Shot(
            ppm=4.5,
            yaw=-55,
            pitch=5,
            roll=10,
            ink=35,
            paper=215,
            blur=1.3,
            noise=6,
            screen_texture=0.3,
            glare=((350, 200, 45, 200),),
            colour=True,
            jpeg=50,
        ),
        Shot(
            ppm=6.0,
            yaw=45,
            pitch=-20,
            roll=170,
            ink=60,
            paper=180,
            blur=2.0,
            noise=10,
            screen_texture=0.25,
            colour=True,
        ),
        Shot(
            ppm=2.8,
            yaw=20,
            pitch=30,
            roll=0,
            ink=40,
            paper=205,
            blur=0.8,
            noise=5,
            screen_texture=0.5,
            glare=((280, 220, 70, 110),),
            colour=True,
        ),
        Shot(
            ppm=4.0,
            yaw=-30,
            pitch=-25,
            roll=-25,
            ink=70,
            paper=175,
            blur=1.6,
            noise=9,
            screen_texture=0.35,
            glare=((330, 250, 90, 120),),
            colour=True,
            jpeg=35,
        ),
    )
    out.extend(("monitor", shot) for shot in monitor)
    return out


def generate(
    out_dir: str | Path, *, only: Callable[[str], bool] | None = None
) -> list[dict[str, str]]:
    """Write every image as PNG plus `manifest.json` into out_dir and return the manifest.

    Each entry has `name` (file name), `category` and `text` (what a decoder must return).
    `only` filters by category, for quick runs.
    """
    directory = Path(out_dir)
    directory.mkdir(parents=True, exist_ok=True)
    manifest: list[dict[str, str]] = []
    counters: dict[str, int] = {}
    for index, (category, shot) in enumerate(cases()):
        counters[category] = counters.get(category, 0) + 1
        if only is not None and not only(category):
            continue
        seed = 20_240_000 + index
        text = token_url(np.random.default_rng(seed))
        name = f"{category}_{counters[category]:02d}.png"
        photograph(text, shot, seed).save(directory / name, compress_level=1)
        manifest.append({"name": name, "category": category, "text": text})
    (directory / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m tests.support.hard_qr OUT_DIR")
    print(f"{len(generate(sys.argv[1]))} images written to {sys.argv[1]}")
