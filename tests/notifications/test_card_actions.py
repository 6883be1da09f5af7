"""The incident card's Universal Actions: answers, acknowledgement, refusals that change nothing."""

from __future__ import annotations

from typing import Any

from cards.incident_views import ACKNOWLEDGE, ACTION_COMPLETE, ACTION_SKIP
from tests.notifications.conftest import World
from tests.notifications.support import ADELE, MEGAN, example, revised
from tests.support import texts


async def posted(world: World, incident_id: str = "2972395") -> tuple[str, dict[str, Any]]:
    await world.accept(example(incident_id=incident_id))
    await world.worker.drain()
    post = next(
        s for s in world.messenger.of_kind("post") if s.card and incident_id in texts(s.card)
    )
    assert post.card is not None
    return post.activity_id, post.card


async def state(world: World, incident_id: str = "2972395") -> tuple[Any, ...]:
    doc = await world.doc(incident_id)
    events = await world.service.ledger.events_after(0, 100)
    return doc["responses"], doc["acknowledged"], len(events)


async def test_completing_a_pending_action_is_stored_shown_and_told_to_the_experts(
    world: World,
) -> None:
    message_id, _ = await posted(world)
    card = await world.act(
        ACTION_COMPLETE,
        {"incidentId": "2972395", "actionId": "a2", "revision": 1},
        who=ADELE,
        message_id=message_id,
    )
    assert "Completed by Adele Vance" in texts(card)
    assert "Thanks, Adele Vance" in texts(card)
    doc = await world.doc()
    assert doc["responses"]["a2"]["by"]["name"] == "Adele Vance"
    assert doc["responses"]["a2"]["state"] == "completed"
    page = await world.service.events(0, 10)
    (event,) = page["events"]
    assert event["type"] == "pendingAction.completed" and event["actionId"] == "a2"
    assert event["by"]["name"] == "Adele Vance" and page["next"] == event["cursor"]
    assert (await world.service.events(page["next"], 10))["events"] == []
    # Everyone sees it: the card is updated in place, without the personal notice.
    await world.worker.drain()
    update = world.messenger.of_kind("update")[-1]
    assert update.activity_id == message_id and update.card is not None
    assert "Completed by Adele Vance" in texts(update.card)
    assert "Thanks" not in texts(update.card)


async def test_skipping_is_recorded_as_skipped(world: World) -> None:
    message_id, _ = await posted(world)
    card = await world.act(
        ACTION_SKIP, {"incidentId": "2972395", "actionId": "a2"}, who=ADELE, message_id=message_id
    )
    assert "Skipped by Adele Vance" in texts(card)
    (event,) = (await world.service.events(0, 10))["events"]
    assert event["type"] == "pendingAction.skipped"


async def test_acknowledge_shows_the_name_once(world: World) -> None:
    message_id, card = await posted(world)
    assert "Acknowledge" in [a.get("title") for a in card["actions"]]
    first = await world.act(
        ACKNOWLEDGE, {"incidentId": "2972395"}, who=MEGAN, message_id=message_id
    )
    assert "Acknowledged by Megan Bowen" in texts(first)
    assert "Acknowledge" not in [a.get("title") for a in first["actions"]]
    before = await state(world)
    second = await world.act(
        ACKNOWLEDGE, {"incidentId": "2972395"}, who=ADELE, message_id=message_id
    )
    assert "Already acknowledged by Megan Bowen" in texts(second)
    assert await state(world) == before


async def test_an_action_already_done_is_refused(world: World) -> None:
    message_id, _ = await posted(world)
    data = {"incidentId": "2972395", "actionId": "a2"}
    await world.act(ACTION_COMPLETE, data, who=ADELE, message_id=message_id)
    before = await state(world)
    again = await world.act(ACTION_SKIP, data, who=MEGAN, message_id=message_id)
    assert "already marked as completed by Adele Vance" in texts(again)
    assert "Nothing was changed" in texts(again)
    assert await state(world) == before


async def test_an_action_for_another_incident_is_refused(world: World) -> None:
    first, _ = await posted(world, "1001")
    await posted(world, "1002")
    before = (await state(world, "1001"), await state(world, "1002"))
    card = await world.act(
        ACTION_COMPLETE, {"incidentId": "1002", "actionId": "a2"}, who=ADELE, message_id=first
    )
    assert "doesn't belong to the incident on this card" in texts(card)
    assert "Incident 1001" in texts(card)  # the card clicked on stays what it was
    assert (await state(world, "1001"), await state(world, "1002")) == before


async def test_an_action_no_longer_pending_is_refused(world: World) -> None:
    message_id, _ = await posted(world)
    later = revised(2)
    later["managedResponse"]["pendingActions"] = []
    await world.accept(later)
    before = await state(world)
    card = await world.act(
        ACTION_COMPLETE,
        {"incidentId": "2972395", "actionId": "a2"},
        who=ADELE,
        message_id=message_id,
    )
    assert "no longer pending" in texts(card)
    assert await state(world) == before


async def test_forged_and_malformed_actions_change_nothing(world: World) -> None:
    message_id, _ = await posted(world)
    before = await state(world)
    cases: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
        (ACTION_COMPLETE, {"incidentId": "2972395", "actionId": "nope"}, {}),
        (ACTION_COMPLETE, {"incidentId": "../../etc", "actionId": "a2"}, {}),
        (ACTION_COMPLETE, {"incidentId": 5, "actionId": ["a2"]}, {}),
        ("incident.delete", {"incidentId": "2972395"}, {}),
        (ACTION_COMPLETE, {"incidentId": "2972395", "actionId": "a2"}, {"tenant": "other"}),
        (ACTION_COMPLETE, {"incidentId": "2972395", "actionId": "a2"}, {"message_id": "m999"}),
        (ACKNOWLEDGE, {"incidentId": "2972395"}, {"who": ("", "Nobody")}),
    ]
    for verb, data, overrides in cases:
        card = await world.act(
            verb,
            data,
            who=overrides.get("who", ADELE),
            message_id=overrides.get("message_id", message_id),
            tenant=overrides.get("tenant", "4f1c3a2e-7d5b-4e8a-9c21-6b0d8e3f5a17"),
        )
        assert "changed" in texts(card) or "Only members" in texts(card), (verb, data, texts(card))
    assert await state(world) == before
