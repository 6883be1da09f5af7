"""A recording Bot Connector stand-in (Bot Framework REST API v3) on 127.0.0.1."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class Call:
    method: str
    path: str
    body: dict[str, Any]


@dataclass
class RecordingConnector:
    """Answers like the connector; ``fail`` may return a (status, headers) to inject faults."""

    calls: list[Call] = field(default_factory=list)
    fail: Callable[[Call], tuple[int, dict[str, str]] | None] = lambda call: None
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        return app

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.json() if request.can_read_body else {}
        call = Call(request.method, request.path, body)
        self.calls.append(call)
        fault = self.fail(call)
        if fault is not None:
            status, headers = fault
            return web.json_response(
                {"error": {"code": "Throttled", "message": "injected"}},
                status=status,
                headers=headers,
            )
        return web.json_response({"id": f"activity-{next(self._ids)}"}, status=201)

    def sent(self) -> list[dict[str, Any]]:
        return [c.body for c in self.calls if c.method == "POST" and "/activities" in c.path]

    def cards(self) -> list[dict[str, Any]]:
        out = []
        for body in self.sent():
            for att in body.get("attachments") or []:
                if att.get("contentType") == "application/vnd.microsoft.card.adaptive":
                    out.append(att["content"])
        return out
