"""The service report over 100,000 stored incident revisions of one tenant, against one plain
SQL aggregate over the same rows, in the same run.

Seeds a SQLite store (the product's schema) with 10,000 incidents of 10 revisions each: the
incident report records the notifications service keeps (each with its timeline of revisions
and the figures :func:`bot.notifications.revisions.measure` derives from it) and the incident
documents with the members' answers. Then it times the report's query port
(``SqliteReportQuery.figures``: every figure of the report in one statement) against
``SELECT COUNT(*), SUM(json_array_length(value, '$.timeline'))`` over the same rows. Times are
CPU seconds of this process (SQLite runs in it), the median of ``--runs``, the report's and the
baseline's runs alternating so that both see the same load on the machine. Target: under 1
second, and a ratio under 5.

    python bench/report.py [--incidents 10000] [--revisions 10] [--runs 9] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.support import BenchFailure, Figure, check  # noqa: E402
from bot.notifications.revisions import measure, report_key, reports_prefix  # noqa: E402
from bot.notifications.service import incident_key  # noqa: E402
from bot.report.model import last_days  # noqa: E402
from bot.storage.sqlite import SqliteStore  # noqa: E402
from bot.storage.sqlite_report import SqliteReportQuery  # noqa: E402

TENANT = "4f1c3a2e-7d5b-4e8a-9c21-6b0d8e3f5a17"
SEVERITIES = ("high", "medium", "low", "informational")
CATEGORIES = ("malware", "phishing", "compromisedAccount", "unwantedSoftware", "other")
SOURCES = (
    "microsoftDefenderForEndpoint",
    "microsoftDefenderForOffice365",
    "microsoftDefenderForIdentity",
)
TACTICS = ("InitialAccess", "Execution", "Persistence", "CredentialAccess", "CommandAndControl")
TARGET_SECONDS = 1.0
TARGET_RATIO = 5.0


def seed(store: SqliteStore, incidents: int, revisions: int, now: datetime) -> int:
    """Returns how many revisions the stored timelines hold."""
    rnd = random.Random(11)
    rows: list[tuple[str, str, str]] = []
    stored = 0
    for i in range(incidents):
        incident_id = f"{100000 + i}"
        created = now - timedelta(days=rnd.uniform(0, 29), hours=rnd.uniform(0, 23))
        resolved = rnd.random() < 0.8
        asks = i % 3 == 0
        t = created.timestamp()
        timeline = []
        for r in range(1, revisions + 1):
            t += rnd.uniform(600, 7200)
            if r == revisions:
                status = "resolved" if resolved else "inProgress"
            else:
                status = "awaitingAction" if asks and r in (3, 4) else "inProgress"
            timeline.append([r, status, t, 1 if asks and r in (3, 4) else 0])
        stored += len(timeline)
        record = {
            "incidentId": incident_id,
            "createdTs": created.timestamp(),
            "title": f"Incident {incident_id}",
            "severity": SEVERITIES[i % len(SEVERITIES)],
            "classification": "truePositive",
            "determination": CATEGORIES[i % len(CATEGORIES)],
            "sources": [SOURCES[i % len(SOURCES)]],
            "tactics": [TACTICS[i % len(TACTICS)], TACTICS[(i + 2) % len(TACTICS)]],
            "devices": [f"ws-{rnd.randrange(500):03d}.contoso.com"],
            "users": [f"user{rnd.randrange(300)}@contoso.com"],
            "pending": [],
            "completed": {f"p{i}": "completed"} if asks and resolved else {},
            "asked": [f"p{i}"] if asks else [],
            **measure(timeline, created.timestamp()),
            "timeline": timeline,
        }
        rows.append((report_key(TENANT, incident_id), json.dumps(record), uuid.uuid4().hex))
        responses = {f"p{i}": {"state": "completed"}} if i % 6 == 0 else {}
        rows.append(
            (
                incident_key(TENANT, incident_id),
                json.dumps({"incidentId": incident_id, "responses": responses}),
                uuid.uuid4().hex,
            )
        )

    def insert(conn: sqlite3.Connection) -> None:
        conn.executemany("INSERT INTO documents(key, value, etag) VALUES (?, ?, ?)", rows)

    store.run_locked(insert)
    return stored


def interleaved_medians(
    fns: tuple[Callable[[], object], Callable[[], object]], runs: int
) -> tuple[tuple[float, object], tuple[float, object]]:
    """The median CPU time of each of two functions (this process, all threads), and each's
    last result. Their runs alternate (A, B, A, B, ...), so both see the same moments of the
    machine's load and the ratio compares like with like."""
    times: tuple[list[float], list[float]] = ([], [])
    results: list[object] = [None, None]
    for _ in range(runs):
        for i, fn in enumerate(fns):
            start = time.process_time()
            results[i] = fn()
            times[i].append(time.process_time() - start)
    return (
        (statistics.median(times[0]), results[0]),
        (statistics.median(times[1]), results[1]),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=10_000)
    parser.add_argument("--revisions", type=int, default=10)
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--quick", action="store_true", help="a small seed (smoke run)")
    args = parser.parse_args(argv)
    if args.quick:
        args.incidents, args.revisions, args.runs = 200, 5, 1
    now = datetime.now(UTC)
    try:
        with tempfile.TemporaryDirectory(prefix="bench-report-") as tmp:
            store = SqliteStore(Path(tmp) / "bot.sqlite3")
            stored = seed(store, args.incidents, args.revisions, now)
            check(stored == args.incidents * args.revisions, "the revisions weren't all stored")
            query = SqliteReportQuery(store.path)
            r = last_days(30, now + timedelta(seconds=1)).query(TENANT)
            conn = sqlite3.connect(store.path)
            prefix = reports_prefix(TENANT)
            plain = (
                "SELECT COUNT(*), SUM(json_array_length(value, '$.timeline')) FROM documents "
                "WHERE key >= ? AND key < ?"
            )
            bounds = (prefix, prefix[:-1] + chr(ord("/") + 1))

            loop = asyncio.new_event_loop()

            def report() -> object:
                return loop.run_until_complete(query.figures(r))

            def baseline() -> object:
                return conn.execute(plain, bounds).fetchone()

            baseline()  # warm the page cache for both
            report()  # and the report's connection
            (seconds, figures), (base_seconds, counted) = interleaved_medians(
                (report, baseline), args.runs
            )
            conn.close()
            loop.run_until_complete(query.close())
            loop.run_until_complete(store.close())
            loop.close()
    except BenchFailure as failure:
        print(f"FAILED: {failure}", file=sys.stderr)
        return 1
    investigated = getattr(figures, "investigated", 0)
    rows, revisions = counted if isinstance(counted, tuple) else (0, 0)
    if investigated != args.incidents or rows != args.incidents or revisions != stored:
        print(
            f"FAILED: the report counted {investigated} incidents; the baseline {rows} rows "
            f"holding {revisions} revisions of {stored}",
            file=sys.stderr,
        )
        return 1
    print(
        f"service report over {stored:,} incident revisions "
        f"({rows:,} incident records, one tenant):"
    )
    figure = Figure(
        "report (every figure, one SQL statement), CPU median",
        seconds * 1000,
        "ms",
        stored,
        "one plain SQL aggregate over the same rows",
        base_seconds * 1000,
        revisions,
    ).show()
    resolved = getattr(figures, "resolved", 0)
    print(f"   resolved {resolved:,}, with your help {getattr(figures, 'resolved_with_help', 0):,}")
    ratio = figure.ratio or 0.0
    met = seconds < TARGET_SECONDS and ratio < TARGET_RATIO
    print(
        f"   target: under {TARGET_SECONDS:g} s and a ratio under {TARGET_RATIO:g}: "
        + ("met" if met else "NOT met")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
