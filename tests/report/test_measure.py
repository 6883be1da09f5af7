"""One incident's figures from its timeline (pure; the SQL tests go through the service)."""

from __future__ import annotations

import pytest

from bot.notifications.revisions import measure

H = 3600.0


def test_awaiting_is_the_customers_time_and_resolved_doesnt_count() -> None:
    timeline = [
        [1, "inProgress", 1 * H, 0],
        [2, "awaitingAction", 2 * H, 1],
        [3, "resolved", 5 * H, 0],
        [4, "active", 9 * H, 0],  # reopened: 5 h to 9 h don't count
        [5, "resolved", 10 * H, 0],
    ]
    m = measure(timeline, 0.0)
    assert m["status"] == "resolved" and m["lastTs"] == 10 * H and m["helped"]
    assert m["customerSeconds"] == pytest.approx(3 * H)
    assert m["expertsSeconds"] == pytest.approx(1 * H + 1 * H + 1 * H)


def test_clock_skew_never_makes_time_negative() -> None:
    m = measure([[1, "inProgress", 5 * H, 0], [2, "resolved", 4 * H, 0]], 6 * H)
    assert m["expertsSeconds"] == 0 and m["customerSeconds"] == 0 and not m["helped"]


def test_an_empty_timeline() -> None:
    m = measure([], 100.0)
    assert m["status"] == "" and m["expertsSeconds"] == 0 and not m["helped"]
