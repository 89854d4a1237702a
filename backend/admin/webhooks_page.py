"""The console's webhook page: subscriptions, their delivery log, a warning when one is paused."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from backend import webhooks
from backend.admin.pages import form_data, redirect, render
from backend.admin.presence import error_text
from backend.admin.security import ORG_ADMINS, request_ip, require_role
from backend.errors import ApiError
from backend.state import AppState


async def list_page(request: Request) -> Response:
    state = AppState.of(request)
    me = await require_role(request, ORG_ADMINS)
    form_error = None
    if request.method == "POST":
        data = await form_data(request)
        events = [e.strip() for e in data.get("events", "").split(",") if e.strip()]
        try:
            _id, secret = await webhooks.create(
                state.db, state.settings, me, {"url": data.get("url"), "events": events},
                request_ip(request),
            )  # fmt: skip
            return render(request, "admin/webhook_created.html", {"secret": secret})
        except ApiError as exc:
            form_error = error_text(exc)
    hooks = await webhooks.listing(state.db, me)
    for hook in hooks:
        hook["deliveries"] = await webhooks.deliveries(state.db, hook["id"], limit=10)
    return render(
        request,
        "admin/webhooks.html",
        {"hooks": hooks, "form_error": form_error},
        status_code=400 if form_error else 200,
    )


async def delete_page(request: Request) -> Response:
    state = AppState.of(request)
    me = await require_role(request, ORG_ADMINS)
    try:
        await webhooks.delete(state.db, me, request.path_params["webhook_id"], request_ip(request))
    except ApiError:
        return redirect("/admin/webhooks")
    return redirect("/admin/webhooks", "deleted")


async def resume_page(request: Request) -> Response:
    state = AppState.of(request)
    me = await require_role(request, ORG_ADMINS)
    try:
        await webhooks.resume(state.db, me, request.path_params["webhook_id"], request_ip(request))
    except ApiError:
        return redirect("/admin/webhooks")
    return redirect("/admin/webhooks", "resumed")
