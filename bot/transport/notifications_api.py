"""The Experts API over HTTP: the signed webhook, the delivery state, the event feed, OpenAPI.

Order of checks on ``POST /api/notifications``: size (413), signature (401), repeated
webhook-id (200), content type (415), JSON (400), schema and settings (422), the directory
unavailable while checking exclusions (503, Retry-After); 202 only after the ledger commit
returned. Refusals store nothing. The repeated webhook-id is found without a lookup of its own
on the way to a 202 (the commit finds the receipt already stored and answers 200 duplicate),
and looked up before any refusal is answered.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from typing import Any

from aiohttp import web

from bot.config import Settings
from bot.errors import ConcurrencyError, DependencyError, ValidationError
from bot.logcontext import set_fields
from bot.logsafe import safe
from bot.notifications.bounds import MAX_BODY_BYTES
from bot.notifications.enforcement import RETRY_AFTER_SECONDS
from bot.notifications.model import BodyError, load_json
from bot.notifications.service import Acceptance, NotificationService
from bot.notifications.signing import SignatureError, WebhookVerifier, request_line

log = logging.getLogger(__name__)

NOTIFICATIONS = web.AppKey("notifications", NotificationService)
VERIFIER = web.AppKey("webhook_verifier", WebhookVerifier)
BODY_LIMIT = web.AppKey("notification_body_limit", int)


def error(status: int, code: str, message: str, field: str | None = None) -> web.Response:
    body: dict[str, Any] = {"code": code, "message": message}
    if field:
        body["field"] = field
    return web.json_response({"error": body}, status=status)


async def read_bounded(request: web.Request, limit: int = MAX_BODY_BYTES) -> bytes | None:
    """The body, or None if it is over ``limit`` bytes. The server's guard middleware has
    already read it (bounded by MAX_REQUEST_BYTES, within BODY_TIMEOUT_SECONDS)."""
    if request.content_length is not None and request.content_length > limit:
        return None
    body = await request.read()
    return None if len(body) > limit else body


def _log_fields(document: object) -> dict[str, str]:
    """The tenant and incident a webhook body names, for the log lines of this request."""
    if not isinstance(document, dict):
        return {}
    incident = document.get("incident")
    incident = incident if isinstance(incident, dict) else {}
    incident_id = incident.get("id")
    tenant = incident.get("tenantId") or document.get("tenantId")
    return {
        name: safe(value, 64)
        for name, value in (("tenant", tenant), ("incident", incident_id))
        if isinstance(value, str)
    }


def _verify(request: web.Request, body: bytes) -> str | web.Response:
    try:
        return request.app[VERIFIER].verify(request.headers, body)
    except SignatureError as exc:
        return error(401, "unauthorized", str(exc))


def _duplicate(webhook_id: str) -> web.Response:
    return web.json_response({"status": "duplicate", "webhookId": webhook_id}, status=200)


async def post_notification(request: web.Request) -> web.Response:
    limit = request.app[BODY_LIMIT]
    body = await read_bounded(request, limit)
    if body is None:
        return error(413, "tooLarge", f"The body must be at most {limit} bytes")
    verified = _verify(request, body)
    if isinstance(verified, web.Response):
        return verified
    webhook_id = verified
    set_fields(correlation_id=webhook_id)
    service = request.app[NOTIFICATIONS]
    refusal = await _accept(request, service, webhook_id, body)
    if isinstance(refusal, web.Response):
        # A repeated webhook-id is answered as a duplicate before any refusal: the retry of
        # an accepted notification stays a duplicate even if the settings changed since. An
        # accepted one finds its duplicate in the commit (the receipt already stored).
        if await service.is_duplicate(webhook_id):
            return _duplicate(webhook_id)
        return refusal
    if refusal.outcome == "duplicate":
        return web.json_response({**refusal.to_json(), "webhookId": webhook_id}, status=200)
    return web.json_response(refusal.to_json(), status=202)


async def _accept(
    request: web.Request, service: NotificationService, webhook_id: str, body: bytes
) -> Acceptance | web.Response:
    """Accept the body, or the response refusing it (nothing stored)."""
    if request.content_type != "application/json":
        return error(415, "unsupportedMediaType", "Content-Type must be application/json")
    if (request.charset or "utf-8").lower() not in ("utf-8", "utf8"):
        return error(415, "unsupportedMediaType", "The body must be UTF-8 (charset=utf-8)")
    try:
        document = load_json(body)
        set_fields(**_log_fields(document))
        return await service.accept(webhook_id, document)
    except BodyError as exc:
        return error(400, "badRequest", str(exc))
    except ValidationError as exc:
        log.info("refused notification %s: %s", safe(webhook_id), safe(exc.message, 200))
        return error(422, "invalid", exc.message, exc.field)
    except ConcurrencyError:
        response = error(503, "busy", "The incident is changing too fast; retry shortly")
        response.headers["Retry-After"] = "1"
        return response
    except DependencyError as exc:
        # Exclusions couldn't be checked: refuse for now (fail closed), store nothing.
        log.warning("notification %s: %s", safe(webhook_id), safe(str(exc), 200))
        response = error(503, "unavailable", exc.advice())
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response


async def get_notification(request: web.Request) -> web.Response:
    verified = _verify(request, request_line("GET", request.raw_path))
    if isinstance(verified, web.Response):
        return verified
    state = await request.app[NOTIFICATIONS].delivery_state(request.match_info["incidentId"])
    if state is None:
        return error(404, "notFound", "No notification was accepted for this incident")
    return web.json_response(state)


def _int_query(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or len(raw) > 18:
        raise ValueError(name)
    return max(low, min(high, int(raw)))


async def get_events(request: web.Request) -> web.Response:
    verified = _verify(request, request_line("GET", request.raw_path))
    if isinstance(verified, web.Response):
        return verified
    try:
        after = _int_query(request, "after", 0, 0, 2**62)
        limit = _int_query(request, "limit", 100, 1, 500)
    except ValueError as exc:
        return error(400, "badRequest", f"'{exc}' must be a non-negative integer", str(exc))
    return web.json_response(await request.app[NOTIFICATIONS].events(after, limit))


@lru_cache(maxsize=1)
def _openapi() -> dict[str, Any]:
    from bot.notifications.openapi import openapi_document  # built on the first request

    return openapi_document()


async def get_openapi(request: web.Request) -> web.Response:
    return web.json_response(_openapi())


def add_routes(app: web.Application, settings: Settings) -> None:
    """The Experts API. Without EXPERTS_WEBHOOK_SECRET only the OpenAPI document is served."""
    app.router.add_get("/api/openapi.json", get_openapi)
    if not settings.experts_webhook_secret:
        log.warning("EXPERTS_WEBHOOK_SECRET is not set: the Experts API is off")
        return
    app[VERIFIER] = WebhookVerifier.from_secret(settings.experts_webhook_secret)
    # The API's own limit, or MAX_REQUEST_BYTES if that is lower.
    app[BODY_LIMIT] = min(MAX_BODY_BYTES, settings.max_request_bytes)
    app.router.add_post("/api/notifications", post_notification)
    app.router.add_get("/api/notifications/{incidentId}", get_notification)
    app.router.add_get("/api/events", get_events)


def serve(app: web.Application, service: NotificationService) -> None:
    """Expose the built service to the routes (at start-up, by the web application)."""
    app[NOTIFICATIONS] = service
