"""Hostile input against the real bot process: 10,000 fuzzed requests over its three endpoints.

``python -m bot`` in local mode (the demo tenant, set up through its public commands, so that
incidents are posted to a Bot Connector stand-in and card actions have something to aim at)
receives, 4 in flight:

* /api/messages: mutated Teams activities (messages, card actions, installs), arbitrary JSON,
  arbitrary bytes (``tests/edge/fuzzing.py``: ``activities``);
* card actions: Action.Execute invokes from a non-admin, an outsider, or on a post that isn't
  theirs (``card_actions``);
* /api/notifications: signed bodies, mutated, with non-finite numbers, repeated keys, other
  charsets and content types (``webhook_bodies``).

Printed: the answers counted by status per endpoint (any 5xx fails the run), the bot's resident
memory and log size before and after, and the log written per request against a baseline of
valid requests (``help`` messages and notification revisions) measured first, in the same run.

Exits 1, saying why, on any 5xx, any error the bot logged (a turn that failed, even if answered
without a 5xx), any request that got no answer, or fewer requests than asked.

    python bench/fuzz.py [--count 10000] [--baseline 1000] [--concurrency 4] [--seed 8] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from support import Figure, Process, bot_process, check, run, set_up_teams

from bot.notifications.signing import WebhookVerifier, new_secret
from tests.edge.fuzzing import activities, card_actions, webhook_bodies
from tests.notifications.support import example
from tests.standins.connector import ConnectorStandIn

Case = tuple[str, bytes, dict[str, str]]  # endpoint label, body, headers


def generate(strategy: st.SearchStrategy[Any], count: int, at: int) -> list[Any]:
    """``count`` examples of ``strategy``, reproducibly (``--seed``)."""
    found: list[Any] = []

    @seed(at)
    @settings(
        max_examples=count,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def gather(value: Any) -> None:
        found.append(value)

    gather()
    return found[:count]


def log_bytes(process: Process) -> int:
    return len(process.log_tail(chars=10**12).encode())


class Sender:
    def __init__(self, session: aiohttp.ClientSession, bot: Process, signer: WebhookVerifier):
        self.session = session
        self.bot = bot
        self.signer = signer
        self._ids = 0

    def signed(self, body: bytes) -> dict[str, str]:
        self._ids += 1
        return self.signer.sign(f"msg_bench{self._ids}", int(time.time()), body).headers()

    async def send(self, cases: list[Case], concurrency: int) -> tuple[Counter[str], float]:
        counts: Counter[str] = Counter()
        queue = iter(cases)

        async def worker() -> None:
            for label, body, headers in queue:
                path = "/api/notifications" if label == "webhook" else "/api/messages"
                if label == "webhook":
                    headers = {**headers, **self.signed(body)}
                try:
                    async with self.session.post(
                        self.bot.url + path, data=body, headers=headers
                    ) as response:
                        await response.read()
                        counts[f"{label} {response.status}"] += 1
                except (aiohttp.ClientError, TimeoutError) as exc:
                    counts[f"{label} no answer ({type(exc).__name__})"] += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return counts, time.perf_counter() - started


def fuzz_cases(service_url: str, count: int, at: int) -> list[Case]:
    json_type = {"Content-Type": "application/json"}
    shares: list[tuple[str, st.SearchStrategy[Any], Callable[[Any], Case], float]] = [
        ("messages", activities(service_url), lambda b: ("messages", b, json_type), 0.4),
        ("card action", card_actions(service_url), lambda b: ("card action", b, json_type), 0.3),
        (
            "webhook",
            webhook_bodies(),
            lambda c: ("webhook", c[0], {"Content-Type": c[1]}),
            0.3,
        ),
    ]
    cases: list[Case] = []
    for n, (_, strategy, to_case, share) in enumerate(shares):
        size = count - len(cases) if n == len(shares) - 1 else round(count * share)
        cases.extend(to_case(v) for v in generate(strategy, size, at + n))
    random.Random(at).shuffle(cases)  # the endpoints interleaved, as an attacker's would be
    return cases


def baseline_cases(service_url: str, count: int) -> list[Case]:
    from tests.edge.fuzzing import base_activity

    json_type = {"Content-Type": "application/json"}
    cases: list[Case] = []
    for n in range(count):
        if n % 2:
            body = example()  # a new incident each time: revisions of one would contend (503)
            body["incident"]["id"] = f"bench-{n}"
            cases.append(("webhook", json.dumps(body).encode(), json_type))
        else:
            message = base_activity("message", service_url)
            # Each valid message in a chat of its own: replies in one chat are paced by Teams'
            # limits (2 a second sustained), which would make this a measure of the limiter.
            message["conversation"]["id"] = f"a:bench-chat-{n % 64}"
            cases.append(("messages", json.dumps(message).encode(), json_type))
    return cases


def show_counts(title: str, counts: Counter[str]) -> None:
    print(f"   {title}:")
    for key in sorted(counts):
        print(f"     {key:<40} {counts[key]:>6,}")


async def main(args: argparse.Namespace) -> None:
    secret = new_secret()
    signer = WebhookVerifier.from_secret(secret)
    print(
        f"Fuzz benchmark: {args.count:,} hostile requests over /api/messages, card actions "
        f"and /api/notifications, {args.concurrency} in flight; baseline {args.baseline:,} "
        "valid requests"
    )
    timeout = aiohttp.ClientTimeout(total=60)
    with tempfile.TemporaryDirectory(prefix="bench-fuzz-") as tmp_dir:
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            ConnectorStandIn() as teams,
        ):
            bot = bot_process(
                "our bot",
                Path(tmp_dir) / "bot",
                EXPERTS_WEBHOOK_SECRET=secret,
                LOG_LEVEL="INFO",
                LOG_FORMAT="text",  # the error scan below reads the text format's level field
            )
            try:
                await bot.ready(session)
                await set_up_teams(session, bot.url, teams)
                started = time.perf_counter()
                cases = fuzz_cases(teams.url, args.count, args.seed)
                generated = time.perf_counter() - started
                check(len(cases) == args.count, f"generated {len(cases)} cases, not {args.count}")
                print(f"   generated {len(cases):,} cases in {generated:.1f} s")
                sender = Sender(session, bot, signer)

                rss_before, log_before = bot.rss_mb(), log_bytes(bot)
                valid, valid_seconds = await sender.send(
                    baseline_cases(teams.url, args.baseline), args.concurrency
                )
                log_after_valid = log_bytes(bot)
                fuzzed, fuzz_seconds = await sender.send(cases, args.concurrency)
                bot.alive()
                rss_after, log_after = bot.rss_mb(), log_bytes(bot)
                failed_turns = [
                    line for line in bot.log_tail(chars=10**12).splitlines() if " ERROR " in line
                ]
            finally:
                bot.stop()

    print()
    print("1. answers by status")
    show_counts(f"baseline, {sum(valid.values()):,} valid requests", valid)
    show_counts(f"fuzz, {sum(fuzzed.values()):,} hostile requests", fuzzed)
    server_errors = sum(n for key, n in fuzzed.items() if key.rsplit(" ", 1)[-1].startswith("5"))
    unanswered = sum(n for key, n in fuzzed.items() if "no answer" in key)
    print()
    print("2. the bot process")
    Figure("resident memory after the fuzz", rss_after, "MB", 1, "before", rss_before, 1).show()
    Figure(
        "log written per hostile request",
        (log_after - log_after_valid) / max(1, args.count),
        "bytes",
        args.count,
        "per valid request",
        (log_after_valid - log_before) / max(1, args.baseline),
        args.baseline,
    ).show()
    print(
        f"   log size: {log_before:,} bytes before, {log_after_valid:,} after the baseline, "
        f"{log_after:,} after the fuzz"
    )
    Figure(
        "hostile requests per second",
        args.count / fuzz_seconds,
        "req/s",
        args.count,
        "valid requests",
        args.baseline / valid_seconds,
        args.baseline,
    ).show()
    print(f"   errors logged (a failed turn, say): {len(failed_turns)} (n={args.count:,} hostile)")
    check(server_errors == 0, f"{server_errors} hostile requests were answered 5xx")
    check(
        not failed_turns,
        f"{len(failed_turns)} requests logged an error; the first: {failed_turns[:1]}",
    )
    check(unanswered == 0, f"{unanswered} hostile requests got no answer")
    check(sum(fuzzed.values()) == args.count, "not every hostile request was sent")
    check(
        all(key.endswith((" 200", " 201", " 202")) for key in valid),
        f"a valid baseline request was refused: {dict(valid)}",
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--baseline", type=int, default=1_000)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--seed", type=int, default=8)
    parser.add_argument("--quick", action="store_true", help="a smoke-sized run (about 20 s)")
    parsed = parser.parse_args()
    if parsed.quick:
        parsed.count, parsed.baseline = 150, 20
    if parsed.count < 3 or parsed.baseline < 2:
        sys.exit("--count must be at least 3 and --baseline at least 2")
    run(lambda: main(parsed))
