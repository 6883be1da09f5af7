"""The expert console at ``/console``: pages, its JSON endpoints, the live WebSocket, sign-in.

Every state-changing request needs the session's CSRF token (``X-CSRF-Token``) and, when the
browser sends one, an ``Origin`` equal to the console's own; the WebSocket checks the session
and the ``Origin`` before it upgrades. The session cookie is HttpOnly and SameSite=Lax, and
Secure unless the console is served on loopback.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import ipaddress
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

from aiohttp import WSMsgType, web

from bot.app import Services
from bot.chat.model import Expert
from bot.chat.ports import ChatNotFound
from bot.config import Settings
from bot.errors import ValidationError
from bot.transport.console.api import add_api_routes
from bot.transport.console.auth import (
    DEMO_EXPERTS,
    LOGIN_COOKIE,
    SESSION_COOKIE,
    OidcSignIn,
    Session,
    Sessions,
    SignInError,
    demo_expert,
)
from bot.transport.console.common import (
    CHAT,
    bad_query,
    bool_query,
    error,
    int_query,
    json_object,
    read_bounded,
)
from bot.transport.console.status import add_status_routes, attach

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"
SESSIONS = web.AppKey("console_sessions", Sessions)
OIDC = web.AppKey("console_oidc", OidcSignIn)
CONSOLE_SETTINGS = web.AppKey("console_settings", Settings)
SESSION = web.RequestKey("console_session", Session)
MAX_ANSWER_BODY = 96 * 1024
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
    "connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",  # "no-referrer" makes a form post's Origin "null"
    "Cache-Control": "no-store",
}
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


# ---- helpers ----------------------------------------------------------------------------------


def _loopback(host: str) -> bool:
    name = host.rsplit(":", 1)[0].strip("[]") if host.count(":") <= 1 else host.strip("[]")
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def own_origin(request: web.Request) -> str:
    settings = request.app[CONSOLE_SETTINGS]
    if settings.console_public_url:
        return settings.console_public_url.rstrip("/")
    return f"{request.scheme}://{request.host}"


def _origin_ok(request: web.Request, *, required: bool) -> bool:
    origin = request.headers.get("Origin")
    if origin is None:
        return not required
    return origin.rstrip("/") == own_origin(request)


def _session(request: web.Request) -> Session | None:
    return request.app[SESSIONS].get(request.cookies.get(SESSION_COOKIE))


def _set_cookie(response: web.StreamResponse, request: web.Request, name: str, value: str) -> None:
    response.set_cookie(
        name,
        value,
        httponly=True,
        samesite="Lax",
        secure=not _loopback(request.host),
        path="/console",
    )


def _page(name: str) -> web.FileResponse:
    return web.FileResponse(STATIC / name, headers=SECURITY_HEADERS)


def _start_session(request: web.Request, expert: Expert) -> web.Response:
    session = request.app[SESSIONS].create(expert)
    response = web.Response(status=303, headers={"Location": "/console"})
    _set_cookie(response, request, SESSION_COOKIE, session.id)
    response.del_cookie(LOGIN_COOKIE, path="/console")
    log.info("expert %s signed in to the console", expert.id[:64])
    return response


def _sign_in_failed(message: str) -> web.Response:
    return web.Response(
        status=403,
        text=f"Sign-in refused: {message}. Go back to /console/sign-in to try again.",
        content_type="text/plain",
        headers=SECURITY_HEADERS,
    )


# ---- pages and sign-in ------------------------------------------------------------------------


async def console_page(request: web.Request) -> web.StreamResponse:
    if _session(request) is None:
        raise web.HTTPSeeOther("/console/sign-in")
    return _page("console.html")


async def signed_in_page(request: web.Request, name: str) -> web.StreamResponse:
    if _session(request) is None:
        raise web.HTTPSeeOther("/console/sign-in")
    return _page(name)


async def sign_in_page(request: web.Request) -> web.StreamResponse:
    return _page("sign-in.html")


async def sign_in_options(request: web.Request) -> web.Response:
    settings = request.app[CONSOLE_SETTINGS]
    return web.json_response(
        {
            "oidc": settings.console_oidc,
            "demoExperts": [{"id": e.id, "name": e.name} for e in DEMO_EXPERTS]
            if settings.console_dev_sign_in
            else [],
        },
        headers={"Cache-Control": "no-store"},
    )


async def static_file(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    if name not in ("console.js", "console.css", "sign-in.js", "finish.js"):
        raise web.HTTPNotFound()
    return _page(name)


async def oidc_login(request: web.Request) -> web.StreamResponse:
    flow = await request.app[OIDC].begin()
    state = request.app[SESSIONS].begin_login(flow)
    response = web.Response(status=303, headers={"Location": str(flow["auth_uri"])})
    _set_cookie(response, request, LOGIN_COOKIE, state)
    return response


async def _auth_form(request: web.Request) -> dict[str, str]:
    form = await request.post()
    return {
        k: str(form[k])[:4096]
        for k in ("code", "state", "error", "error_description")
        if isinstance(form.get(k), str)
    }


async def oidc_callback(request: web.Request) -> web.StreamResponse:
    """Entra's form post (cross-site, so without our cookies): relay it from our origin."""
    fields = await _auth_form(request)
    if "error" in fields:
        return _sign_in_failed("the identity provider refused the sign-in")
    if not fields.get("code") or not fields.get("state"):
        return _sign_in_failed("the sign-in response is incomplete")
    inputs = "".join(
        f'<input type="hidden" name="{k}" value="{html.escape(fields[k])}">'
        for k in ("code", "state")
    )
    page = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Signing in</title>'
        '<script src="/console/static/finish.js" defer></script></head><body>'
        f'<form method="post" action="/console/auth/finish">{inputs}'
        '<p>Finishing sign-in…</p><button type="submit">Continue</button></form></body></html>'
    )
    return web.Response(text=page, content_type="text/html", headers=SECURITY_HEADERS)


