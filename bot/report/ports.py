"""The report's query port: SQL aggregates over the incident revisions the experts sent.

Adapters sit beside the ledger's storage backends (:mod:`bot.storage.sqlite_report`); each
answers with aggregates computed by the database, never by reading every document here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

JSON = dict[str, Any]
ACTION_STATES = ("completed", "pending", "skipped", "failed")


@dataclass(frozen=True)
class ReportQueryRange:
    tenant_id: str
    start: float
    """Incidents created at or after this time (seconds since the epoch)..."""
    end: float
    """...and before this one."""
    trend_start: float
    """Monthly trends count incidents created from here to ``end``."""


@dataclass(frozen=True)
class ReportFigures:
    investigated: int = 0
    resolved: int = 0
    resolved_directly: int = 0
    resolved_with_help: int = 0
    avg_resolve_seconds: float | None = None
    avg_experts_seconds: float | None = None
    avg_customer_seconds: float | None = None
    by_severity: dict[str, int] = field(default_factory=dict)
    by_category: dict[str, int] = field(default_factory=dict)
    by_source: dict[str, int] = field(default_factory=dict)
    by_tactic: dict[str, int] = field(default_factory=dict)
    top_devices: tuple[tuple[str, int], ...] = ()
    top_users: tuple[tuple[str, int], ...] = ()
    actions: dict[str, int] = field(default_factory=dict)
    trends: dict[str, dict[str, int]] = field(default_factory=dict)
    """Month (``YYYY-MM``) -> severity -> incidents created that month."""

    @property
    def resolved_percent(self) -> int:
        return round(100 * self.resolved / self.investigated) if self.investigated else 0


@dataclass(frozen=True)
class IncidentRow:
    """One incident of the range, for the CSV attachment."""

    incident_id: str
    title: str
    severity: str
    status: str
    category: str
    created: str
    resolved_at: str
    experts_seconds: float | None
    customer_seconds: float | None
    helped: bool


class ReportQuery(Protocol):
    async def figures(self, query: ReportQueryRange) -> ReportFigures: ...

    async def incidents(
        self, query: ReportQueryRange, limit: int = 10_000
    ) -> list[IncidentRow]: ...

    async def close(self) -> None:
        """Release what the query holds of its own (the composition root calls it at shutdown,
        before the storage closes)."""
        ...
