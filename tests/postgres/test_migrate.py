"""``python -m bot migrate --to postgresql://...``: a SQLite data directory into PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg

from bot.notifications.ports import DocWrite, OutboxMessage, UnitOfWork
from bot.provisioning.model import Status, Step, TeamsRecord, teams_key
from bot.storage.postgres import PostgresStore
from bot.storage.postgres_ledger import PostgresLedger
from bot.storage.sqlite import SqliteStore
from bot.storage.sqlite_ledger import SqliteLedger
from tests.notifications.support import TENANT, seed_settings


def migrate(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", "migrate", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ},
        check=False,
    )


async def a_single_instance(data: Path) -> None:
    """Settings, incidents with their outbox and events, and an open provisioning saga."""
    store = SqliteStore(data / "bot.sqlite3")
    await seed_settings(store)
    saga = TeamsRecord(
        tenant_id=TENANT, status=Status.RUNNING, step=Step.ENSURE_CHANNEL, team_id="g-1"
    )
    await store.write(teams_key(TENANT), saga.to_json(), etag=None)
    ledger = SqliteLedger(store)
    for n in range(30):
        key = f"tenants/{TENANT}/incidents/{n}"
        await ledger.commit(
            UnitOfWork(
                writes=(DocWrite(key, {"incidentId": str(n), "tenantId": TENANT}, None),),
                enqueue=(OutboxMessage(f"m{n}", key, "notification", {"n": n}, 1),),
                events=({"type": "incident.accepted", "n": n},),
                receipt=f"msg_{n}",
            )
        )
    delivered, in_flight = await ledger.lease(2, 600)  # stopped with one delivery in flight
    await ledger.commit(UnitOfWork(complete=delivered))
    assert in_flight.message.id != delivered.message.id
    await ledger.close()
    await store.close()


async def test_migrate_copies_everything_and_verifies_the_counts(
    pg_url: str, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    await a_single_instance(data)
    result = migrate("--to", pg_url, "--from", str(data / "bot.sqlite3"))
    assert result.returncode == 0, result.stderr
    assert "documents: 33 row(s) copied and verified" in result.stdout
    assert "notification_outbox: 30 row(s) copied and verified" in result.stdout

    store = PostgresStore(pg_url)
    await store.open()
    saga = await store.read(teams_key(TENANT))
    assert saga is not None and saga.value["state"] == "running" and saga.value["step"] == 2
    assert (await store.read(f"tenants/{TENANT}/settings")) is not None
    ledger = PostgresLedger(store)
    assert await ledger.has_receipt("msg_7")
    assert [e.body["n"] for e in await ledger.events_after(0, 100)] == list(range(30))
    with psycopg.connect(pg_url) as conn:
        states = dict(conn.execute("SELECT state, count(*) FROM notification_outbox GROUP BY 1"))
    assert states == {"done": 1, "pending": 29}  # the lease of the stopped bot is given back
    # New rows continue the ids and cursors, never reuse one.
    await ledger.commit(UnitOfWork(events=({"type": "after"},)))
    assert (await ledger.events_after(30, 10))[0].cursor == 31
    assert len(await ledger.lease(100, 60)) == 29
    await store.close()


async def test_migrate_refuses_a_target_that_holds_data(pg_url: str, tmp_path: Path) -> None:
    data = tmp_path / "data"
    await a_single_instance(data)
    store = PostgresStore(pg_url)
    await store.open()
    await store.write("already/here", {"v": 1}, etag=None)
    await store.close()
    result = migrate("--to", pg_url, "--from", str(data / "bot.sqlite3"))
    assert result.returncode == 2
    assert (
        "documents is not empty" in result.stderr and "migrate only into an empty" in result.stderr
    )
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT count(*) FROM documents").fetchone() == (1,)
        assert conn.execute("SELECT count(*) FROM notification_outbox").fetchone() == (0,)


def test_migrate_needs_a_postgresql_target(tmp_path: Path) -> None:
    result = migrate("--to", f"sqlite:///{tmp_path}/x.db")
    assert result.returncode == 2 and "postgresql://" in result.stderr
