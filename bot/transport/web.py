"""The aiohttp application: /api/messages, /healthz. ``create_app`` wires nothing at import."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator

from aiohttp import web
from botbuilder.schema import Activity

from bot.app import Services, Storage, build_services
from bot.config import Settings
from bot.graph.http import create_http_session
from bot.tenant import TenantDirectory
from bot.transport import console, limits, notifications_api, operations, readiness_api
from bot.transport.activity_shape import MAX_DEPTH, ActivityShapeError, check_activity
from bot.transport.adapter import RetryingCloudAdapter, invoke_body
from bot.transport.botauth import (
    DEFAULT_METADATA_URL,
    BotAuthenticator,
    BotTokenVerifier,
    KeysUnavailable,
)
from bot.transport.handler import DefenderExpertsBot
from bot.transport.messenger import BotFrameworkEdge

log = logging.getLogger(__name__)

SETTINGS = web.AppKey("settings", Settings)
SERVICES = web.AppKey("services", Services)
ADAPTER = web.AppKey("adapter", RetryingCloudAdapter)
BOT = web.AppKey("bot", DefenderExpertsBot)
AUTH = web.AppKey("auth", BotAuthenticator)


def create_app(
    settings: Settings,
    *,
    storage: Storage | None = None,
    directory: TenantDirectory | None = None,
    adapter: RetryingCloudAdapter | None = None,
) -> web.Application:
    """The web application over the services :func:`bot.app.build_services` builds at start-up
    and closes at shutdown. Ports may be injected; the defaults come from settings."""
    app = web.Application(
        client_max_size=settings.max_request_bytes,
        middlewares=[limits.guard_middleware(settings)],
    )
    app[SETTINGS] = settings

    async def lifetime(app: web.Application) -> AsyncIterator[None]:
        token_mode = not settings.local_mode
        # One client session for the process (Microsoft Graph, the Bot Framework's OpenID
        # keys); the services own it from here and close it last.
        http = (
            create_http_session(settings)
            if settings.tenant_backend == "graph" or token_mode
            else None
        )
        verifier = (
            BotTokenVerifier(
                settings.app_id,
                http,
                metadata_url=settings.bot_openid_metadata or DEFAULT_METADATA_URL,
                timeout=settings.bot_openid_timeout,
            )
            if token_mode and http is not None
            else None
        )
        edge = BotFrameworkEdge(settings, adapter, verifier=verifier)
        services = await build_services(
            settings, storage=storage, directory=directory, edge=edge, http=http
        )
        app[SERVICES] = services
        app[ADAPTER] = edge.adapter
        app[AUTH] = edge.authenticator
        app[BOT] = DefenderExpertsBot(
            services.router,
            services.conversations,
            allowed_tenants=settings.tenant_allow_list,
            chat=services.chat,
            limiter=services.limiter,
        )
        edge.adapter.on_turn_error = app[BOT].on_turn_error
        notifications_api.serve(app, services.notifications)
        if settings.local_mode:
            log.warning(
                "Local mode: MicrosoftAppId is not set, so /api/messages accepts anonymous "
                "requests. Never expose this endpoint."
            )
        try:
            await services.start()
            app[operations.STORE] = services.store
            if services.delivery is not None:
                app[operations.DELIVERY_WORKER] = services.delivery
            async with console.serving(app, settings, services):
                yield
        finally:
            await services.close()

    app.cleanup_ctx.append(lifetime)
    notifications_api.add_routes(app, settings)
    if settings.experts_webhook_secret:
        readiness_api.add_routes(app, SERVICES)
    console.add_routes(app, settings)
    app.router.add_post("/api/messages", messages)
    app.router.add_get("/healthz", healthz)
    operations.add_routes(app, settings)
    return app


def run(settings: Settings) -> None:
    """Serve until interrupted."""
    limits.serve(create_app(settings), settings)


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def messages(request: web.Request) -> web.Response:
    """Bot Framework endpoint. Replaces CloudAdapter.process to serialize invoke bodies safely."""
    if request.content_type != "application/json":
        raise web.HTTPUnsupportedMediaType(text="Content-Type must be application/json")
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise web.HTTPBadRequest(text="The body is not valid JSON") from None
    except RecursionError:
        raise web.HTTPBadRequest(
            text=f"Malformed activity: the activity is nested deeper than {MAX_DEPTH} levels"
        ) from None
    try:
        check_activity(body)
        activity = Activity().deserialize(body)
    except ActivityShapeError as exc:
        raise web.HTTPBadRequest(text=f"Malformed activity: {exc}") from None
    except Exception:  # msrest's own checks: whatever it refuses is the sender's fault
        raise web.HTTPBadRequest(text="Malformed activity") from None
    if not activity.type:
        raise web.HTTPBadRequest(text="The activity has no type")
    auth_header = request.headers.get("Authorization", "")
    try:
        authenticated = await request.app[AUTH].authenticate(activity, auth_header)
    except KeysUnavailable:
        raise web.HTTPServiceUnavailable(headers={"Retry-After": "10"}) from None
    except PermissionError:
        raise web.HTTPUnauthorized() from None
    adapter = request.app[ADAPTER]
    invoke_response = await adapter.process_activity(
        authenticated, activity, request.app[BOT].on_turn
    )
    if invoke_response and invoke_response.status == 501:
        # botbuilder's answer to an invoke the bot doesn't implement: the sender asked for
        # something this bot doesn't offer, which is a 4xx, not a server fault.
        raise web.HTTPBadRequest(text="This bot doesn't handle that invoke")
    if invoke_response:
        return web.json_response(
            data=invoke_body(invoke_response.body), status=invoke_response.status
        )
    return web.Response(status=201)
