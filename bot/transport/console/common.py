"""What the console and the Experts chat API share: the service key, errors, bounded bodies."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from bot.chat.service import ChatService
from bot.transport.notifications_api import error, read_bounded

CHAT = web.AppKey("chat", ChatService)
MAX_BODY = 128 * 1024

__all__ = ["CHAT", "MAX_BODY", "error", "read_bounded"]


def json_object(body: bytes) -> dict[str, Any] | web.Response:
    try:
        value = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return error(400, "badRequest", "The body is not valid JSON")
    if not isinstance(value, dict):
        return error(400, "badRequest", "The body must be a JSON object")
    return value


def int_query(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    """A non-negative integer query parameter, clamped; ValueError(name) if malformed."""
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or len(raw) > 18:
        raise ValueError(name)
    return max(low, min(high, int(raw)))


def bool_query(request: web.Request, name: str) -> bool:
    raw = request.query.get(name, "").lower()
    if raw in ("", "0", "false", "no"):
        return False
    if raw in ("1", "true", "yes"):
        return True
    raise ValueError(name)


def bad_query(name: str) -> web.Response:
    return error(400, "badRequest", f"'{name}' has a value that isn't allowed", name)
