"""Operations endpoints: ``/readyz`` (the database answers, not draining) and ``/metrics``
(Prometheus text format, only with ``METRICS_ENABLED``). ``/healthz`` stays in ``web.py``: it
touches nothing."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from bot.config import Settings
from bot.notifications.worker import DeliveryWorker
from bot.storage import Store

log = logging.getLogger(__name__)

DELIVERY_WORKER = web.AppKey("delivery_worker", DeliveryWorker)
STORE = web.AppKey("operations_store", Store)
DRAINING = web.AppKey("draining", asyncio.Event)
READY_TIMEOUT = 3.0


def add_routes(app: web.Application, settings: Settings) -> None:
    app[DRAINING] = asyncio.Event()

    async def on_shutdown(app: web.Application) -> None:
        app[DRAINING].set()

    app.on_shutdown.append(on_shutdown)
    app.router.add_get("/readyz", readyz)
    if settings.metrics_enabled:
        from bot.transport.metrics import metrics_handler  # prometheus_client only then

        app.router.add_get("/metrics", metrics_handler(DELIVERY_WORKER))


async def readyz(request: web.Request) -> web.Response:
    """200 when this instance should get traffic: started, not draining, the database answers."""
    app = request.app
    if app[DRAINING].is_set():
        return web.json_response({"status": "draining"}, status=503)
    store = app.get(STORE)
    if store is None:
        return web.json_response({"status": "starting"}, status=503)
    try:
        await asyncio.wait_for(store.read("health/ready"), READY_TIMEOUT)
    except Exception as exc:
        log.warning("readiness: the database didn't answer (%s)", type(exc).__name__)
        return web.json_response({"status": "database unavailable"}, status=503)
    return web.json_response({"status": "ready"})
