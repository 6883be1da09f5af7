"""Flat cost at scale: a store with 100,000 incidents and a million outbox, event and receipt
rows against an empty one, in the same run.

Both bots are set up through their public commands (bench/support.py). The big store is then
filled in two parts:

* the template: through the running bot's public interfaces, one incident gets
  ``rows / incidents`` revisions as signed webhooks (each accepted: the incident document, its
  report record, a receipt and an outbox message), the delivery worker posts and updates it in
  the channel (the post index, every message done), and the admin acknowledges it on its card
  (an event and a card refresh);
* the copies: with the bot stopped, the template's rows are copied for every incident in
  batches of 5,000 incidents per transaction (executemany), substituting only the incident id,
  its posts' activity ids, the webhook ids and the outbox message ids. The events are repeated
  per incident up to ``rows``. Copies are read back through the product's query API (delivery
  state, receipts, event feed, next due) and must read like the template.

Seeding the full size takes about 3 to 5 minutes on the 2-core machine (2,268 s before, when
every row went through the services one unit of work at a time). Then, with both bots started
afresh, alternating between them:

0. start-up: from starting the process to its first answer to /healthz (the bot answers once
   start-up is done: migrations, redoing unapplied settings, resuming sagas and emails),
   ``--starts`` times each, stopping it in between (the first start after seeding is printed
   apart);
1. CPU per turn (``help``, answered with a card), from /proc;
2. the webhook's accept latency, one request at a time (new incidents);
3. the experts' signed GETs: an incident's delivery state, and the event feed after its last
   cursor (the experts' poll for new events);
4. with the bots stopped, the delivery worker's lease query (16 due messages) and its
   next-due query, through the ledger.

Prints each figure for the big store against the empty one (ratio ~1.0 = flat). Exits 1,
saying why, if the seeding didn't store what it should, a webhook isn't answered 202, a GET
isn't answered 200, a turn isn't replied to, or a bot doesn't answer /healthz within 120 s
of its start.

    python bench/scale.py [--incidents 100000] [--rows 1000000] [--samples 200] [--starts 5]
                          [--quick] [--keep DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import sqlite3
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
from support import (
    Figure,
    Process,
    _walk,
    activity,
    bot_process,
    check,
    demo,
    percentile,
    run,
    set_up_teams,
    wait_for,
)

from bot.app import build_services
from bot.config import Settings
from bot.devtools.notify import example_notification
from bot.notifications.ports import OutboxMessage, UnitOfWork
from bot.notifications.signing import WebhookVerifier, new_secret, request_line
from tests.standins.connector import ConnectorStandIn, incident_of


def settings_for(data: Path) -> Settings:
    return Settings.from_env({"BOT_DATA_DIR": str(data)})


RUN = uuid.uuid4().hex[:6]
"""This run's mark in its webhook and incident ids, unique across runs on a reused store."""

CHATS = 64
"""Turns go round-robin to this many personal chats: each reply takes a slot of Teams' limits,
so one chat would pace the turns at 2 a second."""

TEMPLATE = "tplscale"
"""The template incident's id: it appears in no other stored text, so copying its rows is a
plain substitution of this id (and of its posts' activity ids)."""


async def signed_post(
    session: aiohttp.ClientSession, bot: Bot, webhook_id: str, document: Any
) -> None:
    body = json.dumps(document).encode()
    headers = {"Content-Type": "application/json"}
    headers.update(bot.signer.sign(webhook_id, int(time.time()), body).headers())
    async with session.post(f"{bot.proc.url}/api/notifications", data=body, headers=headers) as r:
        await r.read()
        check(r.status == 202, f"{bot.name} answered webhook {webhook_id} with {r.status}")


async def delivery_state(session: aiohttp.ClientSession, bot: Bot, incident: str) -> Any:
    target = f"/api/notifications/{incident}"
    headers = bot.signer.sign("msg_get", int(time.time()), request_line("GET", target)).headers()
    async with session.get(bot.proc.url + target, headers=headers) as r:
        check(r.status == 200, f"{bot.name} answered GET {target} with {r.status}")
        return await r.json()


