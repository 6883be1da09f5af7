"""/readyz, /metrics and JSON log lines."""

from __future__ import annotations

import contextvars
import io
import json
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient

from bot.app import open_storage
from bot.config import Settings
from bot.logcontext import ContextFilter, JsonFormatter, set_fields
from bot.transport.web import create_app
from tests.notifications.support import SECRET

ClientFactory = Callable[..., Awaitable[TestClient[Any, Any]]]


async def test_readyz_checks_the_database_and_healthz_does_not(
    aiohttp_client: ClientFactory, pg_url: str, tmp_path: Path, pg_cluster: Any
) -> None:
    client = await aiohttp_client(
        create_app(Settings(data_dir=tmp_path), storage=open_storage(pg_url))
    )
    assert (await client.get("/readyz")).status == 200
    assert (await client.get("/metrics")).status == 404  # off unless enabled
    pg_cluster.drop_database(pg_url)  # the database goes away under the running bot
    response = await client.get("/readyz")
    assert response.status == 503
    assert (await response.json())["status"] == "database unavailable"
    assert (await client.get("/healthz")).status == 200


async def test_metrics_in_the_prometheus_format(
    aiohttp_client: ClientFactory, pg_url: str, tmp_path: Path
) -> None:
    settings = Settings(data_dir=tmp_path, metrics_enabled=True, experts_webhook_secret=SECRET)
    client = await aiohttp_client(create_app(settings, storage=open_storage(pg_url)))
    response = await client.get("/metrics")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    text = await response.text()
    for line in (
        "bot_outbox_depth 0.0",
        "bot_outbox_oldest_age_seconds 0.0",
        "bot_outbox_dead_letters 0.0",
        'bot_deliveries_total{result="delivered"} 0.0',
        "bot_connector_throttled_total 0.0",
        "bot_dead_letters_total 0.0",
        'bot_delivery_latency_seconds_bucket{le="+Inf"} 0.0',
    ):
        assert line in text, line


def test_json_lines_carry_the_correlation_id_tenant_and_incident() -> None:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(ContextFilter())
    logger = logging.getLogger("test.json")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:

        def in_a_delivery() -> None:  # a task of its own: the fields stay in its context
            set_fields(correlation_id="msg_1", tenant="t-1", incident="42")
            logger.info("posted %s", "x" * 5000)

        contextvars.copy_context().run(in_a_delivery)
        logger.warning("outside")
        try:
            raise ValueError("boom")
        except ValueError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
    first, second, third = (json.loads(line) for line in out.getvalue().splitlines())
    assert first["correlation_id"] == "msg_1" and first["tenant"] == "t-1"
    assert first["incident"] == "42" and first["level"] == "INFO"
    assert len(first["message"]) < 2100  # bounded like the text format
    assert "correlation_id" not in second and second["message"] == "outside"
    assert "ValueError: boom" in third["exception"]
