"""Per-turn cost of our bot against a plain botbuilder echo bot, measured in the same run.

Each bot runs in its own process with its own Bot Connector stand-in; this script drives both
with the same message activity (``help``, answered with a card by our bot and with an echo by
the baseline) over short alternating rounds, in 64 personal chats, and reads each process's CPU
time and resident memory from /proc. Prints ratios (ours / echo): <= 1.0 means our bot costs no
more per turn than the bare framework.

Exits 1, saying why, if a turn isn't answered or a bot doesn't send exactly one reply per turn.

    python bench/turns.py [--rounds 20] [--turns 50] [--concurrency 4] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
from support import ROOT, Figure, Process, activity, bot_process, check, run, wait_for

from tests.standins.connector import ConnectorStandIn

CHATS = 64
"""Turns go round-robin to this many personal chats. Each reply is a connector call that our bot
sends within Teams' limits (per chat: 7 in 1 s, 8 in 2 s, 60 in 30 s; per tenant: 50 a second),
as Teams would enforce them: all in one chat, the turns would run at 2 a second. Over 64 chats
the per-chat limits don't bind; the tenant's 50 a second does, for our bot (the echo bot has no
limiter)."""


class Bot:
    def __init__(self, process: Process, teams: ConnectorStandIn) -> None:
        self.process = process
        self.teams = teams
        self.sent = 0
        self.rounds: list[tuple[float, float]] = []  # (CPU seconds, wall seconds)

    @property
    def name(self) -> str:
        return self.process.name

    def replies(self) -> int:
        return len(self.teams.of_kind("send"))


async def round_(
    session: aiohttp.ClientSession, bot: Bot, turns: int, concurrency: int
) -> tuple[float, float]:
    queue = list(range(turns))

    async def client() -> None:
        while queue:
            queue.pop()
            chat = f"a:bench-chat-{bot.sent % CHATS}"
            bot.sent += 1
            async with session.post(
                f"{bot.process.url}/api/messages",
                json=activity(bot.teams.url, chat=chat, text="help"),
            ) as r:
                check(r.status < 300, f"{bot.name} answered {r.status}: {await r.text()}")

    cpu0, t0 = bot.process.cpu_seconds(), time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    return bot.process.cpu_seconds() - cpu0, time.perf_counter() - t0


async def main(args: argparse.Namespace) -> None:
    async with (
        aiohttp.ClientSession() as session,
        ConnectorStandIn() as echo_teams,
        ConnectorStandIn() as our_teams,
    ):
        with tempfile.TemporaryDirectory(prefix="bench-turns-") as data:
            bots = [
                Bot(
                    Process("echo bot", [sys.executable, str(ROOT / "bench" / "echo_bot.py")]),
                    echo_teams,
                ),
                Bot(bot_process("our bot", Path(data)), our_teams),
            ]
            rss_start: dict[str, float] = {}
            try:
                for b in bots:
                    await b.process.ready(session)
                    rss_start[b.name] = b.process.rss_mb()
                for b in bots:  # warm-up
                    await round_(session, b, args.turns, args.concurrency)
                for r in range(args.rounds):
                    for b in bots if r % 2 == 0 else bots[::-1]:
                        b.rounds.append(await round_(session, b, args.turns, args.concurrency))
                for b in bots:
                    await wait_for(
                        lambda b=b: b.replies() >= b.sent,
                        10.0,
                        lambda b=b: f"{b.name} replied to {b.replies()} of {b.sent} turns",
                    )
                    check(
                        b.replies() == b.sent,
                        f"{b.name} sent {b.replies()} replies to {b.sent} turns",
                    )
                    b.process.alive()
                rss_end = {b.name: b.process.rss_mb() for b in bots}
            finally:
                for b in bots:
                    b.process.stop()
    echo, ours = bots
    measured = args.rounds * args.turns

    def per_turn_ms(b: Bot) -> float:
        return statistics.median(cpu for cpu, _ in b.rounds) / args.turns * 1000

    def rate(b: Bot) -> float:
        return statistics.median(args.turns / wall for _, wall in b.rounds)

    print(
        f"Turns benchmark: {args.rounds} alternating rounds of {args.turns} 'help' turns, "
        f"{args.concurrency} in flight; replies: ours {ours.replies()}, echo {echo.replies()}"
    )
    Figure(
        "CPU per turn", per_turn_ms(ours), "ms", measured, "echo bot", per_turn_ms(echo), measured
    ).show("")
    Figure(
        f"turns per second, {args.concurrency} in flight over {CHATS} chats (ours within "
        "Teams' 50 a second per tenant)",
        rate(ours),
        "/s",
        measured,
        "echo bot",
        rate(echo),
        measured,
    ).show("")
    Figure(
        "resident memory after start",
        rss_start[ours.name],
        "MB",
        1,
        "echo bot",
        rss_start[echo.name],
        1,
    ).show("")
    Figure(
        f"resident memory after {ours.sent} turns",
        rss_end[ours.name],
        "MB",
        1,
        f"echo bot after {echo.sent}",
        rss_end[echo.name],
        1,
    ).show("")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--turns", type=int, default=50)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--quick", action="store_true", help="a smoke-sized run (a few seconds)")
    parsed = parser.parse_args()
    if parsed.quick:
        parsed.rounds, parsed.turns = 2, 10
    run(lambda: main(parsed))