async def oidc_finish(request: web.Request) -> web.StreamResponse:
    if not _origin_ok(request, required=False):
        return _sign_in_failed("the sign-in didn't come from the console")
    fields = await _auth_form(request)
    state = fields.get("state", "")
    if not state or request.cookies.get(LOGIN_COOKIE) != state:
        return _sign_in_failed("this sign-in wasn't started in this browser")
    flow = request.app[SESSIONS].finish_login(state)
    if flow is None:
        return _sign_in_failed("the sign-in took too long or was already used")
    try:
        expert = await request.app[OIDC].finish(flow, fields)
    except SignInError as exc:
        return _sign_in_failed(str(exc))
    return _start_session(request, expert)


async def dev_sign_in(request: web.Request) -> web.StreamResponse:
    if not _origin_ok(request, required=False):
        return error(403, "forbidden", "The request didn't come from the console")
    form = await request.post()
    expert = demo_expert(str(form.get("expert", "")))
    if expert is None:
        return error(400, "badRequest", "Choose one of the demo experts", "expert")
    log.warning("development sign-in to the console as the demo expert %s", expert.name)
    return _start_session(request, expert)


async def sign_out(request: web.Request) -> web.StreamResponse:
    session = _session(request)
    if session is None:
        return error(401, "unauthorized", "Not signed in")
    if not _origin_ok(request, required=False) or not session.csrf_ok(
        request.headers.get("X-CSRF-Token")
    ):
        return error(403, "forbidden", "Missing or wrong CSRF token")
    request.app[SESSIONS].drop(session.id)
    response = web.Response(status=204)
    response.del_cookie(SESSION_COOKIE, path="/console")
    return response


# ---- the console's JSON -----------------------------------------------------------------------


def signed_in(handler: Handler, *, changes: bool = False) -> Handler:
    async def guarded(request: web.Request) -> web.StreamResponse:
        session = _session(request)
        if session is None:
            return error(401, "unauthorized", "Your console session has expired: sign in again")
        if changes:
            if not _origin_ok(request, required=False):
                return error(403, "forbidden", "The request didn't come from the console")
            if not session.csrf_ok(request.headers.get("X-CSRF-Token")):
                return error(403, "forbidden", "Missing or wrong CSRF token: reload the console")
        request[SESSION] = session
        return await handler(request)

    return guarded


async def me(request: web.Request) -> web.Response:
    session = request[SESSION]
    return web.json_response(
        {
            "expert": {"id": session.expert.id, "name": session.expert.name},
            "csrf": session.csrf,
            "devSignIn": request.app[CONSOLE_SETTINGS].console_dev_sign_in,
        },
        headers={"Cache-Control": "no-store"},
    )


async def conversations(request: web.Request) -> web.Response:
    try:
        waiting = bool_query(request, "waiting")
    except ValueError as exc:
        return bad_query(str(exc))
    chat = request.app[CHAT]
    cursor = await chat.store.last_cursor()
    tenant = request.query.get("tenant", "")[:64]
    found = await chat.conversations(tenant_id=tenant, waiting=waiting)
    return web.json_response({"conversations": found, "lastEventId": cursor})


async def transcript(request: web.Request) -> web.Response:
    try:
        after = int_query(request, "after", 0, 0, 2**62)
    except ValueError as exc:
        return bad_query(str(exc))
    try:
        body = await request.app[CHAT].transcript(request.match_info["id"], after=after)
    except ChatNotFound:
        return error(404, "notFound", "No such conversation")
    return web.json_response(body)


