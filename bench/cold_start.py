"""Cold start to the first card: our bot against a plain botbuilder echo bot, same run.

For each bot: start the process and the Microsoft 365 Agents Playground from cold, send one
message in the personal chat, and time until the bot's first reply arrives on the Playground's
stream. Prints seconds and the ratio (ours / echo).

    python bench/cold_start.py [--runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.e2e.harness import BotProcess, Playground, PlaygroundClient, is_message  # noqa: E402

PERSONAL = "a:1defender-experts-personal-chat"


async def once(module: str, text: str) -> float:
    work = Path(tempfile.mkdtemp(prefix="bench-cold-"))
    t0 = time.perf_counter()
    if module == "echo":
        bot = BotProcess({}, work / "logs", module="bench.echo_bot", name="echo")
    else:
        bot = BotProcess({"BOT_DATA_DIR": str(work / "data")}, work / "logs")
    playground = Playground(bot.messaging_endpoint, work / "playground")
    try:
        await asyncio.to_thread(bot.start)
        await asyncio.to_thread(playground.start)
        async with PlaygroundClient(playground.base_url) as client:
            await client.send_text(PERSONAL, "user-id-0", text)
            await client.next_activity(is_message(conversation=PERSONAL), timeout=30)
        return time.perf_counter() - t0
    finally:
        playground.stop()
        bot.stop()


async def main(runs: int) -> None:
    echo, ours = [], []
    for _ in range(runs):
        echo.append(await once("echo", "hello"))
        ours.append(await once("ours", "setup"))
    e, o = statistics.median(echo), statistics.median(ours)
    print(f"runs={runs}")
    print(f"echo bot: {e:5.2f} s from cold start to its first reply")
    print(f"our bot : {o:5.2f} s from cold start to the first card")
    print(f"ratio (ours/echo) = {o / e:.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    asyncio.run(main(parser.parse_args().runs))
