"""Retention: webhook receipts for 24 hours, finished outbox messages and events for
NOTIFY_RETENTION_DAYS, bounded incident documents; pruning runs from the worker's loop at most once
an hour, in batches. Everything on the injected clock: no test waits for time to pass."""

from __future__ import annotations

import asyncio
import copy
import sqlite3
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.config import Settings
from bot.errors import ConfigError
from bot.messaging import DeliveryError
from bot.notifications.channels import StoredChannelDirectory
from bot.notifications.compose import build_delivery_worker
from bot.notifications.delivery import WorkerOptions
from bot.notifications.ports import (
    Leased,
    Ledger,
    MessageKind,
    OutboxMessage,
    PruneTarget,
    UnitOfWork,
)
from bot.notifications.ratelimit import TeamsRateLimiter
from bot.notifications.retention import (
    INCIDENT_LIST_KEEP,
    RECEIPT_RETENTION_SECONDS,
    Pruner,
    PruneReport,
    RetentionPolicy,
    bound_incident,
)
from bot.notifications.service import incident_key
from bot.notifications.signing import TOLERANCE_SECONDS
from bot.notifications.worker import DeliveryWorker
from bot.storage.memory_ledger import MemoryLedger
from bot.storage.sqlite import SqliteStore
from bot.storage.sqlite_ledger import _PRUNE, SqliteLedger
from cards.incident_views import ACKNOWLEDGE, ACTION_COMPLETE
from tests.notifications.conftest import World
from tests.notifications.support import (
    ADELE,
    MEGAN,
    TENANT,
    FakeClock,
    example,
    revised,
    seed_settings,
    settings_record,
)

DAY = 86_400.0
HOUR = 3600.0
KEY = incident_key(TENANT, "2972395")


async def prune(world: World, *, days: int | None = None) -> PruneReport:
    """One pruning pass, as the worker's loop runs it, with the world's retention setting."""
    policy = RetentionPolicy.of_days(days or world.settings.notify_retention_days)
    return await Pruner(world.service.ledger, policy, world.clock).run()


def calls(world: World) -> list[str]:
    return [s.kind for s in world.messenger.sent]


# ---- the policy ---------------------------------------------------------------------------------


def test_receipts_outlive_the_signature_window_by_a_wide_margin() -> None:
    assert RECEIPT_RETENTION_SECONDS == 24 * HOUR
    assert RECEIPT_RETENTION_SECONDS >= 100 * TOLERANCE_SECONDS


def test_retention_days_default_to_90_and_are_validated() -> None:
    assert Settings.from_env({}).notify_retention_days == 90
    assert Settings.from_env({"NOTIFY_RETENTION_DAYS": "1"}).notify_retention_days == 1
    assert Settings.from_env({"NOTIFY_RETENTION_DAYS": "3650"}).notify_retention_days == 3650
    for bad in ("0", "3651", "-5", "ninety", "1.5"):
        with pytest.raises(ConfigError, match="NOTIFY_RETENTION_DAYS"):
            Settings.from_env({"NOTIFY_RETENTION_DAYS": bad})
    assert RetentionPolicy.of_days(7).finished_seconds == 7 * DAY


# ---- receipts -----------------------------------------------------------------------------------


async def test_receipts_are_kept_a_day_and_a_resent_old_id_is_still_not_delivered_twice(
    world: World,
) -> None:
    assert (await world.accept(example(), "msg_1")).outcome == "accepted"
    await world.drain()
    await world.clock.sleep(23 * HOUR)
    assert (await prune(world)).receipts == 0
    assert (await world.accept(example(), "msg_1")).outcome == "duplicate"
    await world.clock.sleep(2 * HOUR)
    assert (await prune(world)).receipts == 1
    assert not await world.service.ledger.has_receipt("msg_1")
    # The experts re-sign the same webhook id with a fresh timestamp: the receipt is gone, but
    # the incident's latest revision recognises it, records it and delivers nothing.
    again = await world.accept(example(), "msg_1")
    assert again.outcome == "ignored" and "already accepted" in again.reason
    await world.drain()
    assert calls(world) == ["post"]
    history = (await world.doc())["history"]
    assert [(h["webhookId"], h["outcome"]) for h in history] == [
        ("msg_1", "accepted"),
        ("msg_1", "ignored"),
    ]


