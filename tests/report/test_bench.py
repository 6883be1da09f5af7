"""bench/report.py computes the report on a small seed and says so (its figures aren't asserted)."""

from __future__ import annotations

import pytest

from bench import report


def test_the_benchmark_computes_the_report(capsys: pytest.CaptureFixture[str]) -> None:
    assert report.main(["--incidents", "60", "--revisions", "3", "--runs", "1"]) == 0
    out = capsys.readouterr().out
    assert "service report over 180 incident revisions (60 incident records" in out
    assert "ratio" in out
