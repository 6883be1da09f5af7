"""PostgreSQL against SQLite, and two instances against one, measured in one run.

Every bot is a real ``python -m bot`` set up through its public commands only
(bench/support.py): the demo tenant's admin runs the setup guide over /api/messages and Teams
tells the bot it was added to the Defender Experts team. The PostgreSQL bots share one
database of a throwaway local cluster (tests/pgcluster.py, Debian's ``postgresql``); the
second instance is started on the database the first one set up.

1. Accepted notifications per second (signed POSTs, each answered 202 only after its durable
   commit), in alternating rounds with the same client and the same number in flight: one
   instance on SQLite (the baseline of every ratio), one instance on PostgreSQL, and two
   instances on PostgreSQL with the requests spread over both.
2. Delivery by the two PostgreSQL instances together: the backlog of step 1 (plus a revision
   of 25 of its incidents: an update and a thread reply each) posted into the Managed response
   channel, against Teams' limits counted for the channel's conversation (the posts, the
   updates and the replies in the incidents' threads together), with the Bot Connector
   stand-in counting every call that went over (answered 429). Ratio 1.0 is the ceiling.

Exits 1, saying why, if any notification isn't answered 202, nothing is delivered, either
PostgreSQL instance never delivers, or a call went over Teams' limits.

    python bench/postgres.py [--count 1200] [--rounds 3] [--concurrency 16]
                             [--delivery-seconds 31] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import tempfile
import time
from pathlib import Path

import aiohttp
from support import Figure, Process, bot_process, check, run, set_up_teams, wait_for

from bot.devtools.notify import example_notification
from bot.notifications.signing import WebhookVerifier, new_secret
from tests.pgcluster import Cluster, throwaway
from tests.standins.connector import TEAMS_THREAD_LIMITS, ConnectorStandIn, incident_of

Batch = list[tuple[bytes, dict[str, str]]]


def signed(signer: WebhookVerifier, count: int, prefix: str, revision: int = 1) -> Batch:
    out = []
    now = int(time.time())
    for i in range(count):
        body = json.dumps(example_notification(revision, f"{prefix}{i}")).encode()
        headers = {"Content-Type": "application/json"}
        headers.update(signer.sign(f"msg_{prefix}{i}_{revision}", now, body).headers())
        out.append((body, headers))
    return out


async def load(
    session: aiohttp.ClientSession, servers: list[Process], batch: Batch, concurrency: int
) -> float:
    """Send every request with ``concurrency`` in flight, spread over ``servers`` in turn;
    return the wall time. Every answer must be 202."""
    queue = list(reversed(batch))
    turn = 0

    async def client() -> None:
        nonlocal turn
        while queue:
            body, headers = queue.pop()
            server = servers[turn % len(servers)]
            turn += 1
            async with session.post(
                f"{server.url}/api/notifications", data=body, headers=headers
            ) as r:
                text = await r.text()
                check(r.status == 202, f"{server.name} answered {r.status}, not 202: {text[:300]}")

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    return time.perf_counter() - started


def ceiling(span: float) -> int:
    """The most calls Teams' per-thread limits allow in ``span`` seconds from the first: each
    call as early as every sliding window lets it (the earliest schedule is the fullest)."""
    times: list[float] = []
    t = 0.0
    while t <= span:
        free = [
            times[-limit] + window
            for window, limit in TEAMS_THREAD_LIMITS
            if len(times) >= limit and times[-limit] + window > t
        ]
        if free:
            t = max(free)
            continue
        times.append(t)
    return len(times)


async def acceptance(
    args: argparse.Namespace,
    session: aiohttp.ClientSession,
    signer: WebhookVerifier,
    sqlite: Process,
    a: Process,
    b: Process,
) -> None:
    setups = {
        "one instance on SQLite": [sqlite],
        "one instance on PostgreSQL": [a],
        "two instances on PostgreSQL": [a, b],
    }
    walls: dict[str, list[float]] = {name: [] for name in setups}
    per_round = max(2, args.count // args.rounds)
    for servers in setups.values():  # warm-up
        await load(session, servers, signed(signer, 20, f"w{len(servers)}{servers[0].port}-"), 8)
    for r in range(args.rounds):
        order = list(setups.items())
        order = order if r % 2 == 0 else order[::-1]
        for name, servers in order:
            prefix = f"r{r}-{len(servers)}-{servers[0].port}-"
            walls[name].append(
                await load(session, servers, signed(signer, per_round, prefix), args.concurrency)
            )
    for process in (sqlite, a, b):
        process.alive()
    sent = per_round * args.rounds

    def rate(name: str) -> float:
        return sent / sum(walls[name])

    print(
        f"1. notifications accepted per second, {args.concurrency} in flight, "
        f"{args.rounds} alternating rounds of {per_round}"
    )
    base = "one instance on SQLite"
    for name in setups:
        Figure(name, rate(name), "/s", sent, base, rate(base), sent).show()


async def delivery(
    args: argparse.Namespace,
    session: aiohttp.ClientSession,
    signer: WebhookVerifier,
    teams: ConnectorStandIn,
    channel: str,
    a: Process,
    b: Process,
) -> None:
    # Revisions of 25 incidents accepted in step 1: each is an update and a thread reply.
    revised = signed(signer, 25, f"r0-1-{a.port}-", revision=2)
    await load(session, [a, b], revised, 8)

    def calls() -> list[float]:
        return sorted(
            op.at
            for op in teams.ops
            if op.conversation_id.split(";", 1)[0] == channel
            and (op.kind != "post" or incident_of(op.card))
        )

    await wait_for(lambda: bool(calls()), 30.0, "nothing was delivered within 30 s")
    first = calls()[0]
    deadline = first + args.delivery_seconds
    while time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    times = [t for t in calls() if t <= deadline]

    def posts_by() -> dict[str, int]:
        return {p.name: p.log_tail(10**7).count("posted incident") for p in (a, b)}

    await wait_for(
        lambda: all(posts_by().values()),
        60.0,
        lambda: f"both instances must deliver; posts logged by each: {posts_by()}",
    )
    print()
    print(
        f"2. delivery by two PostgreSQL instances in the {args.delivery_seconds:g} s from the "
        "first call, into one channel's conversation (posts, updates and the incidents' "
        "thread replies together)"
    )
    span = args.delivery_seconds
    Figure(
        f"calls in {span:g} s", len(times), "calls", len(times), "Teams' ceiling", ceiling(span), 1
    ).show()
    for window, limit in TEAMS_THREAD_LIMITS:
        if window <= span:
            busiest = max(sum(1 for u in times if t <= u < t + window) for t in times)
            Figure(
                f"busiest {window:g} s", busiest, "calls", len(times), "Teams' limit", limit, 1
            ).show()
    print(
        f"   incident posts logged by each instance: {posts_by()}; calls answered 429 for "
        f"going over a limit: {teams.violations} of {teams.calls}"
    )
    check(teams.violations == 0, f"{teams.violations} call(s) went over Teams' limits")


async def main(args: argparse.Namespace) -> None:
    secret = new_secret()
    signer = WebhookVerifier.from_secret(secret)
    timeout = aiohttp.ClientTimeout(total=120)
    print(
        f"PostgreSQL benchmark: {args.count} notifications per setup, {args.concurrency} in flight"
    )
    print()
    cluster: Cluster = throwaway()
    processes: list[Process] = []
    try:
        url = cluster.create_database()
        with tempfile.TemporaryDirectory(prefix="bench-postgres-") as tmp_dir:
            tmp = Path(tmp_dir)
            env = {"EXPERTS_WEBHOOK_SECRET": secret, "LOG_LEVEL": "INFO"}
            async with (
                aiohttp.ClientSession(timeout=timeout) as session,
                ConnectorStandIn(enforce_limits=True) as teams_sqlite,
                ConnectorStandIn(enforce_limits=True) as teams_pg,
            ):
                sqlite = bot_process("SQLite", tmp / "sqlite", **env)
                processes.append(sqlite)
                a = bot_process("PostgreSQL a", tmp / "a", STORAGE_URL=url, INSTANCE_ID="a", **env)
                processes.append(a)
                await sqlite.ready(session)
                await a.ready(session)
                await set_up_teams(session, sqlite.url, teams_sqlite)
                channel = await set_up_teams(session, a.url, teams_pg)
                b = bot_process("PostgreSQL b", tmp / "b", STORAGE_URL=url, INSTANCE_ID="b", **env)
                processes.append(b)
                await b.ready(session)
                await acceptance(args, session, signer, sqlite, a, b)
                await delivery(args, session, signer, teams_pg, channel, a, b)
    finally:
        for process in processes:
            process.stop()
        cluster.stop()
        shutil.rmtree(cluster.root, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=1200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--delivery-seconds", type=float, default=31.0)
    parser.add_argument("--quick", action="store_true", help="a smoke-sized run (about 30 s)")
    parsed = parser.parse_args()
    if parsed.quick:
        parsed.count, parsed.rounds, parsed.delivery_seconds = 60, 2, 3.0
    run(lambda: main(parsed))
