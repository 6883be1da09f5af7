"""Cold start to the first card: our bot against a plain botbuilder echo bot, same run.

For each run and each bot: the Microsoft 365 Agents Playground is started first (it is the
client, not part of what is measured); then the bot process is started from cold, and as soon
as it answers ``/healthz`` one message is sent in the Playground's personal chat. The figure
is the time from starting the process to the bot's first reply arriving on the Playground's
stream (for our bot, the setup guide's card; for the echo bot, its echo); the CPU time the
process had used by then is printed too, since on a shared machine the wall time mostly
measures the other processes. Runs alternate
between the bots. Prints the medians and the ratio (ours / echo).

Before measuring, the product's modules are compiled to bytecode (``compileall``), as
``pip install`` does for the deployed wheel (deploy/Dockerfile): the echo bot's libraries come
compiled from site-packages, and a cold start of the product doesn't compile its own sources
either (with ``PYTHONDONTWRITEBYTECODE`` set, a source checkout would otherwise compile them at
every start).

Exits 1, saying why, if a bot doesn't start or its first reply isn't the expected one.

    python bench/cold_start.py [--runs 5] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import compileall
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
from support import ROOT, BenchFailure, Figure, Process, check, free_port, run

from tests.e2e.harness import (
    HarnessError,
    Playground,
    PlaygroundClient,
    frame_cards,
    frame_text,
    is_message,
)

PERSONAL = "a:1defender-experts-personal-chat"


async def once(name: str) -> tuple[float, float, float]:
    """Seconds from starting the process to healthy, and to its first reply; and the CPU
    seconds the process had used when its first reply arrived."""
    with tempfile.TemporaryDirectory(prefix="bench-cold-") as tmp:
        work = Path(tmp)
        if name == "echo":
            argv = [sys.executable, str(ROOT / "bench" / "echo_bot.py")]
            env: dict[str, str] = {}
            text = "hello"
        else:
            argv = [sys.executable, "-m", "bot"]
            env = {"BOT_DATA_DIR": str(work / "data")}
            text = "setup"
        port = free_port()
        playground = Playground(f"http://127.0.0.1:{port}/api/messages", work / "pg")
        try:
            await asyncio.to_thread(playground.start)
        except HarnessError as error:
            raise BenchFailure(f"the Agents Playground didn't start: {error}") from None
        try:
            async with (
                PlaygroundClient(playground.base_url) as client,
                aiohttp.ClientSession() as session,
            ):
                t0 = time.perf_counter()
                bot = Process(f"{name} bot", argv, env, port=port)
                try:
                    await bot.ready(session, poll=0.005)
                    healthy = time.perf_counter() - t0
                    await client.send_text(PERSONAL, "user-id-0", text)
                    try:
                        frame = await client.next_activity(
                            is_message(conversation=PERSONAL), timeout=30
                        )
                    except TimeoutError as error:
                        raise BenchFailure(f"the {name} bot didn't reply: {error}") from None
                    first = time.perf_counter() - t0
                    cpu = bot.cpu_seconds()
                    bot.alive()
                finally:
                    bot.stop()
        finally:
            playground.stop()
    if name == "echo":
        check(frame_text(frame) == "Echo: hello", f"the echo bot replied {frame_text(frame)!r}")
    else:
        check(frame_cards(frame), f"our bot's first reply has no card: {frame_text(frame)!r}")
    return healthy, first, cpu


def compile_product() -> None:
    """Bytecode for the product's packages, as the wheel's installation writes it."""
    for package in ("bot", "cards"):
        check(
            compileall.compile_dir(ROOT / package, quiet=1),
            f"compiling {package}/ to bytecode failed",
        )


async def main(runs: int) -> None:
    compile_product()
    results: dict[str, list[tuple[float, float, float]]] = {"echo": [], "ours": []}
    for r in range(runs):
        for name in ("echo", "ours") if r % 2 == 0 else ("ours", "echo"):
            results[name].append(await once(name))

    def median(name: str, index: int) -> float:
        return statistics.median(run[index] for run in results[name])

    print(f"Cold start benchmark: {runs} alternating runs per bot, through the Agents Playground")
    Figure(
        "process start to the first card",
        median("ours", 1),
        "s",
        runs,
        "echo bot's first reply",
        median("echo", 1),
        runs,
    ).show("")
    Figure(
        "CPU used by the process up to the first card (less sensitive to the machine's load)",
        median("ours", 2),
        "s",
        runs,
        "echo bot up to its first reply",
        median("echo", 2),
        runs,
    ).show("")
    Figure(
        "process start to /healthz answering",
        median("ours", 0),
        "s",
        runs,
        "echo bot",
        median("echo", 0),
        runs,
    ).show("")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="one run per bot")
    parsed = parser.parse_args()
    run(lambda: main(1 if parsed.quick else parsed.runs))
