"""Routes of the phone app (PWA) under /s: the shell, its manifest, service worker and files.

The service worker is served from /s/sw.js with ``Service-Worker-Allowed: /s`` so its scope can
be ``/s`` itself (the address the QR codes open), not only ``/s/``. Its cache name and the list
of files it precaches are filled in here from the files on disk, so every change to the app
installs a new worker and no file list is kept by hand.
"""

from __future__ import annotations

import hashlib
import json
from functools import cache
from pathlib import Path

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from backend.templating import TEMPLATE_DIR, _, current_language, templates

STATIC_DIR = Path(__file__).parent / "static"
STATIC_URL = "/s/static"
SERVICE_WORKER = Path(__file__).parent / "sw.js"
# The fallback decoder is big and only some phones need it: the worker caches it on first use.
_NOT_PRECACHED = ("vendor/",)
PAGES = ("/s", "/s/offline", "/s/manifest.webmanifest")


def shell_files() -> list[str]:
    """URLs of the static files of the app shell (everything but the fallback decoder)."""
    return sorted(
        f"{STATIC_URL}/{path.relative_to(STATIC_DIR).as_posix()}"
        for path in STATIC_DIR.rglob("*")
        if path.is_file() and not path.relative_to(STATIC_DIR).as_posix().startswith(_NOT_PRECACHED)
    )


@cache
def service_worker_source() -> str:
    files = shell_files()
    digest = hashlib.sha256()
    for url in files:
        digest.update(url.encode())
        digest.update((STATIC_DIR / url.removeprefix(STATIC_URL + "/")).read_bytes())
    for name in ("scanner.html", "scanner_offline.html"):
        digest.update((TEMPLATE_DIR / name).read_bytes())
    source = SERVICE_WORKER.read_text()
    source = source.replace('"__VERSION__"', json.dumps(digest.hexdigest()[:16]))
    return source.replace('["__SHELL__"]', json.dumps([*PAGES, *files]))


async def shell(request: Request) -> Response:
    return templates.TemplateResponse(
        request, "scanner.html", {"static": STATIC_URL}, headers={"Cache-Control": "no-cache"}
    )


async def offline(request: Request) -> Response:
    return templates.TemplateResponse(
        request,
        "scanner_offline.html",
        {"static": STATIC_URL},
        headers={"Cache-Control": "no-cache"},
    )


async def manifest(request: Request) -> Response:
    lang = current_language.get()
    return JSONResponse(
        {
            "name": _("Presensi — staff attendance"),
            "short_name": "Presensi",
            "description": _("Scan the office display's QR code to clock in and out."),
            "lang": lang,
            "id": "/s",
            "start_url": "/s",
            "scope": "/s",
            "display": "standalone",
            "orientation": "portrait",
            "background_color": "#ffffff",
            "theme_color": "#0b5d3b",
            "icons": [
                {
                    "src": f"{STATIC_URL}/icons/icon-192.png",
                    "sizes": "192x192",
                    "type": "image/png",
                },
                {
                    "src": f"{STATIC_URL}/icons/icon-512.png",
                    "sizes": "512x512",
                    "type": "image/png",
                },
                {
                    "src": f"{STATIC_URL}/icons/maskable-512.png",
                    "sizes": "512x512",
                    "type": "image/png",
                    "purpose": "maskable",
                },
            ],
        },
        media_type="application/manifest+json",
        headers={"Cache-Control": "no-cache"},
    )


async def service_worker(request: Request) -> Response:
    return Response(
        service_worker_source(),
        media_type="text/javascript",
        headers={"Service-Worker-Allowed": "/s", "Cache-Control": "no-cache"},
    )


routes: list[BaseRoute] = [
    Route("/s", shell, methods=["GET"]),
    Route("/s/offline", offline, methods=["GET"]),
    Route("/s/manifest.webmanifest", manifest, methods=["GET"]),
    Route("/s/sw.js", service_worker, methods=["GET"]),
    Mount(STATIC_URL, app=StaticFiles(directory=STATIC_DIR), name="scanner_static"),
]
