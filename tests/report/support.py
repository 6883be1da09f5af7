"""Hand-built incident histories, accepted through the real notifications service into SQLite."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.notifications.service import NotificationService
from bot.onboarding.model import SettingsRecord
from bot.storage.sqlite import SqliteStore
from bot.storage.sqlite_ledger import SqliteLedger
from bot.storage.sqlite_report import SqliteReportQuery
from bot.tenant.demo import DemoTenantDirectory
from tests.notifications.support import example, settings_record

T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
_ids = itertools.count(1)


def at(hours: float) -> str:
    return (
        datetime.fromtimestamp(T0.timestamp() + hours * 3600, UTC)
        .isoformat()
        .replace("+00:00", "Z")
    )


def body(
    incident_id: str,
    revision: int,
    status: str,
    hours: float,
    *,
    created: float = 0.0,
    severity: str = "high",
    determination: str = "malware",
    pending: tuple[str, ...] = (),
    completed: dict[str, str] | None = None,
    category: str = "CommandAndControl",
    source: str = "microsoftDefenderForEndpoint",
) -> dict[str, Any]:
    b = example(revision, incident_id)
    inc = b["incident"]
    inc.update(
        status=status,
        severity=severity,
        determination=determination,
        createdDateTime=at(created),
        lastUpdateDateTime=at(hours),
    )
    inc["alerts"][0].update(category=category, serviceSource=source)
    mr = b["managedResponse"]
    mr["pendingActions"] = [
        {"id": a, "type": "manual", "target": {"kind": "other", "id": "x"}, "instructions": "Do"}
        for a in pending
    ]
    mr["completedActions"] = [
        {"id": a, "type": "manual", "target": {"kind": "other", "id": "x"}, "status": s}
        for a, s in (completed or {}).items()
    ]
    return b


class Settings:
    def __init__(self, record: SettingsRecord) -> None:
        self.record = record

    async def current(self, tenant_id: str) -> SettingsRecord:
        return self.record


@dataclass
class Ledger:
    store: SqliteStore
    service: NotificationService
    query: SqliteReportQuery

    async def send(self, *bodies: dict[str, Any]) -> None:
        for b in bodies:
            result = await self.service.accept(f"msg_{next(_ids)}", b)
            assert result.outcome in ("accepted", "ignored"), result


@pytest.fixture
async def ledger(tmp_path: Path) -> AsyncIterator[Ledger]:
    store = SqliteStore(tmp_path / "bot.sqlite3")
    service = NotificationService(
        SqliteLedger(store), DemoTenantDirectory.load(), Settings(settings_record(respond=True))
    )
    query = SqliteReportQuery(store.path)
    yield Ledger(store, service, query)
    await query.close()
    await service.ledger.close()
    await store.close()