# ---- finished outbox messages, and exactly once after pruning -----------------------------------


async def test_after_pruning_an_old_revision_is_still_ignored_and_nothing_is_posted_twice(
    world: World,
) -> None:
    for revision in (1, 2):
        assert (await world.accept(revised(revision), f"msg_{revision}")).outcome == "accepted"
        await world.drain()
    assert calls(world) == ["post", "update", "reply"]
    post = world.messenger.of_kind("post")[0]
    await world.clock.sleep(91 * DAY)
    report = await prune(world)
    assert (report.messages, report.receipts) == (2, 2)
    assert await world.service.ledger.messages(KEY) == []
    state = await world.service.delivery_state("2972395")
    assert state is not None and state["outbox"] == []
    assert state["shownRevision"] == 2 and state["post"]["activityId"] == post.activity_id
    assert {r: d["state"] for r, d in state["deliveries"].items()} == {
        "1": "posted",
        "2": "updated",
    }
    # Late duplicates, under new ids and under the pruned ones: recorded, ignored, not sent.
    for revision, webhook_id in ((2, "msg_late_2"), (1, "msg_late_1"), (2, "msg_2"), (1, "msg_1")):
        assert (await world.accept(revised(revision), webhook_id)).outcome == "ignored"
    await world.drain()
    assert calls(world) == ["post", "update", "reply"]
    assert (await world.service.ledger.outbox_stats()).open == 0
    # The next revision still updates the same post, with a reply in its thread.
    assert (await world.accept(revised(3), "msg_3")).outcome == "accepted"
    await world.drain()
    assert calls(world) == ["post", "update", "reply", "update", "reply"]
    assert world.messenger.of_kind("update")[-1].activity_id == post.activity_id


async def test_finished_messages_are_kept_for_the_retention_period(world: World) -> None:
    await world.accept(example())
    await world.drain()
    await world.clock.sleep(6 * DAY)
    assert (await prune(world, days=7)).messages == 0
    assert len(await world.service.ledger.messages(KEY)) == 1
    await world.clock.sleep(DAY + 1)
    assert (await prune(world, days=7)).messages == 1
    assert await world.service.ledger.messages(KEY) == []


async def test_an_open_message_is_never_pruned_and_is_delivered_once_later(world: World) -> None:
    world.messenger.failures = [DeliveryError("unavailable", status=503, retry_after=HOUR)]
    await world.accept(example())
    await world.run_once()
    (waiting,) = await world.service.ledger.messages(KEY)
    assert waiting.state == "pending" and waiting.attempts == 1
    await world.clock.sleep(400 * DAY)
    assert (await prune(world)).messages == 0
    assert (await world.service.ledger.outbox_stats()).open == 1
    await world.drain()
    assert calls(world) == ["post"]


async def test_an_emailed_dead_letter_is_pruned(world: World) -> None:
    world.messenger.failures = [DeliveryError("bad request", status=400, retry_after=None)]
    await world.accept(example())
    await world.drain()
    state = await world.service.delivery_state("2972395")
    assert state is not None and len(state["deadLetters"]) == 1
    assert state["deliveries"]["1"]["emailedTo"] == ["secops@contoso.com"]
    await world.clock.sleep(91 * DAY)
    assert (await prune(world)).messages == 1
    state = await world.service.delivery_state("2972395")
    assert state is not None and state["deadLetters"] == []
    # The incident's own record of it stays.
    assert state["deliveries"]["1"]["state"] == "deadLettered"