async def answer(request: web.Request) -> web.Response:
    session = request[SESSION]
    raw = await read_bounded(request, MAX_ANSWER_BODY)
    if raw is None:
        return error(413, "tooLarge", "The answer is too long for one Teams message")
    if request.content_type != "application/json":
        return error(415, "unsupportedMediaType", "Content-Type must be application/json")
    document = json_object(raw)
    if isinstance(document, web.Response):
        return document
    try:
        message = await request.app[CHAT].answer(
            session.expert, request.match_info["id"], document.get("text")
        )
    except ChatNotFound:
        return error(404, "notFound", "No such conversation")
    except ValidationError as exc:
        return error(422, "invalid", exc.message, exc.field)
    return web.json_response({"message": message.to_json()}, status=202)


async def mark_read(request: web.Request) -> web.Response:
    try:
        await request.app[CHAT].mark_read(request.match_info["id"])
    except ChatNotFound:
        return error(404, "notFound", "No such conversation")
    return web.Response(status=204)


async def live(request: web.Request) -> web.StreamResponse:
    """Events as JSON frames, from ``?after=<last event id>``; pings keep it open."""
    session = _session(request)
    if session is None:
        return error(401, "unauthorized", "Your console session has expired: sign in again")
    if not _origin_ok(request, required=True):
        return error(403, "forbidden", "WebSocket from another origin")
    try:
        after = int_query(request, "after", 0, 0, 2**62)
    except ValueError as exc:
        return bad_query(str(exc))
    chat = request.app[CHAT]
    ws = web.WebSocketResponse(heartbeat=30.0, max_msg_size=4096)
    await ws.prepare(request)
    backlog, subscription = await chat.stream(after)
    chat.console_opened()

    async def drain_incoming() -> None:
        async for message in ws:
            if message.type in (WSMsgType.ERROR, WSMsgType.CLOSE):
                break
        subscription.close()

    reader = asyncio.create_task(drain_incoming())
    try:
        last = after
        for event in backlog:
            await ws.send_str(event.frame)
            last = event.cursor
        await ws.send_json({"type": "ready", "id": last})
        async for event in subscription:
            if event.cursor <= last:
                continue
            if session.expires_at <= time.time():
                break
            await ws.send_str(event.frame)
            last = event.cursor
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        chat.console_closed()
        subscription.close()
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
        await ws.close()
    return ws


# ---- wiring -----------------------------------------------------------------------------------


def add_routes(app: web.Application, settings: Settings) -> None:
    app[CONSOLE_SETTINGS] = settings
    app[SESSIONS] = Sessions(settings.console_session_hours * 3600.0)
    if settings.experts_webhook_secret:
        add_api_routes(app, settings.experts_webhook_secret)
    if not (settings.console_oidc or settings.console_dev_sign_in):
        log.warning(
            "The expert console is off: set CONSOLE_CLIENT_ID and the other CONSOLE_ settings "
            "(docs/chat.md) to sign experts in with Microsoft Entra ID"
        )
        return
    if settings.console_dev_sign_in:
        log.warning(
            "Local mode: the expert console at /console offers a development sign-in (choose a "
            "demo expert) without a password. Never expose it."
        )
        app.router.add_post("/console/auth/dev", dev_sign_in)
    else:
        app[OIDC] = OidcSignIn(settings)
        app.router.add_get("/console/auth/login", oidc_login)
        app.router.add_post("/console/auth/callback", oidc_callback)
        app.router.add_post("/console/auth/finish", oidc_finish)
    app.router.add_get("/console", console_page)
    app.router.add_get("/console/sign-in", sign_in_page)
    app.router.add_get("/console/sign-in/options", sign_in_options)
    app.router.add_get("/console/static/{name}", static_file)
    app.router.add_post("/console/auth/sign-out", sign_out)
    app.router.add_get("/console/api/me", signed_in(me))
    app.router.add_get("/console/api/conversations", signed_in(conversations))
    app.router.add_get("/console/api/conversations/{id}", signed_in(transcript))
    app.router.add_post("/console/api/conversations/{id}/messages", signed_in(answer, changes=True))
    app.router.add_post("/console/api/conversations/{id}/read", signed_in(mark_read, changes=True))
    app.router.add_get("/console/ws", live)
    add_status_routes(app, signed_in, signed_in_page)


@contextlib.asynccontextmanager
async def serving(
    app: web.Application, settings: Settings, services: Services
) -> AsyncIterator[None]:
    """For the app's lifetime: the chat service for the routes (the composition root runs its
    delivery worker and the virtual assistant)."""
    app[CHAT] = services.chat
    attach(app, services)
    try:
        yield
    finally:
        if OIDC in app:
            app[OIDC].close()
