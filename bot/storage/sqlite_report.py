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

# Constant text: every value is a bound parameter. Its own CTEs (not ``_CTES``): each record is
# parsed once into a materialized table of the fields the figures need; the lists (sources,
# tactics, devices, users) are first grouped by their text, so ``json_each`` runs once per
# distinct list rather than once per incident; the actions are read only for incidents that
# asked for some.
_FIGURES = """
WITH inc AS MATERIALIZED (
    SELECT json_extract(value, '$.incidentId') AS inc,
           json_extract(value, '$.createdTs') AS created,
           json_extract(value, '$.status') AS status,
           json_extract(value, '$.helped') AS helped,
           json_extract(value, '$.customerSeconds') AS customer,
           json_extract(value, '$.expertsSeconds') AS experts,
           COALESCE(json_extract(value, '$.severity'), 'unknown') AS severity,
           COALESCE(json_extract(value, '$.determination'), 'unknown') AS category,
           json_extract(value, '$.sources') AS sources,
           json_extract(value, '$.tactics') AS tactics,
           json_extract(value, '$.devices') AS devices,
           json_extract(value, '$.users') AS users,
           CASE WHEN json_array_length(value, '$.asked') > 0
                THEN json_extract(value, '$.asked', '$.pending', '$.completed') END AS acts
    FROM documents
    WHERE key >= :lo_key AND key < :hi_key AND created >= :from_ts AND created < :end_ts
),
in_range AS NOT MATERIALIZED (
    SELECT * FROM inc WHERE created >= :start_ts AND created < :end_ts
),
totals AS MATERIALIZED (
    SELECT COUNT(*) AS investigated,
           COALESCE(SUM(status = 'resolved'), 0) AS resolved,
           COALESCE(SUM(status = 'resolved' AND helped), 0) AS helped,
           AVG(CASE WHEN status = 'resolved' THEN experts END) AS experts,
           AVG(CASE WHEN status = 'resolved' THEN customer END) AS customer
    FROM in_range
),
lists AS MATERIALIZED (
    SELECT 0 AS dim, sources AS list, COUNT(*) AS n FROM in_range GROUP BY sources
    UNION ALL SELECT 1, tactics, COUNT(*) FROM in_range GROUP BY tactics
    UNION ALL SELECT 2, devices, COUNT(*) FROM in_range GROUP BY devices
    UNION ALL SELECT 3, users, COUNT(*) FROM in_range GROUP BY users
),
dim_counts AS MATERIALIZED (
    SELECT dim, e.value AS k, SUM(n) AS n
    FROM lists, json_each(lists.list) e
    GROUP BY dim, e.value
),
action_states AS (
    SELECT COALESCE(
        CASE json_extract(i.acts, '$[2]."' || a.value || '"')
            WHEN 'failed' THEN 'failed'
            WHEN 'completed' THEN 'completed'
            WHEN 'cancelled' THEN 'skipped'
            WHEN 'inProgress' THEN 'pending'
        END,
        (SELECT json_extract(d.value, '$.responses."' || a.value || '".state')
         FROM documents d WHERE d.key = :incident_prefix || i.inc),
        CASE WHEN EXISTS (SELECT 1 FROM json_each(i.acts, '$[1]') p WHERE p.value = a.value)
             THEN 'pending' END
    ) AS state
    FROM in_range i, json_each(i.acts, '$[0]') a
    WHERE i.acts IS NOT NULL
)
SELECT json_object(
    'investigated', (SELECT investigated FROM totals),
    'resolved', (SELECT resolved FROM totals),
    'resolvedWithHelp', (SELECT helped FROM totals),
    'avgExperts', (SELECT experts FROM totals),
    'avgCustomer', (SELECT customer FROM totals),
    'bySeverity', (SELECT json_group_object(severity, n) FROM
        (SELECT severity, COUNT(*) AS n FROM in_range GROUP BY severity)),
    'byCategory', (SELECT json_group_object(category, n) FROM
        (SELECT category, COUNT(*) AS n FROM in_range GROUP BY category)),
    'bySource', (SELECT json_group_object(k, n) FROM dim_counts WHERE dim = 0),
    'byTactic', (SELECT json_group_object(k, n) FROM dim_counts WHERE dim = 1),
    'topDevices', (SELECT json_group_array(json_array(k, n)) FROM
        (SELECT k, n FROM dim_counts WHERE dim = 2 ORDER BY n DESC, k LIMIT :top)),
    'topUsers', (SELECT json_group_array(json_array(k, n)) FROM
        (SELECT k, n FROM dim_counts WHERE dim = 3 ORDER BY n DESC, k LIMIT :top)),
    'actions', (SELECT json_group_object(state, n) FROM
        (SELECT state, COUNT(*) AS n FROM action_states WHERE state IS NOT NULL GROUP BY state)),
    'trends', (SELECT json_group_array(json_array(month, severity, n)) FROM
        (SELECT strftime('%Y-%m', created, 'unixepoch') AS month, severity, COUNT(*) AS n
         FROM inc WHERE created >= :trend_ts
         GROUP BY month, severity))
)
"""

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
