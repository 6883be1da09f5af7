"""The report's query port on SQLite: SQL aggregates over the incident revision records.

The records are JSON documents (``tenants/{t}/incident-revisions/...``, see
:mod:`bot.notifications.revisions`) in the store's ``documents`` table. One statement reads the
tenant's key range once (a materialized CTE), orders each incident's revisions with window
functions, and aggregates:

* **time to resolve**, for incidents whose latest revision is resolved: the time from creation
  to the first revision, plus every interval between consecutive revisions (by revision number,
  so late arrivals fall into place) whose earlier revision was not ``resolved``. Intervals in
  ``awaitingAction`` are the customer's time, the rest the experts'. A reopened incident's
  resolved interval doesn't count.
* **resolved with your help**: some revision was ``awaitingAction`` or asked for an action.
* **the customer's actions**: every action some revision asked for, classified by the latest
  revision's ``completedActions`` status if the experts reported it (failed, completed,
  cancelled as skipped), else by the members' answer on the card, else pending while the latest
  revision still asks for it. Actions the experts withdrew are not counted.

A PostgreSQL adapter answers the same port with the same figures (``jsonb`` instead of JSON1).
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from bot.report.ports import IncidentRow, ReportFigures, ReportQueryRange
from bot.storage import Store

T = TypeVar("T")

_CTES = """
WITH revs AS MATERIALIZED (
    SELECT json_extract(value, '$.incidentId') AS inc,
           json_extract(value, '$.revision') AS rev,
           json_extract(value, '$.status') AS st,
           json_extract(value, '$.updatedTs') AS ts,
           json_extract(value, '$.createdTs') AS created,
           json_array_length(value, '$.pending') AS asked,
           value AS v
    FROM documents
    WHERE key >= :lo_key AND key < :hi_key
),
seq AS MATERIALIZED (
    SELECT inc, rev, st, ts, created, asked, v,
           LEAD(ts) OVER w AS nts,
           FIRST_VALUE(ts) OVER w AS fts,
           ROW_NUMBER() OVER (PARTITION BY inc ORDER BY rev DESC) AS rn
    FROM revs
    WHERE created >= :from_ts AND created < :end_ts
    WINDOW w AS (PARTITION BY inc ORDER BY rev)
),
inc AS MATERIALIZED (
    SELECT inc,
           MAX(created) AS created,
           MAX(CASE WHEN rn = 1 THEN st END) AS status,
           MAX(CASE WHEN rn = 1 THEN v END) AS latest,
           MAX(CASE WHEN rn = 1 THEN ts END) AS last_ts,
           MAX(st = 'awaitingAction' OR asked > 0) AS helped,
           SUM(CASE WHEN nts IS NOT NULL AND st = 'awaitingAction'
                    THEN MAX(nts - ts, 0) ELSE 0 END) AS customer,
           MAX(MAX(fts) - MAX(created), 0)
             + SUM(CASE WHEN nts IS NOT NULL AND st NOT IN ('awaitingAction', 'resolved')
                        THEN MAX(nts - ts, 0) ELSE 0 END) AS experts
    FROM seq
    GROUP BY inc
),
in_range AS MATERIALIZED (
    SELECT inc, created, status, latest, last_ts, helped, customer, experts,
           json_extract(latest, '$.severity') AS severity,
           json_extract(latest, '$.determination') AS category,
           json_extract(latest, '$.title') AS title
    FROM inc
    WHERE created >= :start_ts AND created < :end_ts
)
"""

# Constant text: every value is a bound parameter.
_FIGURES = "".join(
    (
        _CTES,
        """,
