"""Work that must run in one instance at a time, on PostgreSQL: the advisory lock behind
``exclusive`` (one provisioning saga per tenant), and scheduled re-assessments that run once
per period when two instances' schedulers find them due together."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import psycopg

from bot.app import once_across_instances
from bot.provisioning.records import TeamsRecords
from bot.provisioning.runner import SagaRunner
from bot.readiness.service import ReadinessService
from bot.retry import RetryPolicy
from bot.storage.postgres import PostgresStore
from bot.storage.postgres_coordination import exclusive
from tests.readiness.support import TENANT, Choices, Events, FakeClock, Inbox, TenantSignals


@contextlib.asynccontextmanager
async def two_stores(url: str) -> AsyncIterator[tuple[PostgresStore, PostgresStore]]:
    a, b = PostgresStore(url), PostgresStore(url)
    await asyncio.gather(a.open(), b.open())
    try:
        yield a, b
    finally:
        await asyncio.gather(a.close(), b.close())


def advisory_waiters(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
        ).fetchone()
    return int(row[0]) if row else 0


async def test_the_second_holder_waits_for_the_first_across_instances(pg_url: str) -> None:
    async with two_stores(pg_url) as (a, b):
        order: list[str] = []

        async def second() -> None:
            async with exclusive(b, "provisioning-saga:t"):
                order.append("b")

        async with exclusive(a, "provisioning-saga:t"):
            task = asyncio.create_task(second())
            deadline = time.monotonic() + 30
            # b is queued on the lock inside another process (its PostgreSQL backend), which
            # offers no event to wait on: pg_locks is polled, bounded.
            while advisory_waiters(pg_url) != 1:
                assert time.monotonic() < deadline and not task.done()
                await asyncio.sleep(0.01)
            order.append("a")
        await asyncio.wait_for(task, 30)
        assert order == ["a", "b"]
        async with exclusive(a, "provisioning-saga:other"), exclusive(b, "provisioning-saga:t2"):
            pass  # other names don't wait


async def test_the_saga_runner_runs_each_saga_under_the_injected_lock(pg_url: str) -> None:
    names: list[str] = []
    async with two_stores(pg_url) as (a, _):

        @contextlib.asynccontextmanager
        async def recorded(name: str) -> AsyncIterator[None]:
            async with exclusive(a, name):
                names.append(name)
                yield

        runner = SagaRunner(
            TeamsRecords(a, lambda: datetime.now(UTC)),
            None,  # type: ignore[arg-type]  # no saga is stored: no step runs
            lambda _: asyncio.sleep(0),
            sleep=asyncio.sleep,
            clock=lambda: datetime.now(UTC),
            transient_policy=RetryPolicy(attempts=1, base_delay=0, max_delay=0),
            exclusive=recorded,
        )
        assert await runner.run("Tenant-A") is None
    assert names == ["provisioning-saga:tenant-a"]


def readiness(store: PostgresStore, clock: FakeClock) -> tuple[ReadinessService, TenantSignals]:
    signals = TenantSignals()
    service = ReadinessService(
        store,
        signals,
        Choices(),
        lambda _: asyncio.sleep(0, True),
        tenant_id=TENANT,
        admins=Inbox(),
        events=Events(),
        clock=clock,
    )
    return service, signals


async def test_a_due_reassessment_runs_once_when_two_instances_find_it_due(pg_url: str) -> None:
    clock = FakeClock()
    async with two_stores(pg_url) as (a, b):
        (service_a, signals_a), (service_b, signals_b) = readiness(a, clock), readiness(b, clock)
        await service_a.assess("opened")
        one_assessment = signals_a.reads
        assert one_assessment > 0
        clock.now += service_a.interval_seconds + 1
        jobs = [
            once_across_instances(s.run_due, "readiness", functools.partial(exclusive, store))
            for s, store in ((service_a, a), (service_b, b))
        ]
        waits = await asyncio.gather(*(job() for job in jobs))
        assert signals_a.reads + signals_b.reads == 2 * one_assessment  # the first, and one more
        assert all(w > 0 for w in waits)  # both now wait for the next period
        history = (await service_b.current()).assessed_ts
        assert history == clock.now