async def make_template(session: aiohttp.ClientSession, bot: Bot, revisions: int) -> list[str]:
    """The template incident, through the running bot's public interfaces: ``revisions``
    signed webhooks, delivered by its worker (posted, then updated in the channel), then the
    admin acknowledges it on its card. Returns the activity ids of its posts."""
    for revision in range(1, revisions + 1):
        await signed_post(
            session, bot, f"msg_tpl_{revision}", example_notification(revision, TEMPLATE)
        )

    async def delivered() -> Any:
        state = await delivery_state(session, bot, TEMPLATE)
        done = state["post"] and all(m["state"] == "done" for m in state["outbox"])
        return state if done and state["shownRevision"] == revisions else None

    state = None
    deadline = time.monotonic() + 60
    while state is None:
        check(time.monotonic() < deadline, "the template incident wasn't delivered in 60 s")
        state = await delivered()
        await asyncio.sleep(0.05)
    post = state["post"]
    card = next(op.card for op in reversed(bot.teams.ops) if incident_of(op.card) == TEMPLATE)
    ack = next(
        (
            n
            for n in _walk(card)
            if n.get("type") == "Action.Execute" and "cknowledge" in str(n.get("title"))
        ),
        None,
    )
    check(ack is not None, "the template incident's card has no Acknowledge button")
    assert ack is not None
    tenant = demo()["tenantId"]
    invoke = activity(
        bot.teams.url,
        type="invoke",
        name="adaptiveCard/action",
        replyToId=post["activityId"],
        conversation={
            "id": post["conversationId"],
            "conversationType": "channel",
            "isGroup": True,
            "tenantId": tenant,
        },
        value={
            "action": {"type": "Action.Execute", "verb": ack["verb"], "data": ack.get("data") or {}}
        },
    )
    async with session.post(f"{bot.proc.url}/api/messages", json=invoke) as r:
        check(r.status == 200, f"acknowledging the template incident answered {r.status}")
    deadline = time.monotonic() + 60
    while True:
        state = await delivery_state(session, bot, TEMPLATE)
        if state["acknowledged"] and all(m["state"] == "done" for m in state["outbox"]):
            break
        check(time.monotonic() < deadline, "the template incident's acknowledgement wasn't done")
        await asyncio.sleep(0.05)
    return sorted({op.activity_id for op in bot.teams.ops if incident_of(op.card) == TEMPLATE})


