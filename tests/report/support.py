"""Hand-built incident histories, accepted through the real notifications service into SQLite
and into PostgreSQL."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.notifications.service import NotificationService
from bot.onboarding.model import SettingsRecord
from bot.report.ports import ReportQuery
from bot.storage import Store
from bot.storage.postgres import PostgresStore
from bot.storage.postgres_ledger import PostgresLedger
from bot.storage.postgres_report import PostgresReportQuery
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
    store: Store
    service: NotificationService
    query: ReportQuery

    async def send(self, *bodies: dict[str, Any]) -> None:
        for b in bodies:
            result = await self.service.accept(f"msg_{next(_ids)}", b)
            assert result.outcome in ("accepted", "ignored"), result


@asynccontextmanager
async def open_ledger(kind: str, tmp_path: Path, pg_url: str = "") -> AsyncIterator[Ledger]:
    store: SqliteStore | PostgresStore
    query: SqliteReportQuery | PostgresReportQuery
    if kind == "sqlite":
        store = SqliteStore(tmp_path / "bot.sqlite3")
        notifications: SqliteLedger | PostgresLedger = SqliteLedger(store)
        query = SqliteReportQuery(store.path)
    else:
        store = PostgresStore(pg_url)
        await store.open()
        notifications = PostgresLedger(store)
        query = PostgresReportQuery(store)
    service = NotificationService(
        notifications, DemoTenantDirectory.load(), Settings(settings_record(respond=True))
    )
    try:
        yield Ledger(store, service, query)
    finally:
        await query.close()
        await service.ledger.close()
        await store.close()


@pytest.fixture(params=["sqlite", "postgres"])
async def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Ledger]:
    """The same histories on both SQL backends, read through the report's query port: every
    figure test runs against SQLite and against PostgreSQL (a throwaway cluster)."""
    pg_url = request.getfixturevalue("pg_url") if request.param == "postgres" else ""
    async with open_ledger(request.param, tmp_path, pg_url) as opened:
        yield opened
