"""Flat cost at scale: a store with 100,000 incidents and a million outbox, event and receipt
rows against an empty one, in the same run.

Both bots are set up through their public commands (bench/support.py). The big store is then
filled, with the bot stopped, through the product's own services: the notifications service
accepts every incident (validation, settings, the incident document, its receipt and outbox
message, group-committed), and the ledger commits the rest (receipts, outbox messages for the
incidents' later revisions, the customers' events) and leases and finishes every message, so
the history is done and nothing is left to deliver. Then, alternating between the two bots:

1. CPU per turn (``help``, answered with a card), from /proc;
2. the webhook's accept latency, one request at a time (new incidents);
3. the experts' signed GETs: an incident's delivery state, and the event feed after its last
   cursor (the experts' poll for new events);
4. with the bots stopped, the delivery worker's lease query (16 due messages) and its
   next-due query, through the ledger.

Prints each figure for the big store against the empty one (ratio ~1.0 = flat). Exits 1,
saying why, if the seeding didn't store what it should, a webhook isn't answered 202, a GET
isn't answered 200, or a turn isn't replied to.

    python bench/scale.py [--incidents 100000] [--rows 1000000] [--samples 200] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
from support import (
    Figure,
    Process,
    activity,
    bot_process,
    check,
    percentile,
    run,
    set_up_teams,
    wait_for,
)

from bot.app import build_services
from bot.config import Settings
from bot.devtools.notify import example_notification
from bot.notifications.ports import OutboxMessage, UnitOfWork
from bot.notifications.service import incident_key
from bot.notifications.signing import WebhookVerifier, new_secret, request_line
from tests.standins.connector import ConnectorStandIn

GROUP = 256


def settings_for(data: Path) -> Settings:
    return Settings.from_env({"BOT_DATA_DIR": str(data)})


async def in_groups(count: int, make: Callable[[int], Awaitable[object]]) -> None:
    for start in range(0, count, GROUP):
        await asyncio.gather(*(make(i) for i in range(start, min(count, start + GROUP))))


async def seed(data: Path, incidents: int, rows: int) -> dict[str, int]:
    """Fill the store through the product's services; return the row counts stored."""
    services = await build_services(settings_for(data))
    service, ledger = services.notifications, services.notifications.ledger
    tenant = service.tenant_id
    started = time.perf_counter()

    async def accept(i: int) -> None:
        result = await service.accept(f"msg_seed_{i}", example_notification(1, f"9{i:07d}"))
        check(result.outcome == "accepted", f"seeding incident {i}: {result.outcome}")

    await in_groups(incidents, accept)
    extra = max(0, rows - incidents)

    async def history(j: int) -> None:
        i = j % incidents
        event = {"type": "incident.acknowledged", "tenantId": tenant, "incidentId": f"9{i:07d}"}
        await ledger.commit(
            UnitOfWork(
                receipt=f"msg_seed_extra_{j}",
                enqueue=(
                    OutboxMessage(
                        id=f"seed-{j}",
                        partition=incident_key(tenant, f"9{i:07d}"),
                        kind="refresh",
                        payload={},
                        revision=1 + j // incidents,
                    ),
                ),
                events=(event, event) if j < incidents else (event,),
            )
        )

    await in_groups(extra, history)
    # Finish every message, as the worker does once it has delivered it.
    while leased := await ledger.lease(4096, 600.0):
        await asyncio.gather(*(ledger.commit(UnitOfWork(complete=item)) for item in leased))
    await services.close()
    print(f"   seeded in {time.perf_counter() - started:.0f} s", flush=True)
    return count_rows(data)


def count_rows(data: Path) -> dict[str, int]:
    conn = sqlite3.connect(data / "bot.sqlite3")
    try:
        counts = {
            "incidents": conn.execute(
                "SELECT COUNT(*) FROM documents WHERE key LIKE 'tenants/%/incidents/%'"
            ).fetchone()[0],
            "outbox": conn.execute("SELECT COUNT(*) FROM notification_outbox").fetchone()[0],
            "open": conn.execute(
                "SELECT COUNT(*) FROM notification_outbox WHERE state IN ('pending', 'leased')"
            ).fetchone()[0],
            "events": conn.execute("SELECT COUNT(*) FROM notification_events").fetchone()[0],
            "receipts": conn.execute("SELECT COUNT(*) FROM notification_receipts").fetchone()[0],
        }
    finally:
        conn.close()
    return {k: int(v) for k, v in counts.items()}


