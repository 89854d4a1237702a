"""The scanner PWA's files under /s: shell, manifest, service worker, icons, offline page."""

from __future__ import annotations

import io
import json
import re
from html.parser import HTMLParser

import pytest
from PIL import Image
from starlette.testclient import TestClient

from scanner_pwa.routes import IMMUTABLE, STATIC_DIR, asset, bundle, shell_files


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.script_text = ""
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.script_text += data.strip()


def parse(html: str) -> Tags:
    tags = Tags()
    tags.feed(html)
    return tags


def test_shell_loads_modules_only_from_files(client: TestClient) -> None:
    response = client.get("/s")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    tags = parse(response.text)
    assert tags.script_text == ""  # no inline script: the CSP forbids it
    assert not any(name.startswith("on") for _tag, attrs in tags.tags for name in attrs)
    scripts = [attrs for tag, attrs in tags.tags if tag == "script"]
    assert scripts == [{"type": "module", "src": asset("app.js")}]
    assert bundle(), "run scripts/build-assets (the esbuild bundle)"
    assert re.fullmatch(r"/s/static/dist/app-[0-9a-f]{12}\.js", asset("app.js"))
    links = {attrs.get("rel"): attrs.get("href") for tag, attrs in tags.tags if tag == "link"}
    assert links["manifest"] == "/s/manifest.webmanifest"
    video = next(attrs for tag, attrs in tags.tags if tag == "video")
    assert {"playsinline", "muted"} <= set(video)
    csp = response.headers["content-security-policy"]
    assert "script-src 'self' 'wasm-unsafe-eval'" in csp and "worker-src 'self'" in csp


def test_every_data_t_key_is_in_both_languages(client: TestClient) -> None:
    strings = (STATIC_DIR / "js" / "strings.js").read_text()
    id_part, en_part = strings.split("\n  en: {", 1)
    keys_id = set(re.findall(r"^    (\w+):", id_part, re.M))
    keys_en = set(re.findall(r"^    (\w+):", en_part.split("\n  },\n};", 1)[0], re.M))
    assert keys_id == keys_en
    used = set(re.findall(r'data-t="(\w+)"', client.get("/s").text))
    assert used and used <= keys_id
    # Every error code the check-in and enrolment can answer has its own sentence on the phone.
    for code in (
        "malformed_token",
        "unknown_key",
        "bad_mac",
        "expired_token",
        "future_token",
        "unknown_display",
        "display_revoked",
        "unknown_device",
        "device_revoked",
        "bad_signature",
        "employee_inactive",
        "invalid_code",
        "rate_limited",
        "stale_signature",
    ):
        assert f"err_{code}" in keys_id


def test_manifest_is_installable(client: TestClient) -> None:
    response = client.get("/s/manifest.webmanifest")
    assert response.headers["content-type"].startswith("application/manifest+json")
    manifest = response.json()
    assert manifest["scope"] == "/s" and manifest["start_url"] == "/s"
    assert manifest["display"] == "standalone"
    assert manifest["lang"] == "id" and "kehadiran" in manifest["name"]
    sizes = {icon["sizes"] for icon in manifest["icons"]}
    assert {"192x192", "512x512"} <= sizes
    assert any(icon.get("purpose") == "maskable" for icon in manifest["icons"])
    for icon in manifest["icons"]:
        image = client.get(icon["src"])
        assert image.status_code == 200 and image.headers["content-type"] == "image/png"
        width, height = Image.open(io.BytesIO(image.content)).size
        assert f"{width}x{height}" == icon["sizes"]
    english = client.get("/s/manifest.webmanifest", headers={"accept-language": "en"}).json()
    assert english["lang"] == "en" and "attendance" in english["name"]


def test_service_worker_scope_and_precache_list(client: TestClient) -> None:
    response = client.get("/s/sw.js")
    assert response.status_code == 200
    assert response.headers["service-worker-allowed"] == "/s"
    assert response.headers["content-type"].startswith("text/javascript")
    assert response.headers["cache-control"] == "no-cache"
    source = response.text
    assert "__VERSION__" not in source and "__SHELL__" not in source
    shell = json.loads(re.search(r"const SHELL = (\[.*?\]);", source).group(1))  # type: ignore[union-attr]
    assert {"/s", "/s/offline", asset("app.js"), asset("scanner.css")} <= set(shell)
    assert not any("/js/" in url for url in shell)  # the bundle replaces the modules
    assert not any("/vendor/" in url for url in shell)  # the fallback decoder is cached on use
    for url in shell:
        assert client.get(url).status_code == 200, url


