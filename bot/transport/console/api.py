"""The Experts chat API for the provider's own systems, signed like the webhook
(Standard Webhooks, ``docs/notifications.md``): conversations, transcripts after a cursor,
answers (202 after the durable commit; a repeated webhook-id is a duplicate), and the events.

Order of checks on ``POST``: size (413), signature (401), repeated webhook-id (200), content
type (415), JSON (400), the conversation (404), the answer (422). Refusals store nothing.
"""

from __future__ import annotations

import logging

from aiohttp import web

from bot.chat.model import Expert
from bot.chat.ports import ChatNotFound, DuplicateAnswer
from bot.errors import ValidationError
from bot.logsafe import safe
from bot.notifications.signing import SignatureError, WebhookVerifier, request_line
from bot.transport.console.common import (
    CHAT,
    MAX_BODY,
    bad_query,
    bool_query,
    error,
    int_query,
    json_object,
    read_bounded,
)

log = logging.getLogger(__name__)

CHAT_VERIFIER = web.AppKey("chat_verifier", WebhookVerifier)
MAX_NAME = 128


def _verify(request: web.Request, body: bytes) -> str | web.Response:
    try:
        return request.app[CHAT_VERIFIER].verify(request.headers, body)
    except SignatureError as exc:
        return error(401, "unauthorized", str(exc))


def _signed_get(request: web.Request) -> web.Response | None:
    verified = _verify(request, request_line("GET", request.raw_path))
    return verified if isinstance(verified, web.Response) else None


def _not_found(conversation_id: str) -> web.Response:
    return error(
        404, "notFound", "No conversation with this id in the tenants this bot serves", "id"
    )


async def list_conversations(request: web.Request) -> web.Response:
    if (refused := _signed_get(request)) is not None:
        return refused
    try:
        waiting = bool_query(request, "waiting")
        limit = int_query(request, "limit", 100, 1, 500)
    except ValueError as exc:
        return bad_query(str(exc))
    tenant = request.query.get("tenantId", "")[:64]
    found = await request.app[CHAT].conversations(tenant_id=tenant, waiting=waiting, limit=limit)
    return web.json_response({"conversations": found})


async def get_transcript(request: web.Request) -> web.Response:
    if (refused := _signed_get(request)) is not None:
        return refused
    try:
        after = int_query(request, "after", 0, 0, 2**62)
        limit = int_query(request, "limit", 200, 1, 500)
    except ValueError as exc:
        return bad_query(str(exc))
    conversation_id = request.match_info["id"]
    try:
        body = await request.app[CHAT].transcript(conversation_id, after=after, limit=limit)
    except ChatNotFound:
        return _not_found(conversation_id)
    return web.json_response(body)


async def post_answer(request: web.Request) -> web.Response:
    body = await read_bounded(request, MAX_BODY)
    if body is None:
        return error(413, "tooLarge", f"The body must be at most {MAX_BODY} bytes")
    verified = _verify(request, body)
    if isinstance(verified, web.Response):
        return verified
    webhook_id = verified
    chat = request.app[CHAT]
    earlier = await chat.store.message_by_request(webhook_id)
    if earlier is not None:
        return web.json_response(
            {"status": "duplicate", "webhookId": webhook_id, "message": earlier.to_json()}
        )
    if request.content_type != "application/json":
        return error(415, "unsupportedMediaType", "Content-Type must be application/json")
    document = json_object(body)
    if isinstance(document, web.Response):
        return document
    author = document.get("author")
    if not isinstance(author, dict):
        return error(422, "invalid", "'author' must be an object with 'id' and 'name'", "author")
    author_id, name = author.get("id"), author.get("name")
    if not isinstance(author_id, str) or not 0 < len(author_id) <= MAX_NAME:
        return error(422, "invalid", "'author.id' must be a string of 1-128 characters", "author")
    if not isinstance(name, str) or not 0 < len(name.strip()) <= MAX_NAME:
        return error(
            422, "invalid", "'author.name' must be a string of 1-128 characters", "author.name"
        )
    if any(ord(c) < 32 for c in name):
        return error(422, "invalid", "'author.name' has control characters", "author.name")
    conversation_id = request.match_info["id"]
    try:
        message = await chat.answer(
            Expert(author_id, " ".join(name.split())),
            conversation_id,
            document.get("text"),
            request_id=webhook_id,
        )
    except ChatNotFound:
        return _not_found(conversation_id)
    except ValidationError as exc:
        return error(422, "invalid", exc.message, exc.field)
    except DuplicateAnswer as exc:
        log.info("repeated chat answer %s", safe(exc))
        found = await chat.store.message_by_request(webhook_id)
        return web.json_response(
            {
                "status": "duplicate",
                "webhookId": webhook_id,
                "message": found.to_json() if found else None,
            }
        )
    return web.json_response(
        {"status": "accepted", "webhookId": webhook_id, "message": message.to_json()}, status=202
    )


async def get_events(request: web.Request) -> web.Response:
    if (refused := _signed_get(request)) is not None:
        return refused
    try:
        after = int_query(request, "after", 0, 0, 2**62)
        limit = int_query(request, "limit", 100, 1, 500)
    except ValueError as exc:
        return bad_query(str(exc))
    events = await request.app[CHAT].events(after, limit)
    return web.json_response(
        {"events": [e.to_json() for e in events], "next": events[-1].cursor if events else after}
    )


def add_api_routes(app: web.Application, secret: str) -> None:
    app[CHAT_VERIFIER] = WebhookVerifier.from_secret(secret)
    app.router.add_get("/api/chat/conversations", list_conversations)
    app.router.add_get("/api/chat/conversations/{id}", get_transcript)
    app.router.add_post("/api/chat/conversations/{id}/messages", post_answer)
    app.router.add_get("/api/chat/events", get_events)