async def test_a_dead_letter_that_reached_no_one_is_kept(world: World) -> None:
    await seed_settings(world.store, settings_record(teams=False, contacts=False))
    await world.accept(example())
    await world.drain()
    await world.clock.sleep(3650 * DAY)
    assert (await prune(world)).messages == 0
    state = await world.service.delivery_state("2972395")
    assert state is not None
    (dead,) = state["deadLetters"]
    assert "no incident notification contacts" in dead["lastError"]


# ---- events -------------------------------------------------------------------------------------


async def test_events_are_pruned_and_cursors_keep_growing(world: World) -> None:
    await world.accept(example())
    await world.drain()
    message_id = world.messenger.of_kind("post")[0].activity_id
    await world.act(
        ACTION_COMPLETE,
        {"incidentId": "2972395", "actionId": "a2", "revision": 1},
        who=ADELE,
        message_id=message_id,
    )
    page = await world.service.events(0, 10)
    (old,) = page["events"]
    await world.clock.sleep(89 * DAY)
    assert (await prune(world)).events == 0
    await world.clock.sleep(2 * DAY)
    assert (await prune(world)).events == 1
    # A client with the old cursor, or none, gets what remains: nothing yet.
    assert await world.service.events(0, 10) == {"events": [], "next": 0}
    assert await world.service.events(old["cursor"], 10) == {"events": [], "next": old["cursor"]}
    await world.act(ACKNOWLEDGE, {"incidentId": "2972395"}, who=MEGAN, message_id=message_id)
    (new,) = (await world.service.events(old["cursor"], 10))["events"]
    assert new["type"] == "incident.acknowledged" and new["cursor"] > old["cursor"]
    # What the members did is still on the incident, and on its card.
    doc = await world.doc()
    assert doc["responses"]["a2"]["by"]["name"] == "Adele Vance"


# ---- incident documents: bounded lists ----------------------------------------------------------


def _answer(at: str) -> dict[str, Any]:
    return {"state": "completed", "by": {"id": "u", "name": "N"}, "at": at, "revision": 1}


def test_bound_incident_keeps_the_latest_entries_of_each_list() -> None:
    shown = copy.deepcopy(example())
    shown["managedResponse"]["pendingActions"][0]["id"] = "shown-1"
    latest = copy.deepcopy(example(9))
    latest["managedResponse"]["pendingActions"][0]["id"] = "latest-1"
    doc: dict[str, Any] = {
        "latest": {"revision": 9, "notification": latest},
        "shown": {"revision": 1, "notification": shown},
        "history": [{"revision": i} for i in range(1, 301)],
        "lostPosts": [{"activityId": f"m{i}"} for i in range(250)],
        "deliveries": {str(r): {"state": "updated"} for r in range(300, 0, -1)},
        # The two answers still on cards are the oldest: they stay anyway.
        "responses": {
            "shown-1": _answer("2026-01-01T00:00:00Z"),
            "latest-1": _answer("2026-01-01T00:00:01Z"),
            **{f"x{i:03}": _answer(f"2026-02-01T00:{i // 60:02}:{i % 60:02}Z") for i in range(300)},
        },
    }
    bound_incident(doc)
    keep = INCIDENT_LIST_KEEP
    assert keep == 200
    assert [h["revision"] for h in doc["history"]] == list(range(101, 301))
    assert doc["lostPosts"][0] == {"activityId": "m50"} and len(doc["lostPosts"]) == keep
    assert list(doc["deliveries"]) == [str(r) for r in range(101, 301)]
    assert len(doc["responses"]) == keep
    assert {"shown-1", "latest-1"} <= set(doc["responses"])
    assert "x299" in doc["responses"] and "x101" not in doc["responses"]
    assert "x102" in doc["responses"]
    # Short lists are left alone.
    small = {"history": [1], "deliveries": {"1": {}}, "responses": {"a": {}}, "lostPosts": [None]}
    assert bound_incident(copy.deepcopy(small)) == small


