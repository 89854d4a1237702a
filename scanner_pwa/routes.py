"""Routes of the phone app (PWA) under /s: the shell, its manifest, service worker and files.

The shell loads the app as one esbuild bundle with a content hash in its name (built by
scripts/build-assets; without a build it falls back to the ES modules in static/js). Static files
are served pre-compressed (brotli or gzip files next to them, built by scripts/build-assets) with
``Content-Encoding`` and ``Vary: Accept-Encoding``, and hashed files with a year of immutable
caching, so the single-box default needs no proxy to be quick on a phone's weak signal.

The service worker is served from /s/sw.js with ``Service-Worker-Allowed: /s`` so its scope can
be ``/s`` itself (the address the QR codes open), not only ``/s/``. Its cache name and the list
of files it precaches are filled in here from the files on disk, so every change to the app
installs a new worker and no file list is kept by hand.
"""

from __future__ import annotations

import ast
import hashlib
import json
import mimetypes
import os
import re
from functools import cache
from pathlib import Path

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from backend.templating import TEMPLATE_DIR, _, current_language, templates

STATIC_DIR = Path(__file__).parent / "static"
STATIC_URL = "/s/static"
SERVICE_WORKER = Path(__file__).parent / "sw.js"
BUNDLE_MANIFEST = STATIC_DIR / "dist" / "manifest.json"
STRINGS_JS = STATIC_DIR / "js" / "strings.js"
# The fallback decoder is big and only some phones need it: the page fetches it into the cache
# once the first screen is up. The modules in js/ are not used once they are bundled.
PAGES = ("/s", "/s/offline", "/s/manifest.webmanifest")
IMMUTABLE = "public, max-age=31536000, immutable"
# Hashed names (dist/app-<12 hex>.js) never change content; anything else is revalidated.
_HASHED = re.compile(r"^dist/.+-[0-9a-f]{12}\.\w+$")
_ENCODINGS = (("br", ".br"), ("gzip", ".gz"))


@cache
def bundle() -> dict[str, str]:
    """Plain name → path under static/ of the built bundle; {} without a build."""
    try:
        manifest: dict[str, str] = json.loads(BUNDLE_MANIFEST.read_text())
        built = BUNDLE_MANIFEST.stat().st_mtime
    except FileNotFoundError:
        return {}
    sources = [*STATIC_DIR.joinpath("js").glob("*.js"), STATIC_DIR / "scanner.css"]
    if any(path.stat().st_mtime > built for path in sources):
        return {}  # edited since the last scripts/build-assets: serve the sources themselves
    return manifest


def asset(name: str) -> str:
    """The URL the shell loads for `name` (app.js or scanner.css)."""
    built = bundle().get(name)
    if built:
        return f"{STATIC_URL}/{built}"
    return f"{STATIC_URL}/js/{name}" if name.endswith(".js") else f"{STATIC_URL}/{name}"


def _precached(relative: str) -> bool:
    if relative.startswith("vendor/") or relative.endswith((".gz", ".br")):
        return False
    if bundle():
        # The bundle replaces the modules and the plain style sheet.
        return relative.startswith(("icons/", *bundle().values()))
    return not relative.startswith("dist/")


def shell_files() -> list[str]:
    """URLs of the static files of the app shell (everything but the fallback decoder)."""
    return sorted(
        f"{STATIC_URL}/{relative}"
        for path in STATIC_DIR.rglob("*")
        if path.is_file() and _precached(relative := path.relative_to(STATIC_DIR).as_posix())
    )


@cache
def shell_strings() -> dict[str, str]:
    """The Indonesian sentences of static/js/strings.js, so the shell's HTML has its text before
    any script runs (the app relabels it in the phone's chosen language)."""
    source = STRINGS_JS.read_text()
    id_part = source.split("\n  en: {", 1)[0]
    found = re.findall(r"^    (\w+):\s*('(?:[^'\\\n]|\\.)*'|\"(?:[^\"\\\n]|\\.)*\")", id_part, re.M)
    return {key: ast.literal_eval(literal) for key, literal in found}


@cache
def service_worker_source() -> str:
    files = shell_files()
    digest = hashlib.sha256()
    for url in files:
        digest.update(url.encode())
        digest.update((STATIC_DIR / url.removeprefix(STATIC_URL + "/")).read_bytes())
    for name in ("scanner.html", "scanner_offline.html"):
        digest.update((TEMPLATE_DIR / name).read_bytes())
    digest.update(STRINGS_JS.read_bytes())  # its text is in the shell's HTML
    source = SERVICE_WORKER.read_text()
    source = source.replace('"__VERSION__"', json.dumps(digest.hexdigest()[:16]))
    return source.replace('["__SHELL__"]', json.dumps([*PAGES, *files]))


class CompressedStaticFiles(StaticFiles):
    """StaticFiles that answers with a pre-compressed copy (file.br, file.gz) when the browser
    takes it, says so in Vary, and lets hashed names be cached for a year."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await self._compressed(path, scope)
        if response is None:
            response = await super().get_response(path, scope)
            response.headers.setdefault("Vary", "Accept-Encoding")
        relative = path.replace(os.sep, "/")
        if response.status_code in (200, 304):
            response.headers["Cache-Control"] = IMMUTABLE if _HASHED.match(relative) else "no-cache"
        return response

    async def _compressed(self, path: str, scope: Scope) -> Response | None:
        headers = Headers(scope=scope)
        accepted = {
            part.split(";")[0].strip().lower()
            for part in headers.get("accept-encoding", "").split(",")
        }
        for encoding, suffix in _ENCODINGS:
            if encoding not in accepted:
                continue
            full_path, stat = self.lookup_path(path + suffix)
            if stat is None:
                continue
            _original, original_stat = self.lookup_path(path)
            if original_stat is None:
                return None
            media_type = mimetypes.guess_type(path)[0] or "application/octet-stream"
            response = FileResponse(
                full_path,
                stat_result=stat,
                media_type=media_type,
                headers={
                    "Content-Encoding": encoding,
                    "Vary": "Accept-Encoding",
                    # Content-Length counts compressed bytes: the page's progress needs the size.
                    "X-Decoded-Length": str(original_stat.st_size),
                },
            )
            if self.is_not_modified(response.headers, headers):
                return Response(
                    status_code=304,
                    headers={"ETag": response.headers["etag"], "Vary": "Accept-Encoding"},
                )
            return response
        return None


async def shell(request: Request) -> Response:
    return templates.TemplateResponse(
        request,
        "scanner.html",
        {
            "static": STATIC_URL,
            "app_js": asset("app.js"),
            "css": asset("scanner.css"),
            "s": shell_strings(),
        },
        headers={"Cache-Control": "no-cache"},
    )


async def offline(request: Request) -> Response:
    return templates.TemplateResponse(
        request,
        "scanner_offline.html",
        {"static": STATIC_URL, "css": asset("scanner.css")},
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
    Mount(STATIC_URL, app=CompressedStaticFiles(directory=STATIC_DIR), name="scanner_static"),
]