actions AS (
    SELECT DISTINCT s.inc AS inc, je.value AS aid
    FROM seq s, json_each(s.v, '$.pending') je
    WHERE s.inc IN (SELECT inc FROM in_range)
),
action_states AS (
    SELECT COALESCE(
        CASE json_extract(i.latest, '$.completed."' || a.aid || '"')
            WHEN 'failed' THEN 'failed'
            WHEN 'completed' THEN 'completed'
            WHEN 'cancelled' THEN 'skipped'
            WHEN 'inProgress' THEN 'pending'
        END,
        (SELECT json_extract(d.value, '$.responses."' || a.aid || '".state')
         FROM documents d WHERE d.key = :incident_prefix || a.inc),
        CASE WHEN EXISTS (SELECT 1 FROM json_each(i.latest, '$.pending') p WHERE p.value = a.aid)
             THEN 'pending' END
    ) AS state
    FROM actions a JOIN in_range i ON i.inc = a.inc
)
SELECT json_object(
    'investigated', (SELECT COUNT(*) FROM in_range),
    'resolved', (SELECT COUNT(*) FROM in_range WHERE status = 'resolved'),
    'resolvedWithHelp', (SELECT COUNT(*) FROM in_range WHERE status = 'resolved' AND helped),
    'avgExperts', (SELECT AVG(experts) FROM in_range WHERE status = 'resolved'),
    'avgCustomer', (SELECT AVG(customer) FROM in_range WHERE status = 'resolved'),
    'bySeverity', (SELECT json_group_object(k, n) FROM
        (SELECT COALESCE(severity, 'unknown') AS k, COUNT(*) AS n FROM in_range GROUP BY k)),
    'byCategory', (SELECT json_group_object(k, n) FROM
        (SELECT COALESCE(category, 'unknown') AS k, COUNT(*) AS n FROM in_range GROUP BY k)),
    'bySource', (SELECT json_group_object(k, n) FROM
        (SELECT je.value AS k, COUNT(*) AS n FROM in_range, json_each(latest, '$.sources') je
         GROUP BY k)),
    'byTactic', (SELECT json_group_object(k, n) FROM
        (SELECT je.value AS k, COUNT(*) AS n FROM in_range, json_each(latest, '$.tactics') je
         GROUP BY k)),
    'topDevices', (SELECT json_group_array(json_array(k, n)) FROM
        (SELECT je.value AS k, COUNT(*) AS n FROM in_range, json_each(latest, '$.devices') je
         GROUP BY k ORDER BY n DESC, k LIMIT :top)),
    'topUsers', (SELECT json_group_array(json_array(k, n)) FROM
        (SELECT je.value AS k, COUNT(*) AS n FROM in_range, json_each(latest, '$.users') je
         GROUP BY k ORDER BY n DESC, k LIMIT :top)),
    'actions', (SELECT json_group_object(state, n) FROM
        (SELECT state, COUNT(*) AS n FROM action_states WHERE state IS NOT NULL GROUP BY state)),
    'trends', (SELECT json_group_array(json_array(month, severity, n)) FROM
        (SELECT strftime('%Y-%m', created, 'unixepoch') AS month,
                COALESCE(json_extract(latest, '$.severity'), 'unknown') AS severity,
                COUNT(*) AS n
         FROM inc WHERE created >= :trend_ts AND created < :end_ts
         GROUP BY month, severity))
)
""",
    )
)

_INCIDENTS = "".join(
    (
        _CTES,
        """
SELECT inc, COALESCE(title, ''), COALESCE(severity, 'unknown'), COALESCE(status, ''),
       COALESCE(category, 'unknown'), created, last_ts, experts, customer, helped