async def test_a_long_lived_incident_keeps_its_latest_200_deliveries_and_revisions(
    world: World,
) -> None:
    total = INCIDENT_LIST_KEEP + 5
    for revision in range(1, total + 1):
        await world.accept(example(revision))
    await world.accept(example(1))  # one more history entry: ignored
    await world.drain()
    doc = await world.doc()
    assert len(doc["deliveries"]) == INCIDENT_LIST_KEEP
    assert min(int(r) for r in doc["deliveries"]) == total - INCIDENT_LIST_KEEP + 1
    assert len(doc["history"]) == INCIDENT_LIST_KEEP
    assert doc["history"][-1]["outcome"] == "ignored"
    assert doc["shown"]["revision"] == total and len(world.messenger.of_kind("post")) == 1


# ---- the pruner: at most once an hour, in batches -----------------------------------------------


class CountingLedger:
    """A ledger that counts what the pruner asks of it; ``fail`` makes prune raise."""

    def __init__(self, inner: Ledger, *, fail: bool = False) -> None:
        self._inner = inner
        self.prunes: list[tuple[PruneTarget, int, int]] = []
        self.vacuums = 0
        self.fail = fail

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def prune(self, target: PruneTarget, before: float, limit: int) -> int:
        if self.fail:
            raise sqlite3.OperationalError("database is locked")
        deleted = await self._inner.prune(target, before, limit)
        self.prunes.append((target, limit, deleted))
        return deleted

    async def vacuum(self, pages: int) -> int:
        self.vacuums += 1
        return await self._inner.vacuum(pages)


async def test_the_pruner_runs_at_most_once_an_hour() -> None:
    clock = FakeClock()
    ledger = CountingLedger(MemoryLedger(clock))
    pruner = Pruner(ledger, RetentionPolicy(), clock)  # type: ignore[arg-type]
    assert pruner.due()
    await pruner.run()
    await clock.sleep(59 * 60)
    assert not pruner.due()
    await clock.sleep(60)
    assert pruner.due()
    await pruner.run()
    assert len(ledger.prunes) == 6 and ledger.vacuums == 2
    clock.now -= 2 * HOUR  # the wall clock was set back: don't wait for it to catch up
    assert pruner.due()


async def test_the_pruner_deletes_in_batches_of_500(tmp_path: Path) -> None:
    clock = FakeClock()
    store = SqliteStore(tmp_path / "bot.sqlite3")
    inner = SqliteLedger(store, clock)
    for i in range(0, 1234, 100):
        await asyncio.gather(
            *(inner.commit(UnitOfWork(receipt=f"w{j}")) for j in range(i, min(i + 100, 1234)))
        )
    await clock.sleep(2 * DAY)
    ledger = CountingLedger(inner)
    report = await Pruner(ledger, RetentionPolicy(), clock).run()  # type: ignore[arg-type]
    assert report.receipts == 1234
    assert [p for p in ledger.prunes if p[0] == "receipts"] == [
        ("receipts", 500, 500),
        ("receipts", 500, 500),
        ("receipts", 500, 234),
    ]
    assert all(limit == 500 for _, limit, _ in ledger.prunes)
    assert report.transactions == len(ledger.prunes) + ledger.vacuums
    await inner.close()
    await store.close()


