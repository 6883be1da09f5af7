"""The report's figures from hand-built incident histories, computed by SQL."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from bot.report.model import ReportRange, month_start
from bot.report.ports import ReportFigures
from bot.storage.sqlite_report import SnapshotReportQuery
from tests.notifications.support import TENANT
from tests.report.support import T0, Ledger, body, open_ledger

HOUR = 3600.0
NOVEMBER = ReportRange(month_start(T0), month_start(T0, 1), "November 2026", "month")


async def figures(ledger: Ledger, r: ReportRange = NOVEMBER) -> ReportFigures:
    return await ledger.query.figures(r.query(TENANT))


async def test_time_to_resolve_splits_the_experts_and_the_customers_time(ledger: Ledger) -> None:
    # Created at 0 h; first revision at 1 h (investigating); awaiting the customer from 3 h to
    # 7 h; resolved at 9 h. Experts: 1 + 2 + 2 = 5 h; customer: 4 h.
    await ledger.send(
        body("100", 1, "inProgress", 1),
        body("100", 2, "awaitingAction", 3, pending=("p1",)),
        body("100", 3, "inProgress", 7, completed={"p1": "completed"}),
        body("100", 4, "resolved", 9, completed={"p1": "completed"}),
    )
    f = await figures(ledger)
    assert (f.investigated, f.resolved, f.resolved_with_help, f.resolved_directly) == (1, 1, 1, 0)
    assert f.avg_experts_seconds == pytest.approx(5 * HOUR)
    assert f.avg_customer_seconds == pytest.approx(4 * HOUR)
    assert f.avg_resolve_seconds == pytest.approx(9 * HOUR)
    assert f.actions == {"completed": 1}


async def test_revisions_out_of_order_fall_into_place(ledger: Ledger) -> None:
    # Revision 3 arrives first; 1 and 2 arrive late and are ignored for the channel, but they
    # are part of the incident's timeline.
    await ledger.send(
        body("200", 3, "resolved", 6),
        body("200", 1, "inProgress", 1),
        body("200", 2, "awaitingAction", 2),
    )
    f = await figures(ledger)
    assert f.resolved == 1 and f.resolved_with_help == 1
    assert f.avg_experts_seconds == pytest.approx(2 * HOUR)  # 0-1 h, then 1-2 h
    assert f.avg_customer_seconds == pytest.approx(4 * HOUR)  # 2-6 h


async def test_an_incident_resolved_then_reopened(ledger: Ledger) -> None:
    # Resolved at 2 h, reopened at 10 h, resolved again at 12 h: the 8 resolved hours between
    # don't count. While it is reopened it isn't resolved at all.
    await ledger.send(
        body("300", 1, "inProgress", 1),
        body("300", 2, "resolved", 2),
        body("300", 3, "active", 10),
    )
    f = await figures(ledger)
    assert (f.investigated, f.resolved) == (1, 0)
    assert f.avg_resolve_seconds is None
    await ledger.send(body("300", 4, "resolved", 12))
    f = await figures(ledger)
    assert f.resolved == 1 and f.resolved_directly == 1
    assert f.avg_experts_seconds == pytest.approx(4 * HOUR)  # 0-1, 1-2, 10-12
    assert f.avg_customer_seconds == pytest.approx(0)


async def test_breakdowns_top_assets_tactics_and_actions(ledger: Ledger) -> None:
    await ledger.send(
        body("401", 1, "resolved", 2, severity="high", determination="malware"),
        body(
            "402",
            1,
            "awaitingAction",
            3,
            created=1,
            severity="medium",
            determination="phishing",
            category="InitialAccess",
            source="microsoftDefenderForOffice365",
            pending=("p1", "p2", "p3", "p4"),
        ),
        body(
            "402",
            2,
            "awaitingAction",
            4,
            created=1,
            severity="medium",
            determination="phishing",
            category="InitialAccess",
            source="microsoftDefenderForOffice365",
            pending=("p2",),
            completed={"p3": "failed", "p4": "cancelled", "p1": "completed"},
        ),
        body("403", 1, "inProgress", 5, created=2, severity="low", determination="malware"),
    )
    f = await figures(ledger)
    assert f.investigated == 3 and f.resolved == 1 and f.resolved_percent == 33
    assert f.by_severity == {"high": 1, "medium": 1, "low": 1}
    assert f.by_category == {"malware": 2, "phishing": 1}
    assert f.by_source == {"microsoftDefenderForEndpoint": 2, "microsoftDefenderForOffice365": 1}
    assert f.by_tactic == {"CommandAndControl": 2, "InitialAccess": 1}
    assert f.top_devices[0] == ("fin-ws-042.contoso.com", 3)
    assert f.actions == {"completed": 1, "pending": 1, "failed": 1, "skipped": 1}


async def test_the_range_and_the_six_month_trends(ledger: Ledger) -> None:
    await ledger.send(
        body("501", 1, "resolved", 1),  # November
        body("502", 1, "resolved", -24 * 40, created=-24 * 40),  # September
        body("503", 1, "resolved", -24 * 40, created=-24 * 40, severity="low"),
    )
    f = await figures(ledger)
    assert f.investigated == 1
    assert f.trends["2026-09"] == {"high": 1, "low": 1}
    assert f.trends["2026-11"] == {"high": 1}
    week = ReportRange(T0 + timedelta(days=1), T0 + timedelta(days=8), "later", "7")
    assert (await figures(ledger, week)).investigated == 0


async def test_another_tenants_rows_are_never_counted(ledger: Ledger) -> None:
    await ledger.send(body("601", 1, "resolved", 1))
    other = NOVEMBER.query("00000000-0000-0000-0000-000000000000")
    assert (await ledger.query.figures(other)).investigated == 0


async def test_the_snapshot_adapter_gives_the_same_figures(ledger: Ledger) -> None:
    await ledger.send(
        body("701", 1, "inProgress", 1),
        body("701", 2, "awaitingAction", 2, pending=("p1",)),
        body("701", 3, "resolved", 5),
        body("702", 1, "active", 3, severity="low"),
    )

    class Reader:
        """The SQLite store read through the Store port only."""

        async def list_keys(self, prefix: str) -> list[str]:
            return await ledger.store.list_keys(prefix)

        async def read(self, key: str):  # type: ignore[no-untyped-def]
            return await ledger.store.read(key)

    snapshot = SnapshotReportQuery(Reader())  # type: ignore[arg-type]
    assert await snapshot.figures(NOVEMBER.query(TENANT)) == await figures(ledger)
    rows = await ledger.query.incidents(NOVEMBER.query(TENANT))
    assert [r.incident_id for r in rows] == ["701", "702"]
    assert rows[0].resolved_at and rows[0].customer_seconds == pytest.approx(3 * HOUR)


async def test_sqlite_and_postgresql_give_the_same_figures_from_the_same_histories(
    tmp_path: Path, pg_url: str
) -> None:
    histories = [
        body("801", 1, "inProgress", 1, severity="medium"),
        body("801", 2, "awaitingAction", 2, pending=("p1", "p2"), severity="medium"),
        body("801", 3, "resolved", 5, completed={"p1": "completed", "p2": "cancelled"}),
        body("802", 2, "resolved", 4, created=1, determination="phishing"),
        body("802", 1, "active", 2, created=1, determination="phishing"),
        body("803", 1, "awaitingAction", 3, created=2, severity="low", pending=("p9",)),
        body("804", 1, "resolved", -24 * 50, created=-24 * 50, severity="informational"),
    ]
    answers = []
    for kind in ("sqlite", "postgres"):
        async with open_ledger(kind, tmp_path, pg_url) as ledger:
            await ledger.send(*histories)
            q = NOVEMBER.query(TENANT)
            six_months = ReportRange(T0 - timedelta(days=90), T0 + timedelta(days=30), "", "90")
            answers.append(
                (
                    await ledger.query.figures(q),
                    await ledger.query.figures(six_months.query(TENANT)),
                    await ledger.query.incidents(q),
                )
            )
    assert answers[0] == answers[1]
    november, ninety, rows = answers[0]
    assert (november.investigated, november.resolved, ninety.investigated) == (3, 2, 4)
    assert [r.incident_id for r in rows] == ["801", "802", "803"]
