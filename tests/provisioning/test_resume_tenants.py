"""At start-up the saga resumes for every tenant whose run was active, however many documents
each tenant has stored (the tenants are found by a skip-scan, not by listing every key)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.provisioning.model import Status, Step, TeamsRecord, teams_key
from bot.provisioning.records import TeamsRecords
from bot.storage import Store
from bot.storage.memory import MemoryStore
from bot.storage.sqlite import SqliteStore


@pytest.fixture(params=["memory", "sqlite"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    s: Store = MemoryStore() if request.param == "memory" else SqliteStore(tmp_path / "s.db")
    yield s
    await s.close()


async def test_every_active_tenant_is_resumed_and_no_other(store: Store) -> None:
    records = {
        "t-running": TeamsRecord("t-running", step=Step.ENSURE_CHANNEL),
        "t-waiting": TeamsRecord("t-waiting", status=Status.WAITING, step=Step.AWAIT_INSTALLATION),
        "t-ready": TeamsRecord("t-ready", status=Status.READY, step=Step.WELCOME),
        "t-off": TeamsRecord("t-off", enabled=False, status=Status.WAITING, step=Step.WELCOME),
        "t-zlast": TeamsRecord("t-zlast", step=Step.INSTALL_APP),
    }
    for tenant, record in records.items():
        await store.write(teams_key(tenant), record.to_json(), etag=None)
        for n in range(30):  # the tenant's other documents, before and after its record
            await store.write(f"tenants/{tenant}/incidents/{n}", {}, etag=None)
            await store.write(f"tenants/{tenant}/a{n}", {}, etag=None)
    await store.write("tenants/t-none/settings", {}, etag=None)  # a tenant without a run
    await store.write("tenants/t-running.x/teams-not", {}, etag=None)
    want = sorted(t for t, r in records.items() if r.active)
    assert want == ["t-running", "t-waiting", "t-zlast"]

    found = await TeamsRecords(store, lambda: datetime.now(UTC)).enabled_and_active()

    assert sorted(found) == want
