"""Two ``python -m bot`` processes on one PostgreSQL, behind one Bot Connector stand-in that
counts calls per thread and answers 429 past Teams' documented limits.

Every incident of a tenant is posted in its one Managed response channel, and Teams counts a
channel's posts, updates and thread replies together (60 in 30 s): at that pace a full history
of 20 revisions for 50 incidents (1,950 calls) takes 16 minutes, so the 1,000 notifications here
are 75 distinct revisions (50 incidents, 25 of them revised once) and the experts' retries of
them through the other instance (the same webhook id, or a new one for a revision already sent).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import psycopg
import pytest

from bot.notifications.signing import WebhookVerifier
from bot.storage.postgres import migrations
from tests.e2e.harness import BotProcess
from tests.notifications.support import CHANNEL_ID, SECRET, example, revised
from tests.postgres.instances import CRASH_SITE, eventually, instance, seed, until
from tests.standins.connector import TEAMS_THREAD_LIMITS, ConnectorStandIn, incident_of

SIGNER = WebhookVerifier.from_secret(SECRET)
INCIDENTS = [str(3_100_000 + i) for i in range(50)]
REVISED = set(INCIDENTS[:25])
TENANT_PER_SECOND = 50
Sent = tuple[dict[str, Any], str]


@pytest.fixture
async def connector() -> AsyncIterator[ConnectorStandIn]:
    async with ConnectorStandIn(enforce_limits=True) as c:
        yield c


async def send(
    http: aiohttp.ClientSession, bot: BotProcess, body: dict[str, Any], webhook_id: str
) -> int:
    raw = json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    headers.update(SIGNER.sign(webhook_id, int(time.time()), raw).headers())
    async with http.post(f"{bot.base_url}/api/notifications", data=raw, headers=headers) as r:
        return r.status


def the_thousand() -> tuple[list[list[Sent]], list[list[Sent]]]:
    """The originals per incident, in order (revision 1, then 2), and then the experts'
    retries: 1,000 requests in all. Sent in two phases, so that every incident's revisions are
    accepted in order: a retry of revision 2 that overtook revision 1 would make revision 2 the
    incident's first post (one message, not two) and the test's count wrong by design."""
    originals: list[list[Sent]] = []
    for incident in INCIDENTS:
        plan = [(example(1, incident), f"msg_{incident}_1")]
        if incident in REVISED:
            plan.append((revised(2, incident), f"msg_{incident}_2"))
        originals.append(plan)
    # The same webhook id (a duplicate), or a new id for a revision already accepted (ignored).
    retries = itertools.cycle(
        [(body, wid) for plan in originals for body, wid in plan]
        + [(body, f"{wid}_again") for plan in originals for body, wid in plan]
    )
    again: list[list[Sent]] = [[] for _ in originals]
    total = sum(len(p) for p in originals)
    for n in range(1000 - total):
        again[n % len(again)].append(next(retries))
    return originals, again


def all_sent_recorded(url: str, connector: ConnectorStandIn) -> bool:
    """Every post, update and thread reply the connector answered is recorded in its incident
    document (the post's activity id, the revision's update and reply)."""
    sent = len(connector.ops)
    with psycopg.connect(url) as conn:
        docs = [
            json.loads(r[0])
            for r in conn.execute(
                "SELECT value FROM documents WHERE key LIKE 'tenants/%/incidents/%'"
            )
        ]
    recorded = 0
    for doc in docs:
        recorded += 1 if doc.get("post") else 0
        for delivery in (doc.get("deliveries") or {}).values():
            recorded += bool(delivery.get("updated")) + bool(delivery.get("replyId"))
    return recorded == sent and sent == len(connector.ops)


def over_tenant_limit(times: list[float]) -> int:
    """Calls that had 50 others in the second before them (Teams' per-tenant limit)."""
    times = sorted(times)
    return sum(1 for i, t in enumerate(times) if i >= TENANT_PER_SECOND and times[i - 50] > t - 1)


def over_thread_limits(times: list[float]) -> int:
    times = sorted(times)
    over = 0
    for i, t in enumerate(times):
        for span, limit in TEAMS_THREAD_LIMITS:
            if i >= limit and times[i - limit] > t - span:
                over += 1
                break
    return over


async def test_two_instances_deliver_1000_notifications_exactly_once_across_a_kill_9(
    pg_url: str, connector: ConnectorStandIn, tmp_path: Path
) -> None:
    await seed(pg_url, connector)
    a = instance(
        pg_url,
        tmp_path,
        "a",
        NOTIFY_LEASE_SECONDS="15",
        PYTHONPATH=str(CRASH_SITE),
        DE_TEST_STALL_AFTER_CALLS="20",
    )
    b = instance(pg_url, tmp_path, "b", NOTIFY_LEASE_SECONDS="15")
    bots = [a, b]
    await asyncio.gather(asyncio.to_thread(a.start), asyncio.to_thread(b.start))
    try:
        statuses: list[int] = []
        turn = itertools.count()
        async with aiohttp.ClientSession() as http:

            async def run(plan: list[Sent]) -> None:
                for body, webhook_id in plan:
                    statuses.append(await send(http, bots[next(turn) % 2], body, webhook_id))

            originals, retries = the_thousand()
            await asyncio.gather(*(run(plan) for plan in originals))
            await asyncio.gather(*(run(plan) for plan in retries))
        assert len(statuses) == 1000
        # 75 accepted, 75 retries with a new webhook id acknowledged as "ignored" (202), and
        # 850 repeats of a webhook id answered 200 "duplicate"; nothing refused or lost.
        assert (statuses.count(202), statuses.count(200)) == (150, 850)

        async def quiet() -> bool:
            return "QUIET after 20 connector calls" in a.log_text()

        await eventually(quiet, "instance a to stall mid-delivery", bots, 120)
        # Kill a only once every call that reached Teams is recorded (no timing: a's calls
        # have all answered, and the database shows each). A kill between a send and its
        # record would post twice: Teams' API has no idempotency key, and that window is the
        # one the product can't close; the test kills in the middle of everything else.
        await eventually(
            lambda: asyncio.to_thread(all_sent_recorded, pg_url, connector),
            "every call that reached the connector to be recorded",
            bots,
            120,
        )
        a.kill9()

        async def done() -> bool:
            with psycopg.connect(pg_url) as conn:
                row = conn.execute(
                    "SELECT count(*) FILTER (WHERE state = 'done'), count(*) "
                    "FROM notification_outbox"
                ).fetchone()
            return row == (75, 75)

        try:
            await eventually(done, "instance b to finish everything", [b, a], 240)
        except AssertionError as exc:
            with psycopg.connect(pg_url) as conn:
                open_rows = conn.execute(
                    "SELECT seq, partition, kind, revision, state, attempts, lease_until, "
                    "lease_id, available_at, last_error, extract(epoch FROM clock_timestamp()) "
                    "FROM notification_outbox WHERE state <> 'done'"
                ).fetchall()
            raise AssertionError(f"{exc}\nopen messages: {open_rows}") from None
        with psycopg.connect(pg_url) as conn:
            states = dict(
                conn.execute("SELECT state, count(*) FROM notification_outbox GROUP BY state")
            )
            versions = [r[0] for r in conn.execute("SELECT version FROM schema_migrations")]
        assert states == {"done": 75}
        assert sorted(versions) == [m.version for m in migrations()]
        for incident in INCIDENTS:
            (post,) = connector.posts_of(incident)
            updates = [
                op for op in connector.of_kind("update") if op.activity_id == post.activity_id
            ]
            replies = [
                op
                for op in connector.of_kind("reply")
                if op.conversation_id.endswith(f"messageid={post.activity_id}")
            ]
            expected = 1 if incident in REVISED else 0
            assert (len(updates), len(replies)) == (expected, expected), incident
            if updates:
                assert incident_of(updates[0].card) == incident
        times = [op.at for op in connector.ops]
        assert connector.violations == 0
        assert over_thread_limits(times) == 0 and over_tenant_limit(times) == 0
    finally:
        for bot in bots:
            bot.stop()


async def test_sigterm_during_a_delivery_finishes_the_post_and_exits(
    pg_url: str, tmp_path: Path
) -> None:
    async with ConnectorStandIn() as connector:
        await seed(pg_url, connector)
        bot = instance(pg_url, tmp_path, "a", SHUTDOWN_GRACE_SECONDS="30")
        await asyncio.to_thread(bot.start)
        try:
            connector.hold()  # the post reaches the connector and waits there
            async with aiohttp.ClientSession() as http:
                assert await send(http, bot, example(1, "4100001"), "msg_term") == 202
            await until(connector.wait_arrived(1), "the post to reach the connector", [bot], 60)
            assert connector.arrived == 1
            assert bot.process is not None
            bot.process.send_signal(signal.SIGTERM)

            async def draining() -> bool:
                return "waiting up to 30 s for 1 delivery(ies) in flight" in bot.log_text()

            await eventually(draining, "the drain to start", [bot], 60)
            connector.release()
            code = await asyncio.to_thread(bot.process.wait, 60)
            assert code == 0
        finally:
            connector.release()
            bot.stop()
        assert len(connector.posts_of("4100001")) == 1
        with psycopg.connect(pg_url) as conn:
            states = [r[0] for r in conn.execute("SELECT state FROM notification_outbox")]
        assert states == ["done"]
        # Started again, nothing is delivered a second time.
        again = instance(pg_url, tmp_path, "b")
        await asyncio.to_thread(again.start)
        try:
            async with aiohttp.ClientSession() as http:
                assert await send(http, again, example(1, "4100001"), "msg_term") == 200
        finally:
            again.stop()
        assert len(connector.posts_of("4100001")) == 1


async def test_sigterm_before_a_delivery_sends_gives_its_lease_back_to_the_other_instance(
    pg_url: str, tmp_path: Path
) -> None:
    """The delivery waits for a slot of Teams' thread limit (the thread is blocked, as after a
    429 with a long Retry-After) when SIGTERM comes: after the grace period the instance gives
    the lease back untried and exits; the other instance posts it, once."""
    async with ConnectorStandIn() as connector:
        await seed(pg_url, connector)
        with psycopg.connect(pg_url) as conn:
            conn.execute(
                "INSERT INTO rate_blocks(key, until) "
                "VALUES (%s, extract(epoch FROM clock_timestamp()) + 3600)",
                (f"thread:{CHANNEL_ID}",),
            )
        a = instance(pg_url, tmp_path, "a", SHUTDOWN_GRACE_SECONDS="1")
        await asyncio.to_thread(a.start)
        try:
            async with aiohttp.ClientSession() as http:
                assert await send(http, a, example(1, "4100002"), "msg_release") == 202

            def leased() -> list[tuple[Any, ...]]:
                with psycopg.connect(pg_url) as conn:
                    return conn.execute(
                        "SELECT state, lease_id, attempts FROM notification_outbox"
                    ).fetchall()

            async def waiting() -> bool:
                return [r[0] for r in leased()] == ["leased"]

            await eventually(waiting, "the delivery to lease and wait for a slot", [a], 60)
            assert a.process is not None
            a.process.send_signal(signal.SIGTERM)
            code = await asyncio.to_thread(a.process.wait, 60)
            assert code == 0
            assert "1 given back" in a.log_text()
        finally:
            a.stop()
        assert leased() == [("pending", None, 0)]  # given back untried, due at once
        assert connector.arrived == 0
        with psycopg.connect(pg_url) as conn:
            conn.execute("DELETE FROM rate_blocks")
        b = instance(pg_url, tmp_path, "b")
        await asyncio.to_thread(b.start)
        try:

            async def delivered() -> bool:
                return [r[0] for r in leased()] == ["done"]

            await eventually(delivered, "the other instance to deliver it", [b], 60)
        finally:
            b.stop()
        assert len(connector.posts_of("4100002")) == 1 and connector.arrived == 1
