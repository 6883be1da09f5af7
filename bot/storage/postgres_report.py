"""The report's query port on PostgreSQL: the same figures as :mod:`bot.storage.sqlite_report`,
computed by one statement over the tenant's incident report records (``jsonb``).

The records are the ``documents`` rows under ``tenants/{t}/incident-reports/`` (a key range on
the primary key, ``COLLATE "C"``); the statement parses each once (a materialized CTE) and
answers one JSON object of the same shape as the SQLite statement's, read by
:func:`bot.storage.report_rows.figures`. Text is ordered by code point (``COLLATE "C"``), as
SQLite orders it, so ties among the top devices and users break the same way on both.
"""

from __future__ import annotations

import json
from typing import Any

from bot.report.ports import IncidentRow, ReportFigures, ReportQueryRange
from bot.storage.postgres import PostgresStore
from bot.storage.report_rows import figures, incident_rows, params

_CTES = """
WITH docs AS MATERIALIZED (
    SELECT value::jsonb AS v FROM documents
    WHERE key >= %(lo_key)s AND key < %(hi_key)s
),
inc AS MATERIALIZED (
    SELECT v->>'incidentId' AS inc,
           (v->>'createdTs')::float8 AS created,
           v->>'status' AS status,
           (v->>'lastTs')::float8 AS last_ts,
           COALESCE((v->>'helped')::boolean, false) AS helped,
           (v->>'customerSeconds')::float8 AS customer,
           (v->>'expertsSeconds')::float8 AS experts,
           v->>'severity' AS severity,
           v->>'determination' AS category,
           v->>'title' AS title,
           CASE jsonb_typeof(v->'sources') WHEN 'array' THEN v->'sources' ELSE '[]' END AS sources,
           CASE jsonb_typeof(v->'tactics') WHEN 'array' THEN v->'tactics' ELSE '[]' END AS tactics,
           CASE jsonb_typeof(v->'devices') WHEN 'array' THEN v->'devices' ELSE '[]' END AS devices,
           CASE jsonb_typeof(v->'users') WHEN 'array' THEN v->'users' ELSE '[]' END AS users,
           CASE jsonb_typeof(v->'asked') WHEN 'array' THEN v->'asked' ELSE '[]' END AS asked,
           CASE jsonb_typeof(v->'pending') WHEN 'array' THEN v->'pending' ELSE '[]' END AS pending,
           v->'completed' AS completed
    FROM docs
    WHERE (v->>'createdTs')::float8 >= %(from_ts)s AND (v->>'createdTs')::float8 < %(end_ts)s
),
in_range AS MATERIALIZED (
    SELECT * FROM inc WHERE created >= %(start_ts)s AND created < %(end_ts)s
)
"""


# Constant text: every value is a bound parameter.
_FIGURES = "".join(
    (
        _CTES,
        """,
action_states AS (
    SELECT COALESCE(
        CASE i.completed->>a.id
            WHEN 'failed' THEN 'failed'
            WHEN 'completed' THEN 'completed'
            WHEN 'cancelled' THEN 'skipped'
            WHEN 'inProgress' THEN 'pending'
        END,
        (SELECT d.value::jsonb #>> ARRAY['responses', a.id, 'state']
         FROM documents d WHERE d.key = %(incident_prefix)s || i.inc),
        CASE WHEN i.pending ? a.id THEN 'pending' END
    ) AS state
    FROM in_range i, jsonb_array_elements_text(i.asked) AS a(id)
)
SELECT jsonb_build_object(
    'investigated', (SELECT count(*) FROM in_range),
    'resolved', (SELECT count(*) FROM in_range WHERE status = 'resolved'),
    'resolvedWithHelp', (SELECT count(*) FROM in_range WHERE status = 'resolved' AND helped),
    'avgExperts', (SELECT avg(experts) FROM in_range WHERE status = 'resolved'),
    'avgCustomer', (SELECT avg(customer) FROM in_range WHERE status = 'resolved'),
    'bySeverity', (SELECT jsonb_object_agg(k, n) FROM
        (SELECT COALESCE(severity, 'unknown') AS k, count(*) AS n FROM in_range GROUP BY 1) s),
    'byCategory', (SELECT jsonb_object_agg(k, n) FROM
        (SELECT COALESCE(category, 'unknown') AS k, count(*) AS n FROM in_range GROUP BY 1) s),
    'bySource', (SELECT jsonb_object_agg(k, n) FROM
        (SELECT je AS k, count(*) AS n FROM in_range, jsonb_array_elements_text(sources) je
         GROUP BY je) s),
    'byTactic', (SELECT jsonb_object_agg(k, n) FROM
        (SELECT je AS k, count(*) AS n FROM in_range, jsonb_array_elements_text(tactics) je
         GROUP BY je) s),
    'topDevices', (SELECT jsonb_agg(jsonb_build_array(k, n) ORDER BY n DESC, k COLLATE "C")
        FROM
        (SELECT je AS k, count(*) AS n FROM in_range, jsonb_array_elements_text(devices) je
         GROUP BY je
         ORDER BY n DESC, je COLLATE "C" LIMIT %(top)s) s),
    'topUsers', (SELECT jsonb_agg(jsonb_build_array(k, n) ORDER BY n DESC, k COLLATE "C")
        FROM
        (SELECT je AS k, count(*) AS n FROM in_range, jsonb_array_elements_text(users) je
         GROUP BY je
         ORDER BY n DESC, je COLLATE "C" LIMIT %(top)s) s),
    'actions', (SELECT jsonb_object_agg(state, n) FROM
        (SELECT state, count(*) AS n FROM action_states WHERE state IS NOT NULL
         GROUP BY state) s),
    'trends', (SELECT jsonb_agg(jsonb_build_array(month, severity, n)) FROM
        (SELECT to_char(to_timestamp(created) AT TIME ZONE 'UTC', 'YYYY-MM') AS month,
                COALESCE(severity, 'unknown') AS severity,
                count(*) AS n
         FROM inc WHERE created >= %(trend_ts)s
         GROUP BY 1, 2) s)
)::text
""",
    )
)

_INCIDENTS = "".join(
    (
        _CTES,
        """
SELECT inc, COALESCE(title, ''), COALESCE(severity, 'unknown'), COALESCE(status, ''),
       COALESCE(category, 'unknown'), created, last_ts, experts, customer, helped
FROM in_range ORDER BY created, inc COLLATE "C" LIMIT %(limit)s
""",
    )
)


class PostgresReportQuery:
    """Runs the statements on the store's connection pool, in read-only transactions."""

    def __init__(self, store: PostgresStore) -> None:
        self._store = store

    async def _run(self, sql: str, values: dict[str, Any]) -> list[tuple[Any, ...]]:
        async with self._store.transaction() as cur:
            await cur.execute("SET TRANSACTION READ ONLY")
            await cur.execute(sql, values)
            return await cur.fetchall()

    async def figures(self, query: ReportQueryRange) -> ReportFigures:
        rows = await self._run(_FIGURES, params(query))
        return figures(json.loads(rows[0][0]))

    async def incidents(self, query: ReportQueryRange, limit: int = 10_000) -> list[IncidentRow]:
        return incident_rows(await self._run(_INCIDENTS, {**params(query), "limit": limit}))

    async def close(self) -> None:
        """The store owns the connection pool."""
