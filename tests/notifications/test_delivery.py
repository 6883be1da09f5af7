"""Accepting revisions and delivering them: one post, updates in place, replies, email."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from bot.errors import ValidationError
from bot.messaging import DeliveryError
from bot.notifications.compose import build_delivery_worker
from bot.notifications.service import incident_key
from tests.notifications.conftest import World
from tests.notifications.support import (
    CHANNEL_ID,
    TENANT,
    example,
    remove_channel,
    revised,
    seed_settings,
    settings_record,
)
from tests.support import texts


async def test_three_revisions_make_one_post_updated_twice_with_two_replies(world: World) -> None:
    for revision in (1, 2, 3):
        assert (await world.accept(revised(revision))).outcome == "accepted"
        await world.drain()
    m = world.messenger
    assert [s.kind for s in m.sent] == ["post", "update", "reply", "update", "reply"]
    post = m.of_kind("post")[0]
    assert post.conversation_id.startswith(CHANNEL_ID)
    assert {u.activity_id for u in m.of_kind("update")} == {post.activity_id}
    assert all(r.conversation_id == post.conversation_id for r in m.of_kind("reply"))
    replies = [r.text for r in m.of_kind("reply")]
    assert "Update 2" in replies[0] and "evil2.exe" in replies[0]
    assert "Update 3" in replies[1] and "Resolved" in replies[1]
    last = m.of_kind("update")[-1].card
    assert last is not None and "Resolved" in texts(last) and "Revision 3" in texts(last)
    doc = await world.doc()
    assert doc["post"]["revision"] == 1 and doc["shown"]["revision"] == 3
    assert [doc["deliveries"][r]["state"] for r in ("1", "2", "3")] == [
        "posted",
        "updated",
        "updated",
    ]


async def test_revisions_queued_together_are_delivered_in_order(world: World) -> None:
    for revision in (1, 2, 3):
        await world.accept(revised(revision))
    await world.drain()
    assert [s.kind for s in world.messenger.sent] == ["post", "update", "reply", "update", "reply"]


async def test_out_of_order_and_repeated_revisions_are_recorded_and_ignored(world: World) -> None:
    await world.accept(revised(3))
    again = await world.accept(revised(3))
    older = await world.accept(revised(2))
    assert again.outcome == "ignored" and "already accepted" in again.reason
    assert older.outcome == "ignored" and "not above revision 3" in older.reason
    await world.drain()
    assert [s.kind for s in world.messenger.sent] == ["post"]
    history = (await world.doc())["history"]
    assert [(h["revision"], h["outcome"]) for h in history] == [
        (3, "accepted"),
        (3, "ignored"),
        (2, "ignored"),
    ]


async def test_a_repeated_webhook_id_stores_nothing_new(world: World) -> None:
    first = await world.accept(example(), "msg_same")
    before = await world.doc()
    second = await world.accept(revised(2), "msg_same")
    assert first.outcome == "accepted" and second.outcome == "duplicate"
    assert await world.doc() == before
    assert (await world.service.ledger.outbox_stats()).open == 1


async def test_refused_bodies_store_nothing(world: World) -> None:
    await seed_settings(world.store, settings_record(respond=False))
    with pytest.raises(ValidationError):
        await world.accept(example(), "msg_refused")
    assert await world.store.read(incident_key(TENANT, "2972395")) is None
    assert not await world.service.is_duplicate("msg_refused")
    with pytest.raises(ValidationError, match=r"incident\.tenantId"):
        await world.accept(example(tenantId="00000000-0000-0000-0000-000000000000"))


async def test_teams_off_goes_to_the_incident_contacts_by_email(world: World) -> None:
    await seed_settings(world.store, settings_record(teams=False))
    await world.accept(example())
    await world.drain()
    assert world.messenger.sent == []
    (mail,) = world.mailer.messages
    assert mail.to == ("secops@contoso.com",)  # incident contacts only, not service review
    assert "Teams notifications are off" in mail.text and "2972395" in mail.subject
    assert (await world.doc())["deliveries"]["1"]["state"] == "emailed"


async def test_no_channel_yet_goes_by_email(world: World) -> None:
    await remove_channel(world.store)
    await world.accept(example())
    await world.drain()
    assert world.messenger.sent == []
    assert "isn't ready yet" in world.mailer.messages[0].text


async def test_retries_honour_retry_after_then_deliver(world: World) -> None:
    world.messenger.failures = [
        DeliveryError("throttled", status=429, retry_after=42.0),
        DeliveryError("bad gateway", status=502, retry_after=None),
        DeliveryError("precondition", status=412, retry_after=None),
        DeliveryError("timeout", status=504, retry_after=None),
    ]
    start = world.clock.now
    await world.accept(example())
    await world.drain()
    assert [s.kind for s in world.messenger.sent] == ["post"]
    assert world.clock.now - start >= 42.0
    assert (await world.doc())["deliveries"]["1"]["state"] == "posted"


async def test_after_max_attempts_a_dead_letter_is_emailed_and_visible(world: World) -> None:
    world.messenger.failures = [
        DeliveryError("unavailable", status=503, retry_after=1.0) for _ in range(5)
    ]
    await world.accept(example())
    await world.drain()
    assert world.messenger.sent == []
    (mail,) = world.mailer.messages
    assert "couldn't post this update" in mail.text
    state = await world.service.delivery_state("2972395")
    assert state is not None
    assert state["deliveries"]["1"]["state"] == "deadLettered"
    assert state["deliveries"]["1"]["emailedTo"] == ["secops@contoso.com"]
    (dead,) = state["deadLetters"]
    assert dead["attempts"] == 5 and "HTTP 503" in dead["lastError"]


async def test_a_permanent_refusal_is_dead_lettered_at_once(world: World) -> None:
    world.messenger.failures = [DeliveryError("forbidden", status=403, retry_after=None)]
    await world.accept(example())
    await world.drain()
    assert world.messenger.calls == 1
    state = await world.service.delivery_state("2972395")
    assert state is not None and state["deadLetters"][0]["attempts"] == 1


async def test_a_later_revision_after_a_dead_letter_starts_the_post(world: World) -> None:
    world.messenger.failures = [DeliveryError("forbidden", status=403, retry_after=None)]
    await world.accept(revised(1))
    await world.drain()
    await world.accept(revised(2))
    await world.drain()
    assert [s.kind for s in world.messenger.sent] == ["post"]
    assert (await world.doc())["post"]["revision"] == 2


class Killed(BaseException):
    """Stands for kill -9: nothing after this point runs in that process."""


async def test_restart_after_the_post_was_recorded_does_not_post_again(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    ledger = world.service.ledger
    commit = ledger.commit

    async def killed_before_done(unit: Any) -> None:
        if unit.complete is not None:  # the post is recorded; marking it done comes next
            raise Killed
        await commit(unit)

    await world.accept(example())
    monkeypatch.setattr(ledger, "commit", killed_before_done)
    with pytest.raises(Killed):
        await world.run_once(world.new_worker())
    monkeypatch.setattr(ledger, "commit", commit)
    assert (await world.doc())["post"]["activityId"]
    assert (await world.service.ledger.outbox_stats()).open == 1

    restarted = world.new_worker()
    assert await restarted.recover() == 1
    await world.drain(restarted)
    assert [s.kind for s in world.messenger.sent] == ["post"]
    assert (await world.service.ledger.outbox_stats()).open == 0


async def test_restart_before_the_post_posts_exactly_once(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def killed_post(*args: object, **kwargs: object) -> Any:
        raise Killed

    await world.accept(example())
    original = world.messenger.post_to_channel
    monkeypatch.setattr(world.messenger, "post_to_channel", killed_post)
    with pytest.raises(Killed):
        await world.run_once(world.new_worker())
    monkeypatch.setattr(world.messenger, "post_to_channel", original)
    restarted = world.new_worker()
    await restarted.recover()
    await world.drain(restarted)
    assert [s.kind for s in world.messenger.sent] == ["post"]


async def test_restart_between_update_and_reply_sends_one_reply(world: World) -> None:
    await world.accept(revised(1))
    await world.drain()
    await world.accept(revised(2))
    original = world.messenger.send

    async def killed_send(*args: object, **kwargs: object) -> str:
        raise Killed

    world.messenger.send = killed_send  # type: ignore[method-assign]
    with pytest.raises(Killed):
        await world.run_once(world.new_worker())
    world.messenger.send = original  # type: ignore[method-assign]
    restarted = world.new_worker()
    await restarted.recover()
    await world.drain(restarted)
    assert [s.kind for s in world.messenger.sent] == ["post", "update", "reply"]
    doc = await world.doc()
    assert doc["deliveries"]["2"]["replyId"]


async def test_a_deleted_post_is_started_again(world: World) -> None:
    await world.accept(revised(1))
    await world.drain()
    world.messenger.failures = [DeliveryError("not found", status=404, retry_after=None)]
    await world.accept(revised(2))
    await world.drain()
    assert [s.kind for s in world.messenger.sent] == ["post", "post"]
    doc = await world.doc()
    assert doc["post"]["revision"] == 2 and len(doc["lostPosts"]) == 1


async def test_a_deleted_channel_is_repaired_and_meanwhile_email_is_used(world: World) -> None:
    reports: list[tuple[str, int | None]] = []

    async def repairing(tenant_id: str, status: int | None) -> bool:
        reports.append((tenant_id, status))
        await remove_channel(world.store)  # the saga runs again: no target until it's ready
        return True

    worker = build_delivery_worker(
        world.settings,
        world.service,
        world.store,
        world.onboarding,
        world.messenger,
        mailer=world.mailer,
        clock=world.clock,
        monotonic=world.clock,
        sleep=world.clock.sleep,
        on_channel_failure=repairing,
    )
    world.messenger.failures = [DeliveryError("forbidden", status=403, retry_after=None)]
    await world.accept(example())
    await world.drain(worker)
    assert reports == [(TENANT, 403)]
    (mail,) = world.mailer.messages
    assert "isn't ready yet" in mail.text
    assert (await world.doc())["deliveries"]["1"]["state"] == "emailed"


@pytest.mark.parametrize("status", [412, 429, 502, 504])
async def test_retry_after_is_honoured_whatever_the_retryable_status(
    world: World, status: int
) -> None:
    world.messenger.failures = [DeliveryError("retry later", status=status, retry_after=90.0)]
    start = world.clock.now
    await world.accept(example())
    await world.drain()
    assert [s.kind for s in world.messenger.sent] == ["post"] and world.messenger.calls == 2
    assert world.clock.now - start == pytest.approx(90.0, abs=0.01)


@pytest.mark.parametrize("status", [412, 502, 504])
async def test_without_retry_after_the_backoff_is_short(world: World, status: int) -> None:
    world.messenger.failures = [DeliveryError("retry later", status=status, retry_after=None)]
    start = world.clock.now
    await world.accept(example())
    await world.drain()
    assert [s.kind for s in world.messenger.sent] == ["post"]
    assert world.clock.now - start <= 1.0  # full jitter on a 1 s base: the first retry


async def test_concurrent_revisions_of_one_incident_are_all_applied_in_order(world: World) -> None:
    """Sixteen revisions arriving together: none runs out of retries (in one process they are
    applied one at a time, in order of arrival), and the last one is the incident's latest."""
    results = await asyncio.gather(*(world.accept(revised(r)) for r in range(1, 17)))
    assert [a.outcome for a in results] == ["accepted"] * 16
    doc = await world.doc()
    assert doc["latest"]["revision"] == 16
    assert [h["revision"] for h in doc["history"]][-16:] == list(range(1, 17))
