"""Every query the bot runs on SQLite uses an index: no full table scan and no sort of a whole
table, so the cost of a webhook, a lease or a signed GET stays flat as the tables grow (the
scale benchmark, ``bench/scale.py``, measures it with 100,000 incidents and a million rows).

The test records every statement the store, the ledger and the notifications service run
through a representative workload (accepting webhooks, the worker's lease and finish, the
experts' GETs, retention's pruning, start-up's reclaim and settings scan) and asks SQLite for
each one's plan.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.notifications.ports import UnitOfWork
from bot.notifications.service import NotificationService
from bot.onboarding import OnboardingService
from bot.storage.sqlite import SqliteStore
from bot.storage.sqlite_ledger import SqliteLedger
from bot.tenant.demo import DemoTenantDirectory
from tests.notifications.support import FakeClock, example, seed_settings

# Scans of the partial index of open messages: they cost the backlog, not the history.
OPEN_MESSAGES_ONLY = {"SCAN notification_outbox USING INDEX notification_outbox_open"}
# Statements that aren't queries over the tables' rows.
NOT_QUERIES = re.compile(
    r"^\s*(PRAGMA|BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE|CREATE|ALTER|INSERT INTO \w+\s*\([^)]*\)"
    r"\s*VALUES)|sqlite_master",
    re.IGNORECASE | re.DOTALL,
)


@pytest.fixture
def statements(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every SQL statement run on a connection opened during the test, with its values."""
    seen: list[str] = []
    connect = sqlite3.connect

    def tracing(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        conn = connect(*args, **kwargs)
        conn.set_trace_callback(seen.append)
        return conn

    monkeypatch.setattr(sqlite3, "connect", tracing)
    yield seen


def plan(db: Path, statement: str) -> list[str]:
    conn = sqlite3.connect(db)
    try:
        return [row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {statement}")]
    finally:
        conn.close()


async def test_every_hot_query_uses_an_index(tmp_path: Path, statements: list[str]) -> None:
    db = tmp_path / "bot.sqlite3"
    clock = FakeClock()
    store = SqliteStore(db)
    await seed_settings(store)
    directory = DemoTenantDirectory.load()
    onboarding = OnboardingService(store, directory)
    ledger = SqliteLedger(store, clock)
    service = NotificationService(ledger, directory, onboarding, clock=clock)

    # The webhook, twice (the second is a duplicate) and a second incident.
    for incident, webhook in (("1", "w1"), ("1", "w1"), ("2", "w2")):
        if not await service.is_duplicate(webhook):
            await service.accept(webhook, example(incident_id=incident))
    # The worker: lease, finish one, retry one, dead-letter; the next due time.
    first, second = await ledger.lease(16, 60.0)
    await ledger.commit(UnitOfWork(complete=first))
    await ledger.retry(second, delay=0.0, error="x")
    (again,) = await ledger.lease(16, 60.0)
    await ledger.dead_letter(again, error="x")
    await ledger.next_due()
    await ledger.outbox_stats()
    # The experts' signed GETs, start-up, retention.
    await service.delivery_state("1")
    await service.events(0, 100)
    await ledger.reclaim()
    await onboarding.resume()
    for target in ("receipts", "messages", "events"):
        await ledger.prune(target, clock() + 10**9, 100)  # type: ignore[arg-type]
    await ledger.close()
    await store.close()

    queries = sorted({s for s in statements if not NOT_QUERIES.search(s)})
    assert len(queries) >= 10, queries
    problems = {}
    for statement in queries:
        steps = plan(db, statement)
        bad = [
            s
            for s in steps
            if (s.startswith("SCAN") and s not in OPEN_MESSAGES_ONLY) or "TEMP B-TREE" in s
        ]
        if bad:
            problems[statement] = steps
    assert not problems, "\n\n".join(f"{q}\n  -> {p}" for q, p in problems.items())