def copy_template(data: Path, activity_ids: list[str], incidents: int, rows: int) -> None:
    """Copy the rows the product wrote for the template incident (documents, receipts, outbox
    messages, events) for ``incidents`` incidents, substituting the incident id, its posts'
    activity ids, the webhook ids and the outbox message ids: same tables, same shapes. Events
    are repeated per incident until there are ``rows`` of them. One transaction per batch."""
    conn = sqlite3.connect(data / "bot.sqlite3", isolation_level=None)
    like = f"%{TEMPLATE}%"
    docs = conn.execute(
        "SELECT key, value, etag FROM documents WHERE key LIKE ? OR value LIKE ?", (like, like)
    ).fetchall()
    receipts = conn.execute(
        "SELECT id, received_at FROM notification_receipts WHERE id LIKE 'msg_tpl_%'"
    ).fetchall()
    outbox = conn.execute(
        "SELECT id, partition, kind, revision, payload, state, attempts, enqueued_at, "
        "available_at, lease_until, finished_at, last_error, emailed FROM notification_outbox "
        "WHERE partition LIKE ? ORDER BY seq",
        (like,),
    ).fetchall()
    events = conn.execute(
        "SELECT body, at FROM notification_events WHERE body LIKE ? ORDER BY cursor", (like,)
    ).fetchall()
    check(docs and receipts and outbox and events, "the template incident stored nothing")
    repeat = max(1, -(-rows // (incidents * len(events))))
    print(
        f"   template: {len(docs)} documents, {len(receipts)} receipts, {len(outbox)} outbox "
        f"messages, {len(events)} events (repeated {repeat}x)",
        flush=True,
    )

    def sub(text: str, n: int) -> str:
        text = text.replace(TEMPLATE, f"9{n:07d}")
        for aid in activity_ids:
            text = (
                text.replace(f'"activityId":"{aid}"', f'"activityId":"{aid}-{n}"')
                .replace(f"messageid={aid}", f"messageid={aid}-{n}")
                .replace(f"incident-posts/{aid}", f"incident-posts/{aid}-{n}")
            )
        return text

    batch = 5_000
    for first in range(0, incidents, batch):
        span = range(first, min(incidents, first + batch))
        conn.execute("BEGIN")
        conn.executemany(
            "INSERT INTO documents(key, value, etag) VALUES (?, ?, ?)",
            ((sub(k, n), sub(v, n), uuid.uuid4().hex) for n in span for k, v, _ in docs),
        )
        conn.executemany(
            "INSERT INTO notification_receipts(id, received_at) VALUES (?, ?)",
            ((f"msg_seed_{n}_{rid}", at) for n in span for rid, at in receipts),
        )
        conn.executemany(
            "INSERT INTO notification_outbox(id, partition, kind, revision, payload, state, "
            "attempts, enqueued_at, available_at, lease_until, finished_at, last_error, emailed) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                (uuid.uuid4().hex, sub(row[1], n), *row[2:4], sub(row[4], n), *row[5:])
                for n in span
                for row in outbox
            ),
        )
        conn.executemany(
            "INSERT INTO notification_events(body, at) VALUES (?, ?)",
            ((sub(body, n), at) for n in span for _ in range(repeat) for body, at in events),
        )
        conn.execute("COMMIT")
    conn.close()


async def verify_copies(data: Path, incidents: int) -> None:
    """Read copies back through the product's query API, as the experts and the worker do."""
    services = await build_services(settings_for(data))
    try:
        service, ledger = services.notifications, services.notifications.ledger
        template = await service.delivery_state(TEMPLATE)
        assert template is not None
        for n in sorted({0, incidents // 2, incidents - 1}):
            state = await service.delivery_state(f"9{n:07d}")
            check(state is not None, f"seeded incident 9{n:07d} can't be read back")
            assert state is not None
            check(
                [(m["kind"], m["revision"], m["state"]) for m in state["outbox"]]
                == [(m["kind"], m["revision"], m["state"]) for m in template["outbox"]]
                and state["acknowledged"] == template["acknowledged"]
                and state["latestRevision"] == template["latestRevision"]
                and state["post"]["revision"] == template["post"]["revision"],
                f"seeded incident 9{n:07d} reads back differently from the template",
            )
            check(
                await ledger.has_receipt(f"msg_seed_{n}_msg_tpl_1"),
                f"seeded incident 9{n:07d}'s receipt can't be read back",
            )
        page = await service.events(incidents, 3)
        check(
            len(page["events"]) == 3
            and all(e["incidentId"].startswith("9") for e in page["events"]),
            f"the seeded events read back as {page}",
        )
        check(await ledger.next_due() is None, "seeded messages are due")
    finally:
        await services.close()


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
        self.accept_cpu: list[float] = []
        self.state_gets: list[float] = []
        self.event_gets: list[float] = []
        self.incidents: list[str] = []
        self.sent = 0
        self.starts: list[float] = []

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


async def start_time(session: aiohttp.ClientSession, bot: Bot) -> float:
    """Seconds from starting the process to its first answer to /healthz (it answers once
    start-up is done: migrations, resuming settings, sagas and emails), then stops it. Fails,
    with the bot's log, if it never answers."""
    started = time.perf_counter()
    await bot.start().ready(session, timeout=120, poll=0.01)
    elapsed = time.perf_counter() - started
    bot.stop()
    return elapsed


async def turns(session: aiohttp.ClientSession, bot: Bot, count: int) -> None:
    before = bot.proc.cpu_seconds()
    for _ in range(count):
        chat = f"a:bench-chat-{bot.sent % CHATS}"  # one chat would be paced at 2 turns a second
        bot.sent += 1
        async with session.post(
            f"{bot.proc.url}/api/messages", json=activity(bot.teams.url, chat=chat, text="help")
        ) as r:
            check(r.status < 300, f"{bot.name} answered a turn with {r.status}")
    bot.turn_cpu.append((bot.proc.cpu_seconds() - before) / count)


async def webhooks(session: aiohttp.ClientSession, bot: Bot, count: int, tag: str) -> None:
    before = bot.proc.cpu_seconds()
    for i in range(count):
        incident = f"8{tag}{RUN}{i:05d}"
        body = json.dumps(example_notification(1, incident)).encode()
        headers = {"Content-Type": "application/json"}
        headers.update(bot.signer.sign(f"msg_{tag}{RUN}_{i}", int(time.time()), body).headers())
        started = time.perf_counter()
        async with session.post(
            f"{bot.proc.url}/api/notifications", data=body, headers=headers
        ) as r:
            await r.read()
            check(r.status == 202, f"{bot.name} answered a webhook with {r.status}")
        bot.accepts.append(time.perf_counter() - started)
        bot.incidents.append(incident)
    bot.accept_cpu.append((bot.proc.cpu_seconds() - before) / count)


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
    keep = contextlib.nullcontext(args.keep) if args.keep else None
    with keep or tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        reused = Path(args.reuse) / "big" if args.reuse else None
        big = Bot("our bot, big store", reused or Path(tmp) / "big", secret)
        empty = Bot("our bot, empty store", Path(tmp) / "empty", secret)
        bots = [big, empty]
        timeout = aiohttp.ClientTimeout(total=120)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            try:
                port_file = big.data / "connector-port"
                if reused is not None:
                    # The reused store's conversation references name its stand-in's URL.
                    big.teams.port = int(port_file.read_text())
                for bot in bots:
                    await bot.teams.start()
                    if bot is big and reused is not None:
                        continue
                    await bot.start().ready(session)
                    await set_up_teams(session, bot.proc.url, bot.teams)
                port_file.write_text(str(big.teams.port))
                if reused is None:
                    revisions = max(1, -(-args.rows // args.incidents))
                    activity_ids = await make_template(session, big, revisions)
                    big.stop()
                    started = time.perf_counter()
                    copy_template(big.data, activity_ids, args.incidents, args.rows)
                    await verify_copies(big.data, args.incidents)
                    print(f"   seeded in {time.perf_counter() - started:.0f} s", flush=True)
                else:  # verified when it was seeded; the earlier run's last posts may be open
                    print(f"   reusing the big store seeded earlier in {big.data}", flush=True)
                counts = count_rows(big.data)
                print(f"   stored: {json.dumps(counts)}")
                check(
                    counts["incidents"] >= args.incidents,
                    f"only {counts['incidents']} incidents were stored",
                )
                for table in ("outbox", "events", "receipts"):
                    check(counts[table] >= args.rows, f"only {counts[table]} {table} rows stored")
                check(
                    counts["open"] == 0 or reused is not None,
                    f"{counts['open']} seeded messages are still open",
                )
                empty.stop()
                first = await start_time(session, big)
                print(f"   first start of the big store after seeding: {first:.2f} s", flush=True)
                await start_time(session, empty)  # its warm-up
                for r in range(args.starts):
                    for b in bots if r % 2 == 0 else bots[::-1]:
                        b.starts.append(await start_time(session, b))
                # Both bots are measured as fresh processes, started the same way.
                for b in bots:
                    await b.start().ready(session, timeout=300)
                cursors = {big.name: counts["events"], empty.name: 0}
                for b in bots:  # warm-up
                    await turns(session, b, 5)
                    await webhooks(session, b, 5, "w")
                    await gets(session, b, 5, cursors[b.name])
                for b in bots:
                    b.turn_cpu.clear()
                    b.accepts.clear()
                    b.accept_cpu.clear()
                    b.state_gets.clear()
                    b.event_gets.clear()
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
        "process start to /healthz answered, median",
        statistics.median(big.starts),
        "s",
        len(big.starts),
        "empty store",
        statistics.median(empty.starts),
        len(empty.starts),
    ).show()
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
    Figure(
        "CPU per webhook accepted (the bot process, with its delivery meanwhile)",
        statistics.median(big.accept_cpu) * 1000,
        "ms",
        len(big.accept_cpu) * 20,
        "empty store",
        statistics.median(empty.accept_cpu) * 1000,
        len(empty.accept_cpu) * 20,
    ).show()
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
    parser.add_argument(
        "--keep", metavar="DIR", help="put the two stores in DIR (new) and keep them afterwards"
    )
    parser.add_argument(
        "--reuse",
        metavar="DIR",
        help="measure the big store that an earlier --keep DIR seeded, instead of seeding one "
        "(the empty store is made afresh)",
    )
    parser.add_argument("--starts", type=int, default=5, help="process starts of each store")
    parser.add_argument("--quick", action="store_true", help="a smoke-sized run (about 20 s)")
    parsed = parser.parse_args()
    if parsed.quick:
        parsed.incidents, parsed.rows, parsed.samples, parsed.starts = 500, 5_000, 20, 1
    run(lambda: main(parsed))
