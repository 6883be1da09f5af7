"""``/metrics``: the delivery worker's figures in Prometheus text format (only with
``METRICS_ENABLED``; :mod:`bot.transport.operations` imports this module only then)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterator

from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from bot.notifications.delivery import LATENCY_BUCKETS
from bot.notifications.worker import DeliveryWorker


class _Snapshot(Collector):
    """The figures gathered for one scrape."""

    def __init__(self, metrics: list[Metric]) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[Metric]:
        yield from self._metrics


async def gather_metrics(worker: DeliveryWorker | None, now: float) -> list[Metric]:
    out: list[Metric] = []
    if worker is None:
        return out
    stats = worker.stats
    depth, oldest, dead = await worker.ledger.outbox_stats()
    age = 0.0 if oldest is None else max(0.0, now - oldest)
    out.append(
        GaugeMetricFamily("bot_outbox_depth", "Outbox messages not yet done or dead.", depth)
    )
    out.append(
        GaugeMetricFamily(
            "bot_outbox_oldest_age_seconds", "Age of the oldest open outbox message.", age
        )
    )
    if dead is not None:
        out.append(
            GaugeMetricFamily("bot_outbox_dead_letters", "Dead letters kept in the outbox.", dead)
        )
    results = CounterMetricFamily(
        "bot_deliveries", "Delivery attempts by result (this instance).", labels=["result"]
    )
    for result in ("delivered", "retried", "dead_letter"):
        results.add_metric([result], stats.results.get(result, 0))
    out.append(results)
    out.append(
        CounterMetricFamily(
            "bot_connector_throttled", "429 answers from the Bot Connector.", stats.throttled
        )
    )
    out.append(
        CounterMetricFamily(
            "bot_dead_letters",
            "Messages dead-lettered (this instance).",
            stats.results.get("dead_letter", 0),
        )
    )
    buckets: list[tuple[str, float]] = [
        (str(bound), float(count))
        for bound, count in zip(LATENCY_BUCKETS, stats.latency_buckets, strict=True)
    ]
    buckets.append(("+Inf", float(stats.latency_count)))
    out.append(
        HistogramMetricFamily(
            "bot_delivery_latency_seconds",
            "From acceptance to delivered, per message.",
            buckets=buckets,
            sum_value=stats.latency_sum,
        )
    )
    return out


def metrics_handler(
    worker_key: web.AppKey[DeliveryWorker],
) -> Callable[[web.Request], Awaitable[web.Response]]:
    """The ``/metrics`` handler, reading the delivery worker the app keeps under ``worker_key``."""

    async def metrics(request: web.Request) -> web.Response:
        registry = CollectorRegistry(auto_describe=False)
        registry.register(_Snapshot(await gather_metrics(request.app.get(worker_key), time.time())))
        return web.Response(
            body=generate_latest(registry),
            headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"},
        )

    return metrics