FROM in_range ORDER BY created, inc LIMIT :limit
""",
    )
)


def _iso(seconds: float | None) -> str:
    if seconds is None:
        return ""
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _params(q: ReportQueryRange) -> dict[str, Any]:
    tenant = q.tenant_id.lower()
    prefix = f"tenants/{tenant}/incident-revisions/"
    return {
        "lo_key": prefix,
        "hi_key": prefix[:-1] + chr(ord("/") + 1),
        "incident_prefix": f"tenants/{tenant}/incidents/",
        "start_ts": q.start,
        "end_ts": q.end,
        "trend_ts": q.trend_start,
        "from_ts": min(q.start, q.trend_start),
        "top": 5,
    }


def figures_from(conn: sqlite3.Connection, q: ReportQueryRange) -> ReportFigures:
    row = conn.execute(_FIGURES, _params(q)).fetchone()
    d = json.loads(row[0])
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
        by_severity={str(k): int(v) for k, v in (d.get("bySeverity") or {}).items()},
        by_category={str(k): int(v) for k, v in (d.get("byCategory") or {}).items()},
        by_source={str(k): int(v) for k, v in (d.get("bySource") or {}).items()},
        by_tactic={str(k): int(v) for k, v in (d.get("byTactic") or {}).items()},
        top_devices=tuple((str(k), int(n)) for k, n in d.get("topDevices") or []),
        top_users=tuple((str(k), int(n)) for k, n in d.get("topUsers") or []),
        actions={str(k): int(v) for k, v in (d.get("actions") or {}).items()},
        trends=dict(sorted(trends.items())),
    )


def incidents_from(conn: sqlite3.Connection, q: ReportQueryRange, limit: int) -> list[IncidentRow]:
    rows = conn.execute(_INCIDENTS, {**_params(q), "limit": limit}).fetchall()
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
                created=_iso(created),
                resolved_at=_iso(last_ts) if resolved else "",
                experts_seconds=float(experts) if resolved else None,
                customer_seconds=float(customer) if resolved else None,
                helped=bool(helped),
            )
        )
    return out


class SqliteReportQuery:
    """Reads the SQLite store's file with its own read-only connection (WAL: it sees the last
    commit without waiting for the writer)."""

    def __init__(self, path: str | Path) -> None:
        self._conn = sqlite3.connect(
            str(path), check_same_thread=False, isolation_level=None, timeout=30
        )
        self._conn.execute("PRAGMA query_only=ON")
        self._lock = threading.Lock()

    def _locked(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        with self._lock:
            return fn(self._conn)

    async def figures(self, query: ReportQueryRange) -> ReportFigures:
        return await asyncio.to_thread(self._locked, lambda c: figures_from(c, query))

    async def incidents(self, query: ReportQueryRange, limit: int = 10_000) -> list[IncidentRow]:
        return await asyncio.to_thread(self._locked, lambda c: incidents_from(c, query, limit))

    async def close(self) -> None:
        await asyncio.to_thread(self._locked, lambda c: c.close())


class SnapshotReportQuery:
    """For stores without SQL (the in-memory store of tests and ``memory://``): copies the
    tenant's revision records and incident documents into an in-memory SQLite database and runs
    the same statements there."""

    def __init__(self, store: Store) -> None:
        self._store = store

    async def _snapshot(self, q: ReportQueryRange) -> sqlite3.Connection:
        conn = sqlite3.connect(":memory:")
        conn.execute("CREATE TABLE documents (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        params = _params(q)
        for prefix in (params["lo_key"], params["incident_prefix"]):
            for key in await self._store.list_keys(prefix):
                item = await self._store.read(key)
                if item is not None:
                    conn.execute(
                        "INSERT INTO documents VALUES (?, ?)", (key, json.dumps(item.value))
                    )
        return conn

    async def figures(self, query: ReportQueryRange) -> ReportFigures:
        conn = await self._snapshot(query)
        try:
            return figures_from(conn, query)
        finally:
            conn.close()

    async def incidents(self, query: ReportQueryRange, limit: int = 10_000) -> list[IncidentRow]:
        conn = await self._snapshot(query)
        try:
            return incidents_from(conn, query, limit)
        finally:
            conn.close()

    async def close(self) -> None:
        return None


def open_report_query(store: Store) -> SqliteReportQuery | SnapshotReportQuery:
    from bot.storage.sqlite import SqliteStore

    if isinstance(store, SqliteStore):
        return SqliteReportQuery(store.path)
    return SnapshotReportQuery(store)