def test_shell_files_are_what_the_disk_has() -> None:
    files = shell_files()
    assert asset("app.js") in files and asset("scanner.css") in files
    assert all(url.startswith("/s/static/") for url in files)


def test_offline_page(client: TestClient) -> None:
    response = client.get("/s/offline")
    assert response.status_code == 200
    assert "Tidak ada koneksi" in response.text
    assert "<script" not in response.text
    assert "No connection" in client.get("/s/offline?lang=en").text


@pytest.mark.parametrize("path", ["/s/static/js/app.js", "/s/static/js/strings.js"])
def test_modules_are_javascript(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/javascript")


def test_fallback_decoder_is_served_locally(client: TestClient) -> None:
    """scripts/build-assets copies it from node_modules; the page never reaches for a CDN."""
    module = client.get("/s/static/vendor/zxing-wasm/es/reader/index.js")
    assert module.status_code == 200, "run scripts/install (npm ci + scripts/build-assets)"
    assert client.get("/s/static/vendor/zxing-wasm/es/share.js").status_code == 200
    wasm = client.get("/s/static/vendor/zxing-wasm/reader/zxing_reader.wasm")
    assert wasm.headers["content-type"] == "application/wasm"
    assert wasm.content[:4] == b"\0asm"
    decoder = (STATIC_DIR / "js" / "decoder.js").read_text()
    assert "locateFile" in decoder and "http" not in decoder


def test_shell_has_the_enrolment_text_before_any_script(client: TestClient) -> None:
    html = client.get("/s").text
    assert '<h2 data-t="enrol_title">Daftarkan HP ini</h2>' in html
    assert (
        '<button type="submit" id="enrol-submit" class="primary" data-t="enrol_button">Daftarkan'
        in html
    )
    assert f'<link rel="modulepreload" href="{asset("app.js")}">' in html


def test_bundle_is_served_compressed_and_immutable(client: TestClient) -> None:
    url = asset("app.js")
    plain = (STATIC_DIR / url.removeprefix("/s/static/")).read_bytes()
    brotli = client.get(url, headers={"accept-encoding": "gzip, br"})
    assert brotli.status_code == 200
    assert brotli.headers["content-encoding"] == "br"
    assert brotli.headers["vary"] == "Accept-Encoding"
    assert brotli.headers["cache-control"] == IMMUTABLE
    assert brotli.headers["content-type"].startswith("text/javascript")
    assert int(brotli.headers["content-length"]) < len(plain) / 2
    assert int(brotli.headers["x-decoded-length"]) == len(plain)
    gzipped = client.get(url, headers={"accept-encoding": "gzip"})
    assert gzipped.headers["content-encoding"] == "gzip"
    assert gzipped.content == plain  # the client decoded it
    identity = client.get(url, headers={"accept-encoding": "identity"})
    assert "content-encoding" not in identity.headers and identity.content == plain
    assert identity.headers["vary"] == "Accept-Encoding"
    again = client.get(
        url, headers={"accept-encoding": "br", "if-none-match": brotli.headers["etag"]}
    )
    assert again.status_code == 304


def test_fallback_decoder_is_compressed_wasm(client: TestClient) -> None:
    url = "/s/static/vendor/zxing-wasm/reader/zxing_reader.wasm"
    response = client.get(url, headers={"accept-encoding": "br"})
    assert response.headers["content-type"] == "application/wasm"
    assert response.headers["content-encoding"] == "br"
    size = (STATIC_DIR / "vendor/zxing-wasm/reader/zxing_reader.wasm").stat().st_size
    assert int(response.headers["content-length"]) < size / 2
    # Not hashed: revalidated, never stale.
    assert response.headers["cache-control"] == "no-cache"
    assert client.get("/s/static/icons/icon-192.png").headers["cache-control"] == "no-cache"