async def test_a_failed_pruning_is_logged_and_waits_for_the_next_hour(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock()
    ledger = CountingLedger(MemoryLedger(clock), fail=True)
    pruner = Pruner(ledger, RetentionPolicy(), clock)  # type: ignore[arg-type]
    assert (await pruner.run()).rows == 0
    assert "pruning the notifications ledger failed" in caplog.text
    assert not pruner.due()


async def test_the_worker_loop_prunes_at_most_once_an_hour(world: World) -> None:
    ledger = CountingLedger(world.service.ledger)
    worker = DeliveryWorker(
        ledger,  # type: ignore[arg-type]
        world.messenger,
        StoredChannelDirectory(world.store),
        world.onboarding,
        world.mailer,
        TeamsRateLimiter(clock=world.clock, sleep=world.clock.sleep),
        options=WorkerOptions(poll_seconds=0.01),
        clock=world.clock,
        sleep=world.clock.sleep,
    )

    async def passes() -> int:
        return sum(1 for target, _, _ in ledger.prunes if target == "events")

    task = asyncio.create_task(worker.run())
    try:
        await worker.wait_idle()  # the first pass ran, beside an empty outbox
        assert await passes() == 1
        await world.clock.sleep(30 * 60)
        worker.wake()
        await worker.wait_idle()  # the loop looked again, half an hour after the pass
        assert await passes() == 1
        await world.clock.sleep(31 * 60)
        worker.wake()
        await worker.wait_idle()
        assert await passes() == 2
        # Delivery goes on beside it.
        await world.accept(example())
        worker.wake()  # this worker is not the one the service wakes on enqueue
        await worker.wait_idle()
        assert await _count(world) >= 1
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert await passes() == 2


async def _count(world: World) -> int:
    return len(world.messenger.sent)


async def test_the_running_worker_applies_notify_retention_days(world: World) -> None:
    await world.accept(example(), "msg_1")
    await world.drain()
    await world.clock.sleep(8 * DAY)
    settings = Settings(data_dir=world.settings.data_dir, notify_retention_days=7)
    worker = build_delivery_worker(
        settings,
        world.service,
        world.store,
        world.onboarding,
        world.messenger,
        mailer=world.mailer,
        clock=world.clock,
        monotonic=world.clock,
        sleep=world.clock.sleep,
    )
    task = asyncio.create_task(worker.run())

    async def pruned() -> bool:
        return not await world.service.ledger.messages(KEY)

    try:
        await worker.wait_idle()
        assert await pruned()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert not await world.service.ledger.has_receipt("msg_1")
    assert (await world.doc())["post"] is not None


# ---- SQLite: indexes, migration, incremental vacuum ---------------------------------------------


def test_every_prune_statement_uses_an_index(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "bot.sqlite3")
    SqliteLedger(store)
    conn = sqlite3.connect(tmp_path / "bot.sqlite3")
    for target, statement in _PRUNE.items():
        plan = [r[3] for r in conn.execute(f"EXPLAIN QUERY PLAN {statement}", (1.0, 500))]
        assert not [p for p in plan if p.startswith("SCAN")], (target, plan)
    conn.close()


async def test_an_older_database_gets_the_new_column(tmp_path: Path) -> None:
    path = tmp_path / "bot.sqlite3"
    conn = sqlite3.connect(path)
    conn.executescript(
        """
        CREATE TABLE notification_outbox (
            seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE,
            partition TEXT NOT NULL, kind TEXT NOT NULL, revision INTEGER NOT NULL DEFAULT 0,
            payload TEXT NOT NULL, state TEXT NOT NULL DEFAULT 'pending',
            attempts INTEGER NOT NULL DEFAULT 0, enqueued_at REAL NOT NULL,
            available_at REAL NOT NULL, lease_until REAL, finished_at REAL,
            last_error TEXT NOT NULL DEFAULT '');
        INSERT INTO notification_outbox(id, partition, kind, payload, state, enqueued_at,
            available_at, finished_at, last_error)
        VALUES ('old-dead', 'p', 'notification', '{}', 'dead', 1, 1, 1, 'gone'),
               ('old-done', 'p', 'notification', '{}', 'done', 1, 1, 1, '');
        """
    )
    conn.close()
    clock = FakeClock()
    store = SqliteStore(path)
    ledger = SqliteLedger(store, clock)
    # A dead letter from before the column is taken as not emailed: kept.
    assert await ledger.prune("messages", clock.now, 500) == 1
    assert [(m.id, m.state) for m in await ledger.messages("p")] == [("old-dead", "dead")]
    await ledger.close()
    await store.close()


async def test_incremental_vacuum_gives_pages_back_when_the_database_allows_it(
    tmp_path: Path,
) -> None:
    path = tmp_path / "bot.sqlite3"
    clock = FakeClock()
    store = SqliteStore(path)
    ledger = SqliteLedger(store, clock)
    # The operator's one-off switch (docs/notifications.md), done while the bot is stopped.
    await ledger.close()
    await store.close()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA auto_vacuum=INCREMENTAL")
    conn.execute("VACUUM")
    conn.close()
    store = SqliteStore(path)
    ledger = SqliteLedger(store, clock)
    for _ in range(10):
        await ledger.commit(UnitOfWork(events=tuple({"pad": "x" * 4000} for _ in range(50))))
    await clock.sleep(100 * DAY)
    report = await Pruner(ledger, RetentionPolicy(vacuum_pages=100), clock).run()
    assert report.events == 500 and report.pages > 100
    assert report.transactions >= 3 + (report.pages // 100) + 1
    await ledger.close()
    await store.close()
    conn = sqlite3.connect(path)
    free = conn.execute("PRAGMA freelist_count").fetchone()[0]
    conn.close()
    assert free == 0


# ---- the property: an open message is never deleted ---------------------------------------------

Step = tuple[str, int, int]
steps = st.lists(
    st.tuples(
        st.sampled_from(
            ["enqueue", "lease", "done", "dead", "dead-emailed", "retry", "wait", "prune"]
        ),
        st.integers(0, 3),
        st.integers(-200, 200),
    ),
    max_size=40,
)


def _make(kind: str, tmp: str, clock: FakeClock) -> tuple[Ledger, SqliteStore | None]:
    if kind == "memory":
        return MemoryLedger(clock), None
    store = SqliteStore(Path(tmp) / "bot.sqlite3")
    return SqliteLedger(store, clock), store


@pytest.mark.parametrize("kind", ["sqlite", "memory"])
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(program=steps)
async def test_pruning_never_deletes_an_open_message(kind: str, program: list[Step]) -> None:
    clock = FakeClock()
    with tempfile.TemporaryDirectory() as tmp:
        ledger, store = _make(kind, tmp, clock)
        try:
            await _run_program(ledger, clock, program)
        finally:
            await ledger.close()
            if store is not None:
                await store.close()


async def _run_program(ledger: Ledger, clock: FakeClock, program: list[Step]) -> None:
    opened: set[str] = set()  # enqueued and not finished
    unsent: set[str] = set()  # dead, not emailed: kept as well
    leased: dict[str, Leased] = {}
    n = 0
    for op, partition, amount in program:
        p = f"p{partition}"
        if op == "enqueue":
            n += 1
            mid = f"m{n}"
            kind: MessageKind = "refresh" if amount % 5 == 0 else "notification"
            await ledger.commit(UnitOfWork(enqueue=(OutboxMessage(mid, p, kind, {}, n),)))
            opened.add(mid)
        elif op == "lease":
            for item in await ledger.lease(3, 60):
                leased[item.message.id] = item
        elif op in ("done", "dead", "dead-emailed") and leased:
            mid = sorted(leased)[abs(amount) % len(leased)]
            item = leased.pop(mid)
            if op == "done":
                await ledger.commit(UnitOfWork(complete=item))
            else:
                emailed = op == "dead-emailed"
                await ledger.commit(
                    UnitOfWork(complete=item, dead_letter_error="x", dead_letter_emailed=emailed)
                )
                if not emailed and item.message.kind == "notification":
                    unsent.add(mid)
            opened.discard(mid)
        elif op == "retry" and leased:
            mid = sorted(leased)[abs(amount) % len(leased)]
            await ledger.retry(leased.pop(mid), delay=abs(amount), error="HTTP 429")
        elif op == "wait":
            await clock.sleep(abs(amount) * DAY)
        elif op == "prune":
            # Any cutoff, even one in the future, and any batch size.
            await ledger.prune("messages", clock.now + amount * DAY, abs(amount) % 7 + 1)
        present = {s.id: s.state for i in range(4) for s in await ledger.messages(f"p{i}")}
        assert opened <= set(present), opened - set(present)
        assert all(present[m] in ("pending", "leased") for m in opened)
        assert unsent <= set(present)
        assert (await ledger.outbox_stats()).open == len(opened)
