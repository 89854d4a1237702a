"""Jinja2 templates with the translation catalogue.

The language of a request is set by ``LanguageMiddleware`` (the ``lang`` cookie or
``?lang=``, then Accept-Language; Bahasa Indonesia by default) and read by ``_()`` in templates.
"""

from __future__ import annotations

import contextvars
from pathlib import Path

import jinja2
from starlette.templating import Jinja2Templates
from starlette.types import ASGIApp, Receive, Scope, Send

import templates as templates_package
from backend.i18n import LANGUAGES, gettext, ngettext, pick_language

TEMPLATE_DIR = Path(templates_package.__file__).parent
current_language: contextvars.ContextVar[str] = contextvars.ContextVar("lang", default="id")


def _(message: str) -> str:
    return gettext(current_language.get(), message)


env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
    autoescape=jinja2.select_autoescape(),
    extensions=["jinja2.ext.i18n"],
)
env.install_gettext_callables(  # type: ignore[attr-defined]
    lambda m: gettext(current_language.get(), m),
    lambda s, p, n: ngettext(current_language.get(), s, p, n),
    newstyle=True,
)
env.globals["current_language"] = lambda: current_language.get()
env.globals["LANGUAGES"] = LANGUAGES
templates = Jinja2Templates(env=env)


def scope_language(scope: Scope) -> str:
    """The language a request asks for: ``?lang=``, the ``lang`` cookie, Accept-Language."""
    headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
    chosen = None
    for part in headers.get("cookie", "").split(";"):
        name, _sep, value = part.strip().partition("=")
        if name == "lang":
            chosen = value
    query = scope.get("query_string", b"").decode("latin-1")
    for part in query.split("&"):
        name, _sep, value = part.partition("=")
        if name == "lang" and value in LANGUAGES:
            chosen = value
    return pick_language(headers.get("accept-language"), chosen)


class LanguageMiddleware:
    """Pick the language for each HTTP request or websocket."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        token = current_language.set(scope_language(scope))
        try:
            await self.app(scope, receive, send)
        finally:
            current_language.reset(token)