class Bot:
    def __init__(self, name: str, data: Path, secret: str) -> None:
        self.name = name
        self.data = data
        self.secret = secret
        self.signer = WebhookVerifier.from_secret(secret)
        self.process: Process | None = None
        self.teams = ConnectorStandIn()
        self.turn_cpu: list[float] = []
        self.accepts: list[float] = []
        self.state_gets: list[float] = []
        self.event_gets: list[float] = []
        self.incidents: list[str] = []
        self.sent = 0

    def start(self) -> Process:
        self.process = bot_process(self.name, self.data, EXPERTS_WEBHOOK_SECRET=self.secret)
        return self.process

    @property
    def proc(self) -> Process:
        assert self.process is not None
        return self.process

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
            self.process = None


async def turns(session: aiohttp.ClientSession, bot: Bot, count: int) -> None:
    before = bot.proc.cpu_seconds()
    for _ in range(count):
        bot.sent += 1
        async with session.post(
            f"{bot.proc.url}/api/messages", json=activity(bot.teams.url, text="help")
        ) as r:
            check(r.status < 300, f"{bot.name} answered a turn with {r.status}")
    bot.turn_cpu.append((bot.proc.cpu_seconds() - before) / count)


async def webhooks(session: aiohttp.ClientSession, bot: Bot, count: int, tag: str) -> None:
    for i in range(count):
        incident = f"8{tag}{i:05d}"
        body = json.dumps(example_notification(1, incident)).encode()
        headers = {"Content-Type": "application/json"}
        headers.update(bot.signer.sign(f"msg_{tag}_{i}", int(time.time()), body).headers())
        started = time.perf_counter()
        async with session.post(
            f"{bot.proc.url}/api/notifications", data=body, headers=headers
        ) as r:
            await r.read()
            check(r.status == 202, f"{bot.name} answered a webhook with {r.status}")
        bot.accepts.append(time.perf_counter() - started)
        bot.incidents.append(incident)


async def signed_get(session: aiohttp.ClientSession, bot: Bot, target: str) -> float:
    headers = bot.signer.sign("msg_get", int(time.time()), request_line("GET", target)).headers()
    started = time.perf_counter()
    async with session.get(bot.proc.url + target, headers=headers) as r:
        body = await r.read()
        check(r.status == 200, f"{bot.name} answered GET {target} with {r.status}")
    elapsed = time.perf_counter() - started
    check(body, f"{bot.name} answered GET {target} with nothing")
    return elapsed


async def gets(session: aiohttp.ClientSession, bot: Bot, count: int, cursor: int) -> None:
    """The delivery state of incidents accepted during the run (the same size in both stores),
    and the event feed after the last cursor (the experts' poll for new events)."""
    for _ in range(count):
        incident = random.choice(bot.incidents)
        bot.state_gets.append(await signed_get(session, bot, f"/api/notifications/{incident}"))
        bot.event_gets.append(await signed_get(session, bot, f"/api/events?after={cursor}"))


async def lease_times(data: Path, rounds: int) -> tuple[list[float], list[float]]:
    """The worker's lease (16 due messages) and next-due queries, through the ledger."""
    services = await build_services(settings_for(data))
    ledger = services.notifications.ledger
    tag = time.time_ns()
    await ledger.commit(
        UnitOfWork(
            enqueue=tuple(
                OutboxMessage(f"lease-{tag}-{i}", f"bench/lease/{tag}/{i}", "refresh", {}, 1)
                for i in range(16)
            )
        )
    )
    leases, nexts = [], []
    try:
        for _ in range(rounds):
            started = time.perf_counter()
            leased = await ledger.lease(16, 60.0)
            leases.append(time.perf_counter() - started)
            check(len(leased) == 16, f"the lease found {len(leased)} of 16 due messages")
            for item in leased:
                await ledger.retry(item, delay=0.0, error="bench")
            started = time.perf_counter()
            await ledger.next_due()
            nexts.append(time.perf_counter() - started)
    finally:
        await services.close()
    return leases, nexts


