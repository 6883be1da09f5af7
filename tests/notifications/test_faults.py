"""Fault injection: the Bot Connector answers 429 or 500 to 30% of calls.

The real botbuilder messenger talks to the stand-in over HTTP; time is virtual (the worker's
clock, sleeps and rate limiter), so retries and Retry-After cost no real waiting.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from bot.config import Settings
from bot.notifications.compose import build_delivery_worker
from bot.notifications.service import NotificationService
from bot.onboarding import OnboardingService
from bot.storage.sqlite import SqliteStore
from bot.storage.sqlite_ledger import SqliteLedger
from bot.tenant.demo import DemoTenantDirectory
from bot.transport.messenger import BotFrameworkEdge
from tests.notifications.support import (
    BOT_ID,
    FakeClock,
    RecordingMailer,
    drain,
    revised,
    run_once,
    seed_channel,
    seed_settings,
)
from tests.standins.connector import ConnectorStandIn, incident_of, revision_of

INCIDENTS = [f"90{i:02d}" for i in range(12)]


@pytest.fixture
async def flaky() -> AsyncIterator[ConnectorStandIn]:
    async with ConnectorStandIn(fault_rate=0.3, fault_statuses=(429, 500), retry_after="2") as c:
        yield c


async def pipeline(
    tmp_path: Path, connector: ConnectorStandIn, *, attempts: int
) -> tuple[SqliteStore, Any, Any, RecordingMailer, FakeClock]:
    """The real accept-and-deliver path on SQLite, posting through botbuilder to ``connector``."""
    store = SqliteStore(tmp_path / "bot.sqlite3")
    await seed_settings(store)
    await seed_channel(store, connector.url)
    clock = FakeClock()
    directory = DemoTenantDirectory.load()
    onboarding = OnboardingService(store, directory)
    service = NotificationService(SqliteLedger(store, clock), directory, onboarding, clock=clock)
    settings = Settings(data_dir=tmp_path, notify_max_attempts=attempts)
    mailer = RecordingMailer()
    worker = build_delivery_worker(
        settings,
        service,
        store,
        onboarding,
        BotFrameworkEdge(settings).outbox_messenger(BOT_ID),
        mailer=mailer,
        clock=clock,
        monotonic=clock,
        sleep=clock.sleep,
    )
    return store, service, worker, mailer, clock


async def test_everything_is_delivered_in_order_without_duplicates(
    tmp_path: Path, flaky: ConnectorStandIn
) -> None:
    store, service, worker, mailer, clock = await pipeline(tmp_path, flaky, attempts=30)
    # Interleaved: every incident's three revisions arrive while earlier ones are in flight.
    for revision in (1, 2, 3):
        for incident in INCIDENTS:
            accepted = await service.accept(f"w-{incident}-{revision}", revised(revision, incident))
            assert accepted.outcome == "accepted"
        await run_once(worker, service.ledger)
    await drain(worker, service.ledger, clock)

    assert flaky.faults > 20, "the stand-in should have refused a good share of the calls"
    assert mailer.messages == []
    assert (await service.ledger.outbox_stats()).open == 0
    for incident in INCIDENTS:
        posts = flaky.posts_of(incident)
        assert len(posts) == 1, incident
        post = posts[0]
        updates = [u for u in flaky.of_kind("update") if u.activity_id == post.activity_id]
        replies = [r for r in flaky.of_kind("reply") if r.conversation_id == post.conversation_id]
        assert [revision_of(post.card)] + [revision_of(u.card) for u in updates] == [1, 2, 3]
        assert [r.text.split(":", 1)[0] for r in replies] == ["**Update 2", "**Update 3"]
        assert all(incident_of(u.card) == incident for u in updates)
        state = await service.delivery_state(incident)
        assert state is not None and state["deadLetters"] == []
    await service.ledger.close()
    await store.close()


async def test_each_worker_attempt_is_one_http_call(tmp_path: Path) -> None:
    """msrest would re-send a POST after a 5xx by itself; only the outbox may retry."""
    async with ConnectorStandIn(fault_rate=1.0, fault_statuses=(500,)) as down:
        store, service, worker, mailer, clock = await pipeline(tmp_path, down, attempts=3)
        await service.accept("w-1", revised(1))
        await drain(worker, service.ledger, clock)
        assert down.calls == 3
        state = await service.delivery_state("2972395")
        assert state is not None and state["deliveries"]["1"]["state"] == "deadLettered"
        assert len(mailer.messages) == 1
        await service.ledger.close()
    await store.close()


@pytest.mark.parametrize("status", [412, 429, 502, 504])
async def test_retry_after_is_honoured_on_every_retryable_status(
    tmp_path: Path, status: int
) -> None:
    """Over HTTP: the connector's Retry-After on a 412, 502 or 504 (not only a 429) reaches the
    outbox, which waits exactly that long (on the virtual clock) before the one retry."""
    async with ConnectorStandIn(script=[(status, "37")]) as connector:
        store = SqliteStore(tmp_path / "bot.sqlite3")
        await seed_settings(store)
        await seed_channel(store, connector.url)
        clock = FakeClock()
        directory = DemoTenantDirectory.load()
        onboarding = OnboardingService(store, directory)
        service = NotificationService(
            SqliteLedger(store, clock), directory, onboarding, clock=clock
        )
        settings = Settings(data_dir=tmp_path, notify_max_attempts=3)
        worker = build_delivery_worker(
            settings,
            service,
            store,
            onboarding,
            BotFrameworkEdge(settings).outbox_messenger(BOT_ID),
            mailer=RecordingMailer(),
            clock=clock,
            monotonic=clock,
            sleep=clock.sleep,
        )
        await service.accept("w-1", revised(1))
        start = clock.now
        assert await run_once(worker, service.ledger) == 1  # answered `status`
        state = await service.delivery_state("2972395")
        assert state is not None
        (message,) = state["outbox"]
        assert message["state"] == "pending" and f"HTTP {status}" in message["lastError"]
        available = datetime.fromisoformat(message["availableAt"].replace("Z", "+00:00"))
        assert available.timestamp() - start == pytest.approx(37.0, abs=1.0)
        assert message["attempts"] == 1 and message["enqueuedAt"].endswith("Z")
        await drain(worker, service.ledger, clock)
        assert connector.calls == 2 and len(connector.posts_of("2972395")) == 1
        assert clock.now - start == pytest.approx(37.0, abs=0.01)
        await service.ledger.close()
    await store.close()
