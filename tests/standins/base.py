"""What every Microsoft API stand-in shares: a call log, fault injection, Graph-style errors."""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Call:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    status: int = 0


@dataclass
class Fault:
    """Answer ``status`` to the next ``times`` calls matching method and path (a regex).

    With ``after``, the call is carried out first and only its answer is lost (a gateway
    timeout after the service did the work).
    """

    method: str
    path: str
    status: int
    times: int = 1
    retry_after: str | None = None
    code: str = ""
    message: str = ""
    after: bool = False

    def matches(self, method: str, path: str) -> bool:
        return (
            self.times > 0
            and self.method in ("*", method)
            and re.search(self.path, path) is not None
        )


def error(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> web.Response:
    """Graph's error body: ``{"error": {"code", "message", "innerError": {...}}}``."""
    request_id = str(uuid.uuid4())
    return web.json_response(
        {
            "error": {
                "code": code,
                "message": message,
                "innerError": {"date": "2026-11-27T09:00:00", "request-id": request_id},
            }
        },
        status=status,
        headers={"request-id": request_id, **(headers or {})},
    )


_DEFAULT_FAULT = {
    429: ("TooManyRequests", "Too many requests. Please retry after the time in Retry-After."),
    500: ("InternalServerError", "An internal server error occurred."),
    502: ("BadGateway", "Bad gateway."),
    503: ("ServiceUnavailable", "The service is temporarily unavailable."),
    504: ("GatewayTimeout", "The gateway timed out."),
    403: ("Forbidden", "Missing role permissions on the request."),
}


@dataclass
class StandIn:
    """Records every call and injects faults before the real handler runs."""

    calls: list[Call] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)

    def fail(
        self,
        method: str,
        path: str,
        status: int,
        *,
        times: int = 1,
        retry_after: str | None = None,
        code: str = "",
        message: str = "",
        after: bool = False,
    ) -> Fault:
        fault = Fault(method, path, status, times, retry_after, code, message, after)
        self.faults.append(fault)
        return fault

    def count(self, method: str, path: str) -> int:
        return sum(1 for c in self.calls if c.method == method and re.search(path, c.path))

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        body: Any = None
        if request.can_read_body:
            raw = await request.read()
            if request.content_type == "application/json" and raw:
                body = await request.json()
            elif raw:
                body = dict(await request.post())
        call = Call(
            request.method,
            request.path,
            dict(request.query),
            {k.lower(): v for k, v in request.headers.items()},
            body,
        )
        self.calls.append(call)
        for fault in self.faults:
            if fault.matches(request.method, request.path):
                fault.times -= 1
                if fault.after:
                    await handler(request)
                code, message = _DEFAULT_FAULT.get(fault.status, ("Error", "Injected failure."))
                headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
                response: web.StreamResponse = error(
                    fault.status, fault.code or code, fault.message or message, headers
                )
                call.status = fault.status
                return response
        response = await handler(request)
        call.status = response.status
        client_request_id = request.headers.get("client-request-id")
        if client_request_id:
            response.headers["client-request-id"] = client_request_id
        response.headers.setdefault("request-id", str(uuid.uuid4()))
        return response
