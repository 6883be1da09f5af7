"""Smoke runs of every benchmark: each ``--quick`` run must do its work and exit 0.

A benchmark exits non-zero, saying why, when its work didn't happen (no post, no reply, fewer
answers than requests sent), so the exit status is all these tests check: never a timing.
To add a benchmark, add a line to ``BENCHMARKS``.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench"
TIMEOUT = 600


@dataclass(frozen=True)
class Benchmark:
    script: str
    args: tuple[str, ...] = ("--quick",)
    marks: tuple[pytest.MarkDecorator, ...] = field(default=())


BENCHMARKS = [
    Benchmark("notifications.py"),
    Benchmark("turns.py"),
    Benchmark("scale.py"),
    Benchmark("fuzz.py"),
    Benchmark("chat.py"),
    Benchmark("report.py"),
    Benchmark("postgres.py"),  # a throwaway PostgreSQL cluster, like tests/postgres
    # Needs the Agents Playground (npm ci), like the end-to-end tests.
    Benchmark("cold_start.py", marks=(pytest.mark.e2e,)),
]


def run_script(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *argv],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


@pytest.mark.parametrize(
    "benchmark",
    [pytest.param(b, id=b.script, marks=b.marks) for b in BENCHMARKS],
)
def test_the_quick_run_does_its_work(benchmark: Benchmark) -> None:
    result = run_script([str(BENCH / benchmark.script), *benchmark.args])
    assert result.returncode == 0, (
        f"{benchmark.script} {' '.join(benchmark.args)} exited {result.returncode}\n"
        f"stdout:\n{result.stdout[-3000:]}\nstderr:\n{result.stderr[-5000:]}"
    )
    assert "ratio" in result.stdout, result.stdout


def test_a_benchmark_whose_work_did_not_happen_exits_1_and_says_why() -> None:
    script = (
        "import sys; sys.path.insert(0, 'bench')\n"
        "from support import check, run\n"
        "async def main():\n"
        "    posts = 0\n"
        "    check(posts > 0, 'no notification was posted')\n"
        "    print('ratio 1.00')\n"
        "run(main)\n"
    )
    result = run_script(["-c", script])
    assert result.returncode == 1
    assert "FAILED: no notification was posted" in result.stderr
    assert "ratio" not in result.stdout


def test_every_benchmark_script_has_a_smoke_run() -> None:
    scripts = {p.name for p in BENCH.glob("*.py")} - {"__init__.py", "support.py", "echo_bot.py"}
    listed = {b.script for b in BENCHMARKS}
    assert scripts <= listed, f"add a smoke run to BENCHMARKS for {sorted(scripts - listed)}"