def ms(values: list[float], q: float | None = None) -> float:
    return (statistics.median(values) if q is None else percentile(values, q)) * 1000


async def main(args: argparse.Namespace) -> None:
    secret = new_secret()
    rounds = max(1, args.samples // 20)
    print(
        f"Scale benchmark: {args.incidents:,} incidents and {args.rows:,} outbox rows against an "
        f"empty store; {rounds} alternating rounds of 20 samples"
    )
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        big = Bot("our bot, big store", Path(tmp) / "big", secret)
        empty = Bot("our bot, empty store", Path(tmp) / "empty", secret)
        bots = [big, empty]
        timeout = aiohttp.ClientTimeout(total=120)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            try:
                for bot in bots:
                    await bot.teams.start()
                    await bot.start().ready(session)
                    await set_up_teams(session, bot.proc.url, bot.teams)
                big.stop()
                counts = await seed(big.data, args.incidents, args.rows)
                print(f"   stored: {json.dumps(counts)}")
                check(
                    counts["incidents"] >= args.incidents,
                    f"only {counts['incidents']} incidents were stored",
                )
                for table in ("outbox", "events", "receipts"):
                    check(counts[table] >= args.rows, f"only {counts[table]} {table} rows stored")
                check(counts["open"] == 0, f"{counts['open']} seeded messages are still open")
                await big.start().ready(session, timeout=300)
                cursors = {big.name: counts["events"], empty.name: 0}
                for b in bots:  # warm-up
                    await turns(session, b, 5)
                    await webhooks(session, b, 5, "w")
                for b in bots:
                    b.turn_cpu.clear()
                    b.accepts.clear()
                for r in range(rounds):
                    for b in bots if r % 2 == 0 else bots[::-1]:
                        await turns(session, b, 20)
                        await webhooks(session, b, 20, f"r{r}")
                        await gets(session, b, 20, cursors[b.name])
                for b in bots:
                    await wait_for(
                        lambda b=b: len(b.teams.of_kind("send")) >= b.sent,
                        30.0,
                        lambda b=b: (
                            f"{b.name} replied to {len(b.teams.of_kind('send'))} of {b.sent} turns"
                        ),
                    )
                    b.proc.alive()
            finally:
                for b in bots:
                    b.stop()
                    await b.teams.stop()
            big_leases, big_nexts = [], []
            empty_leases, empty_nexts = [], []
            for r in range(rounds):
                for data in (big.data, empty.data) if r % 2 == 0 else (empty.data, big.data):
                    leases, nexts = await lease_times(data, 20)
                    if data == big.data:
                        big_leases += leases
                        big_nexts += nexts
                    else:
                        empty_leases += leases
                        empty_nexts += nexts

    def show(what: str, ours: list[float], base: list[float], q: float | None = None) -> None:
        Figure(what, ms(ours, q), "ms", len(ours), "empty store", ms(base, q), len(base)).show()

    print("big store against the empty one (ratio ~1.00 = flat):")
    Figure(
        "CPU per turn ('help')",
        statistics.median(big.turn_cpu) * 1000,
        "ms",
        len(big.turn_cpu) * 20,
        "empty store",
        statistics.median(empty.turn_cpu) * 1000,
        len(empty.turn_cpu) * 20,
    ).show()
    show("webhook accept, median", big.accepts, empty.accepts)
    show("webhook accept, p99", big.accepts, empty.accepts, 0.99)
    show("GET /api/notifications/{id}, median", big.state_gets, empty.state_gets)
    show("GET /api/events after the last cursor, median", big.event_gets, empty.event_gets)
    show("worker's lease of 16 due messages, median", big_leases, empty_leases)
    show("worker's next-due query, median", big_nexts, empty_nexts)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--incidents", type=int, default=100_000)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--quick", action="store_true", help="a smoke-sized run (about 20 s)")
    parsed = parser.parse_args()
    if parsed.quick:
        parsed.incidents, parsed.rows, parsed.samples = 500, 5_000, 20
    run(lambda: main(parsed))
