"""Server limits: a header timeout, a body read timeout, a cap on connections, and no 500
that leaks a traceback or the request into the log more than once.

* **Header timeout** (``HEADER_TIMEOUT_SECONDS``): aiohttp closes a connection whose request
  headers are not complete ``keepalive_timeout`` seconds after it opened or after its last
  response (its keep-alive timer is not extended by bytes that arrive), so a slow-header client
  is dropped at that point.
* **Body timeout** (``BODY_TIMEOUT_SECONDS``): :func:`guard_middleware` reads the whole body
  before any handler sees it, and answers 408 (closing the connection) when it doesn't arrive
  in time; an oversized body gets aiohttp's 413 (``MAX_REQUEST_BYTES``).
* **Connections** (``MAX_CONNECTIONS``): :func:`cap_connections` answers 503 and closes any
  connection beyond the cap, before reading a byte from it.
* An unexpected exception answers 500 with a reference and is logged once with a bounded
  traceback (:class:`bot.logsafe.FailureLog`), never with the request's body.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from aiohttp.web_server import Server

from bot.config import Settings
from bot.logsafe import FailureLog, safe

log = logging.getLogger(__name__)

_BUSY = (
    b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nRetry-After: 1\r\n"
    b"Content-Length: 0\r\n\r\n"
)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def guard_middleware(settings: Settings) -> Any:
    failures = FailureLog(log)

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.can_read_body:
            try:
                if request.content.is_eof():
                    # Already received whole (a small body usually is, with its headers): the
                    # read can't wait, so no timer is armed for it.
                    await request.read()
                else:
                    async with asyncio.timeout(settings.body_timeout):
                        await request.read()
            except web.HTTPRequestEntityTooLarge:
                return web.json_response(
                    {
                        "error": {
                            "code": "tooLarge",
                            "message": f"The body must be at most {request.client_max_size} bytes",
                        }
                    },
                    status=413,
                    headers={"Connection": "close"},
                )
            except TimeoutError:
                log.warning(
                    "request body to %s not received within %.0f s",
                    safe(request.path),
                    settings.body_timeout,
                )
                raise web.HTTPRequestTimeout(headers={"Connection": "close"}) from None
        try:
            return await handler(request)
        except web.HTTPException:
            raise
        except Exception as exc:
            reference = uuid.uuid4().hex[:12]
            failures.failure(reference, f"{request.method} {safe(request.path)}", exc)
            return web.json_response(
                {"error": "internal", "message": "Something went wrong.", "reference": reference},
                status=500,
            )

    return guard


def cap_connections(server: Server, limit: int) -> None:
    """Beyond ``limit`` open connections, answer 503 and close, without reading the request."""
    admit = server.connection_made

    def connection_made(handler: Any, transport: Any) -> None:
        admit(handler, transport)
        if len(server.connections) > limit:
            transport.write(_BUSY)
            transport.close()

    server.connection_made = connection_made  # type: ignore[method-assign]


async def start(app: web.Application, settings: Settings) -> web.AppRunner:
    """Serve ``app`` on HOST:PORT with the limits above; the caller cleans the runner up."""
    runner = web.AppRunner(
        app,
        keepalive_timeout=settings.header_timeout,
        lingering_time=1.0,  # after a 408, drain what's left of a slow body briefly, not 10 s
        access_log=None,
        handle_signals=True,
    )
    await runner.setup()
    assert runner.server is not None
    cap_connections(runner.server, settings.max_connections)
    site = web.TCPSite(runner, settings.host, settings.port)
    await site.start()
    return runner


def listening_urls(runner: web.AppRunner) -> list[str]:
    """The base URL of every address the runner's sites are bound to."""
    urls = []
    for address in runner.addresses:
        if isinstance(address, tuple):
            host, port = str(address[0]), int(address[1])
            urls.append(f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}")
    return urls


def serve(app: web.Application, settings: Settings) -> None:
    """Serve until SIGINT or SIGTERM."""

    async def main() -> None:
        runner = await start(app, settings)
        for url in listening_urls(runner):
            print(f"Listening on {url} (Bot Framework endpoint {url}/api/messages)", flush=True)
        # Our own handlers replace aiohttp's (which raise GracefulExit out of the event loop, so
        # that asyncio.run cancels every task at once): the signal only ends this wait, and the
        # cleanup below drains the delivery worker before anything is cancelled.
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            await stop.wait()
            log.info("stopping: no new requests; finishing the work in flight")
        finally:
            await runner.cleanup()

    with contextlib.suppress(web.GracefulExit, KeyboardInterrupt):
        asyncio.run(main())
