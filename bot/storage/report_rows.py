"""What the report's SQL adapters share: the statements' parameters, and their answers read
into the port's figures and rows (:mod:`bot.storage.sqlite_report`,
:mod:`bot.storage.postgres_report`). Both statements answer one JSON object of the same shape,
so the figures are read the same way on every backend."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from bot.report.ports import IncidentRow, ReportFigures, ReportQueryRange

TOP = 5


def iso(seconds: float | None) -> str:
    if seconds is None:
        return ""
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def params(q: ReportQueryRange) -> dict[str, Any]:
    tenant = q.tenant_id.lower()
    prefix = f"tenants/{tenant}/incident-reports/"
    return {
        "lo_key": prefix,
        "hi_key": prefix[:-1] + chr(ord("/") + 1),
        "incident_prefix": f"tenants/{tenant}/incidents/",
        "start_ts": q.start,
        "end_ts": q.end,
        "trend_ts": q.trend_start,
        "from_ts": min(q.start, q.trend_start),
        "top": TOP,
    }


def _counts(value: Any) -> dict[str, int]:
    return {str(k): int(v) for k, v in (value or {}).items()}


def figures(d: dict[str, Any]) -> ReportFigures:
    """The figures from the statement's JSON answer."""
    resolved = int(d["resolved"])
    helped = int(d["resolvedWithHelp"])
    experts, customer = d.get("avgExperts"), d.get("avgCustomer")
    trends: dict[str, dict[str, int]] = {}
    for month, severity, n in d.get("trends") or []:
        trends.setdefault(str(month), {})[str(severity)] = int(n)
    return ReportFigures(
        investigated=int(d["investigated"]),
        resolved=resolved,
        resolved_directly=resolved - helped,
        resolved_with_help=helped,
        avg_resolve_seconds=None if experts is None else float(experts) + float(customer or 0),
        avg_experts_seconds=None if experts is None else float(experts),
        avg_customer_seconds=None if customer is None else float(customer),
        by_severity=_counts(d.get("bySeverity")),
        by_category=_counts(d.get("byCategory")),
        by_source=_counts(d.get("bySource")),
        by_tactic=_counts(d.get("byTactic")),
        top_devices=tuple((str(k), int(n)) for k, n in d.get("topDevices") or []),
        top_users=tuple((str(k), int(n)) for k, n in d.get("topUsers") or []),
        actions=_counts(d.get("actions")),
        trends=dict(sorted(trends.items())),
    )


def incident_rows(rows: Iterable[Sequence[Any]]) -> list[IncidentRow]:
    """``(inc, title, severity, status, category, created, last_ts, experts, customer,
    helped)`` rows as the CSV's rows."""
    out = []
    for inc, title, severity, status, category, created, last_ts, experts, customer, helped in rows:
        resolved = status == "resolved"
        out.append(
            IncidentRow(
                incident_id=str(inc),
                title=str(title),
                severity=str(severity),
                status=str(status),
                category=str(category),
                created=iso(created),
                resolved_at=iso(last_ts) if resolved else "",
                experts_seconds=float(experts) if resolved else None,
                customer_seconds=float(customer) if resolved else None,
                helped=bool(helped),
            )
        )
    return out
