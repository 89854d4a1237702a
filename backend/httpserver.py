"""uvicorn's HTTP protocol with the read timeouts uvicorn lacks.

uvicorn closes a connection that idles between requests (``timeout_keep_alive``) but has no
timeout while a request arrives: a client that opens a connection and sends its headers one
byte every few seconds (slowloris) holds a connection, and a file descriptor, for as long as it
likes. This protocol closes a connection whose request headers have not all arrived
``HEADER_TIMEOUT`` seconds after it opened or after the request began, whose body has not all
arrived ``BODY_TIMEOUT`` seconds after the headers, or whose headers pass ``MAX_HEADER_BYTES``.
The reverse proxy in front should do the same (README, Deployment); this holds when it does
not, and for clients on the proxy's own network.
"""

from __future__ import annotations

import asyncio

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

HEADER_TIMEOUT = 10.0
BODY_TIMEOUT = 60.0  # a 10 MB CSV import over a slow 3G link still arrives
MAX_HEADER_BYTES = 32 * 1024
KEEP_ALIVE_TIMEOUT = 5  # seconds an idle connection stays open between requests


class TimedHttpToolsProtocol(HttpToolsProtocol):
    _read_deadline: asyncio.TimerHandle | None = None
    _header_bytes = 0
    _in_headers = False

    def _arm(self, seconds: float) -> None:
        self._disarm()
        self._read_deadline = self.loop.call_later(seconds, self._too_slow)

    def _disarm(self) -> None:
        if self._read_deadline is not None:
            self._read_deadline.cancel()
            self._read_deadline = None

    def _too_slow(self) -> None:
        self._read_deadline = None
        if not self.transport.is_closing():
            self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._in_headers = True
        self._arm(HEADER_TIMEOUT)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _count(self, size: int) -> None:
        self._header_bytes += size
        if self._header_bytes > MAX_HEADER_BYTES:
            # Raised inside the parser's callback, it reaches data_received as a parser error:
            # uvicorn answers 400 and closes the connection.
            raise ValueError("request headers too large")

    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value) + 4)
        super().on_header(name, value)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._header_bytes = 0
        if not self._in_headers:  # the next request on a kept-alive connection
            self._in_headers = True
            self._arm(HEADER_TIMEOUT)

    def on_headers_complete(self) -> None:
        self._in_headers = False
        self._arm(BODY_TIMEOUT)
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._disarm()
        super().on_message_complete()

    def handle_websocket_upgrade(self) -> None:
        self._disarm()  # the websocket protocol owns the connection from here
        super().handle_websocket_upgrade()
