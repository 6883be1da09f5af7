"""The aiohttp application: /api/messages, /healthz. ``create_app`` wires nothing at import."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator

from aiohttp import web
from botbuilder.schema import Activity

from bot.app import Services, Storage, build_services
from bot.config import Settings
from bot.tenant import TenantDirectory
from bot.transport import notifications_api
from bot.transport.adapter import RetryingCloudAdapter, invoke_body
from bot.transport.handler import DefenderExpertsBot, on_turn_error
from bot.transport.messenger import BotFrameworkEdge

log = logging.getLogger(__name__)

SETTINGS = web.AppKey("settings", Settings)
SERVICES = web.AppKey("services", Services)
ADAPTER = web.AppKey("adapter", RetryingCloudAdapter)
BOT = web.AppKey("bot", DefenderExpertsBot)


def create_app(
    settings: Settings,
    *,
    storage: Storage | None = None,
    directory: TenantDirectory | None = None,
    adapter: RetryingCloudAdapter | None = None,
) -> web.Application:
    """The web application over the services :func:`bot.app.build_services` builds at start-up
    (and closes at shutdown). Ports may be injected; the defaults come from settings."""
    app = web.Application(client_max_size=settings.max_request_bytes)
    app[SETTINGS] = settings

    async def lifetime(app: web.Application) -> AsyncIterator[None]:
        edge = BotFrameworkEdge(settings, adapter)
        edge.adapter.on_turn_error = on_turn_error
        services = await build_services(settings, storage=storage, directory=directory, edge=edge)
        app[SERVICES] = services
        app[ADAPTER] = edge.adapter
        app[BOT] = DefenderExpertsBot(
            services.router,
            services.conversations,
            allowed_tenants=settings.tenant_allow_list,
        )
        notifications_api.serve(app, services.notifications)
        if settings.local_mode:
            log.warning(
                "Local mode: MicrosoftAppId is not set, so /api/messages accepts anonymous "
                "requests. Never expose this endpoint."
            )
        try:
            await services.start()
            yield
        finally:
            await services.close()

    app.cleanup_ctx.append(lifetime)
    notifications_api.add_routes(app, settings)
    app.router.add_post("/api/messages", messages)
    app.router.add_get("/healthz", healthz)
    return app


def run(settings: Settings) -> None:
    """Serve until interrupted."""
    web.run_app(create_app(settings), host=settings.host, port=settings.port, print=None)


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
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text="The body must be a JSON object")
    activity = Activity().deserialize(body)
    if not activity.type:
        raise web.HTTPBadRequest(text="The activity has no type")
    auth_header = request.headers.get("Authorization", "")
    adapter = request.app[ADAPTER]
    try:
        invoke_response = await adapter.process_activity(
            auth_header, activity, request.app[BOT].on_turn
        )
    except PermissionError:
        raise web.HTTPUnauthorized(text="Unauthorized") from None
    if invoke_response:
        return web.json_response(
            data=invoke_body(invoke_response.body), status=invoke_response.status
        )
    return web.Response(status=201)
