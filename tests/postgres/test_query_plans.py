"""Every hot query the bot runs on PostgreSQL uses an index: no sequential scan of the
documents, the outbox, the receipts or the events, so a webhook, a lease, a lease renewal or a
signed GET costs the same with a long history as with none.

The test records every statement the store, the ledger and the notifications service run
through a representative workload (as ``tests/notifications/test_query_plans.py`` does on
SQLite), then adds a few thousand rows of history to each table, runs ``ANALYZE``, and asks
PostgreSQL for each statement's plan with the values it ran with: the planner chooses honestly,
on real statistics, without ``enable_seqscan=off``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg import AsyncCursor

from bot.notifications.ports import UnitOfWork
from bot.notifications.service import NotificationService
from bot.onboarding import OnboardingService
from bot.storage.postgres import PostgresStore
from bot.storage.postgres_ledger import PostgresLedger
from bot.tenant.demo import DemoTenantDirectory
from tests.notifications.support import FakeClock, example, seed_settings

TABLES = ("documents", "notification_outbox", "notification_receipts", "notification_events")
HISTORY = 50_000
QUERIES = re.compile(r"^\s*(SELECT|UPDATE|DELETE|WITH)\b", re.IGNORECASE)
NOT_TABLE_QUERIES = re.compile(r"pg_advisory|pg_notify|schema_migrations|^\s*SELECT 1\s*$")


@pytest.fixture
def statements(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, Any]]]:
    """Every statement run through an async cursor during the test, with its values."""
    seen: list[tuple[str, Any]] = []
    execute = AsyncCursor.execute

    async def tracing(self: AsyncCursor[Any], query: Any, params: Any = None, **kw: Any) -> Any:
        text = query.decode() if isinstance(query, bytes) else query
        if isinstance(text, str):
            seen.append((text, params))
        return await execute(self, query, params, **kw)

    monkeypatch.setattr(AsyncCursor, "execute", tracing)
    yield seen


def add_history(url: str) -> None:
    """Thousands of finished messages, old receipts, events and other tenants' documents."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO notification_outbox(id, partition, kind, revision, payload, state, "
            "enqueued_at, available_at, finished_at) SELECT 'old' || n, "
            "'tenants/other/incidents/' || (n %% 500), 'notification', 1, '{}', 'done', n, n, n "
            "FROM generate_series(1, %s) AS n",
            (HISTORY,),
        )
        conn.execute(
            "INSERT INTO notification_receipts(id, received_at) "
            "SELECT 'old-' || n, n FROM generate_series(1, %s) AS n",
            (HISTORY,),
        )
        conn.execute(
            "INSERT INTO notification_events(body, at) "
            "SELECT '{}', n FROM generate_series(1, %s) AS n",
            (HISTORY,),
        )
        conn.execute(
            "INSERT INTO documents(key, value, etag) "
            "SELECT 'tenants/other-' || n || '/incidents/' || n, '{}', 'e' "
            "FROM generate_series(1, %s) AS n",
            (HISTORY,),
        )
        for table in TABLES:
            conn.execute(f"ANALYZE {table}")


def seq_scans(url: str, query: str, params: Any) -> list[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(f"EXPLAIN {query}", params).fetchall()  # type: ignore[call-overload]
        conn.rollback()
    plan = [str(r[0]) for r in rows]
    return [line for line in plan if any(f"Seq Scan on {t}" in line for t in TABLES)]


async def test_every_hot_query_uses_an_index(
    pg_url: str, statements: list[tuple[str, Any]]
) -> None:
    clock = FakeClock()
    store = PostgresStore(pg_url)
    await store.open()
    await seed_settings(store)
    directory = DemoTenantDirectory.load()
    onboarding = OnboardingService(store, directory)
    ledger = PostgresLedger(store, clock, owner="a")
    service = NotificationService(ledger, directory, onboarding, clock=clock)

    # The webhook, twice (the second is a duplicate) and a second incident.
    for incident, webhook in (("1", "w1"), ("1", "w1"), ("2", "w2")):
        if not await service.is_duplicate(webhook):
            await service.accept(webhook, example(incident_id=incident))
    # The worker: lease, renew, finish one, retry one, dead-letter; the next due time.
    first, second = await ledger.lease(16, 60.0)
    assert await ledger.extend([first, second], 60.0) == {first.seq, second.seq}
    await ledger.commit(UnitOfWork(complete=first))
    await ledger.retry(second, delay=0.0, error="x")
    (again,) = await ledger.lease(16, 60.0)
    await ledger.release(again)
    (again,) = await ledger.lease(16, 60.0)
    await ledger.dead_letter(again, error="x")
    await ledger.next_due()
    await ledger.outbox_stats()
    # The experts' signed GETs, start-up, retention.
    await service.delivery_state("1")
    await service.events(0, 100)
    await ledger.reclaim()
    for target in ("receipts", "messages", "events"):
        await ledger.prune(target, clock() + 10**9, 100)  # type: ignore[arg-type]
    hot = list(statements)
    # Not a hot query: start-up lists every key under tenants/ once (each tenant's settings,
    # on SQLite too), which costs the whole key range however it is read.
    await onboarding.resume()
    await store.close()

    queries = {
        (q, repr(p)): (q, p)
        for q, p in hot
        if QUERIES.search(q) and not NOT_TABLE_QUERIES.search(q)
    }
    assert len(queries) >= 12, sorted(queries)
    add_history(pg_url)
    problems = {q: bad for q, p in queries.values() if (bad := seq_scans(pg_url, q, p))}
    assert not problems, "\n\n".join(f"{q}\n  -> {p}" for q, p in problems.items())
