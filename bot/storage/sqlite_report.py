"""The report's query port on SQLite: SQL aggregates over the incidents' report records.

Each incident has one record (``tenants/{t}/incident-reports/{incident}``, see
:mod:`bot.notifications.revisions`), kept up to date with every revision in the same
transaction: its latest fields, its timeline and its time to resolve. One statement reads the
tenant's key range once (a materialized CTE) and computes every figure of the report:

* **resolved**: the latest revision is ``resolved``; **resolved with your help**: some revision
  was ``awaitingAction`` or asked for an action; **average time to resolve**, experts' and
  customer's, over the resolved incidents;
* **by severity, category, service source, MITRE tactic; top devices and users**;
* **the customer's actions**: every action some revision asked for, classified by the latest
  revision's ``completedActions`` status if the experts reported it (failed, completed,
  cancelled as skipped), else by the members' answer on the card (the incident document), else
  pending while the latest revision still asks for it. Actions the experts withdrew are not
  counted;
* **trends**: incidents created per month, by severity.

The PostgreSQL adapter (:mod:`bot.storage.postgres_report`) answers the same port with the same
statement shape (``jsonb``).
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from bot.report.ports import IncidentRow, ReportFigures, ReportQueryRange
from bot.storage import Store
from bot.storage.report_rows import figures, incident_rows, params

T = TypeVar("T")

_CTES = """
WITH inc AS MATERIALIZED (
    SELECT json_extract(value, '$.incidentId') AS inc,
           json_extract(value, '$.createdTs') AS created,
           json_extract(value, '$.status') AS status,
           json_extract(value, '$.lastTs') AS last_ts,
           json_extract(value, '$.helped') AS helped,
           json_extract(value, '$.customerSeconds') AS customer,
           json_extract(value, '$.expertsSeconds') AS experts,
           json_extract(value, '$.severity') AS severity,
           json_extract(value, '$.determination') AS category,
           json_extract(value, '$.title') AS title,
           json_extract(value, '$.sources') AS sources,
           json_extract(value, '$.tactics') AS tactics,
           json_extract(value, '$.devices') AS devices,
           json_extract(value, '$.users') AS users,
           json_extract(value, '$.asked') AS asked,
           json_extract(value, '$.pending') AS pending,
           json_extract(value, '$.completed') AS completed
    FROM documents
    WHERE key >= :lo_key AND key < :hi_key AND created >= :from_ts AND created < :end_ts
),
in_range AS MATERIALIZED (
    SELECT * FROM inc WHERE created >= :start_ts AND created < :end_ts
)
"""

# Constant text: every value is a bound parameter.
_FIGURES = "".join(
    (
        _CTES,
        """,
action_states AS (
    SELECT COALESCE(
        CASE json_extract(i.completed, '$."' || a.value || '"')
            WHEN 'failed' THEN 'failed'
            WHEN 'completed' THEN 'completed'
            WHEN 'cancelled' THEN 'skipped'
            WHEN 'inProgress' THEN 'pending'
        END,
        (SELECT json_extract(d.value, '$.responses."' || a.value || '".state')
         FROM documents d WHERE d.key = :incident_prefix || i.inc),
        CASE WHEN EXISTS (SELECT 1 FROM json_each(i.pending) p WHERE p.value = a.value)
             THEN 'pending' END
    ) AS state
    FROM in_range i, json_each(i.asked) a
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
        (SELECT je.value AS k, COUNT(*) AS n FROM in_range, json_each(sources) je
         GROUP BY k)),
    'byTactic', (SELECT json_group_object(k, n) FROM
        (SELECT je.value AS k, COUNT(*) AS n FROM in_range, json_each(tactics) je
         GROUP BY k)),
    'topDevices', (SELECT json_group_array(json_array(k, n)) FROM
        (SELECT je.value AS k, COUNT(*) AS n FROM in_range, json_each(devices) je
         GROUP BY k ORDER BY n DESC, k LIMIT :top)),
    'topUsers', (SELECT json_group_array(json_array(k, n)) FROM
        (SELECT je.value AS k, COUNT(*) AS n FROM in_range, json_each(users) je
         GROUP BY k ORDER BY n DESC, k LIMIT :top)),
    'actions', (SELECT json_group_object(state, n) FROM
        (SELECT state, COUNT(*) AS n FROM action_states WHERE state IS NOT NULL GROUP BY state)),
    'trends', (SELECT json_group_array(json_array(month, severity, n)) FROM
        (SELECT strftime('%Y-%m', created, 'unixepoch') AS month,
                COALESCE(severity, 'unknown') AS severity,
                COUNT(*) AS n
         FROM inc WHERE created >= :trend_ts
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


def figures_from(conn: sqlite3.Connection, q: ReportQueryRange) -> ReportFigures:
    row = conn.execute(_FIGURES, params(q)).fetchone()
    return figures(json.loads(row[0]))


def incidents_from(conn: sqlite3.Connection, q: ReportQueryRange, limit: int) -> list[IncidentRow]:
    return incident_rows(conn.execute(_INCIDENTS, {**params(q), "limit": limit}).fetchall())


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
    tenant's incident report records and incident documents into an in-memory SQLite database
    and runs the same statements there."""

    def __init__(self, store: Store) -> None:
        self._store = store

    async def _snapshot(self, q: ReportQueryRange) -> sqlite3.Connection:
        conn = sqlite3.connect(":memory:")
        conn.execute("CREATE TABLE documents (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        keys = params(q)
        for prefix in (keys["lo_key"], keys["incident_prefix"]):
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
