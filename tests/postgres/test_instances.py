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
from tests.notifications.support import SECRET, example, revised
from tests.postgres.instances import CRASH_SITE, eventually, instance, seed
from tests.standins.connector import TEAMS_THREAD_LIMITS, ConnectorStandIn, incident_of

SIGNER = WebhookVerifier.from_secret(SECRET)
INCIDENTS = [str(3_100_000 + i) for i in range(50)]
REVISED = set(INCIDENTS[:25])
TENANT_PER_SECOND = 50


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


def the_thousand() -> list[list[tuple[dict[str, Any], str]]]:
    """Per incident, in order: (body, webhook id) pairs; 1,000 in all."""
    plans: list[list[tuple[dict[str, Any], str]]] = []
    for incident in INCIDENTS:
        plan = [(example(1, incident), f"msg_{incident}_1")]
        if incident in REVISED:
            plan.append((revised(2, incident), f"msg_{incident}_2"))
        plans.append(plan)
    # The experts' retries, after the originals: the same webhook id (a duplicate), or a new
    # id for a revision already accepted (ignored), until there are 1,000 requests.
    retries = itertools.cycle(
        [(body, wid) for plan in plans for body, wid in plan]
        + [(body, f"{wid}_again") for plan in plans for body, wid in plan]
    )
    total = sum(len(p) for p in plans)
    for n in range(1000 - total):
        body, wid = next(retries)
        plans[n % len(plans)].append((body, wid))
    return plans


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

            async def run(plan: list[tuple[dict[str, Any], str]]) -> None:
                for body, webhook_id in plan:
                    statuses.append(await send(http, bots[next(turn) % 2], body, webhook_id))

            await asyncio.gather(*(run(plan) for plan in the_thousand()))
        assert len(statuses) == 1000
        # 75 accepted, 75 retries with a new webhook id acknowledged as "ignored" (202), and
        # 850 repeats of a webhook id answered 200 "duplicate"; nothing refused or lost.
        assert (statuses.count(202), statuses.count(200)) == (150, 850)

        async def stalled() -> bool:
            return "STALLED after 20 connector calls" in a.log_text()

        await eventually(stalled, "instance a to stall mid-delivery", bots, 120)
        a.kill9()

        async def done() -> bool:
            with psycopg.connect(pg_url) as conn:
                row = conn.execute(
                    "SELECT count(*) FILTER (WHERE state = 'done'), count(*) "
                    "FROM notification_outbox"
                ).fetchone()
            return row == (75, 75)

        await eventually(done, "instance b to finish everything", [b, a], 240)
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

            async def arrived() -> bool:
                return connector.arrived == 1

            await eventually(arrived, "the post to reach the connector", [bot], 60)
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
