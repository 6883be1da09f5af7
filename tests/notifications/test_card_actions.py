"""The incident card's Universal Actions: answers, acknowledgement, refusals that change nothing."""

from __future__ import annotations

from typing import Any

from cards.incident_views import ACKNOWLEDGE, ACTION_COMPLETE, ACTION_SKIP
from tests.notifications.conftest import World
from tests.notifications.support import ADELE, MEGAN, example, revised
from tests.support import texts


async def posted(world: World, incident_id: str = "2972395") -> tuple[str, dict[str, Any]]:
    await world.accept(example(incident_id=incident_id))
    await world.drain()
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
    await world.drain()
    update = world.messenger.of_kind("update")[-1]
    assert update.activity_id == message_id and update.card is not None
    assert "Completed by Adele Vance" in texts(update.card)
    assert "Thanks" not in texts(update.card)


async def test_skipping_is_recorded_as_skipped(world: World) -> None:
    message_id, _ = await posted(world)
    card = await world.act(
        ACTION_SKIP,
        {"incidentId": "2972395", "actionId": "a2", "revision": 1},
        who=ADELE,
        message_id=message_id,
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
    data = {"incidentId": "2972395", "actionId": "a2", "revision": 1}
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
        ACTION_COMPLETE,
        {"incidentId": "1002", "actionId": "a2", "revision": 1},
        who=ADELE,
        message_id=first,
    )
    assert "doesn't belong to the incident on this card" in texts(card)
    assert "Incident 1001" in texts(card)  # the card clicked on stays what it was
    assert (await state(world, "1001"), await state(world, "1002")) == before


async def test_an_action_no_longer_pending_is_refused(world: World) -> None:
    message_id, _ = await posted(world)
    later = revised(2)
    later["managedResponse"]["pendingActions"] = []
    await world.accept(later)  # accepted, not yet shown: the card still shows revision 1
    before = await state(world)
    card = await world.act(
        ACTION_COMPLETE,
        {"incidentId": "2972395", "actionId": "a2", "revision": 1},
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


# ---- stale cards: the revision the click was made on, and what the action id names now --------


async def snapshot(world: World) -> tuple[Any, ...]:
    doc = await world.doc()
    return (
        doc["responses"],
        doc["acknowledged"],
        len(await world.service.ledger.events_after(0, 100)),
        (await world.service.ledger.outbox_stats()).open,
    )


def repurposed(revision: int) -> dict[str, Any]:
    """A later revision whose pending action "a2" is now another action, on another target."""
    body = revised(revision)
    body["managedResponse"]["pendingActions"] = [
        {
            "id": "a2",
            "type": "isolateDevice",
            "target": {"kind": "device", "id": "d-043", "name": "fin-ws-043.contoso.com"},
        }
    ]
    return body


async def test_a_click_on_the_older_card_is_refused_with_the_current_card(world: World) -> None:
    message_id, _ = await posted(world)
    await world.accept(repurposed(2))
    await world.drain()  # the card in the channel now shows revision 2
    before = await snapshot(world)
    card = await world.act(
        ACTION_COMPLETE,
        {"incidentId": "2972395", "actionId": "a2", "revision": 1},
        who=ADELE,
        message_id=message_id,
    )
    text = texts(card)
    assert "out of date" in text and "Nothing was changed" in text
    assert "Revision 2" in text and "Isolate device" in text  # the current card
    assert "Force password reset" not in text
    assert await snapshot(world) == before


async def test_a_click_on_the_older_card_is_refused_even_if_the_action_is_the_same(
    world: World,
) -> None:
    message_id, _ = await posted(world)
    await world.accept(revised(2))  # a2 unchanged
    await world.drain()
    before = await snapshot(world)
    for stale in ({"revision": 1}, {}, {"revision": "2"}, {"revision": 3}):
        card = await world.act(
            ACTION_SKIP,
            {"incidentId": "2972395", "actionId": "a2", **stale},
            who=ADELE,
            message_id=message_id,
        )
        assert "out of date" in texts(card) and "Revision 2" in texts(card), stale
    assert await snapshot(world) == before
    fresh = await world.act(
        ACTION_SKIP,
        {"incidentId": "2972395", "actionId": "a2", "revision": 2},
        who=ADELE,
        message_id=message_id,
    )
    assert "Skipped by Adele Vance" in texts(fresh)


async def test_an_action_id_reused_for_another_action_is_refused(world: World) -> None:
    """Revision 2 is accepted but not yet shown: the card still shows revision 1, where "a2" is
    a password reset; in revision 2 "a2" isolates a device. The click is not taken for either."""
    message_id, _ = await posted(world)
    await world.accept(repurposed(2))
    before = await snapshot(world)
    card = await world.act(
        ACTION_COMPLETE,
        {"incidentId": "2972395", "actionId": "a2", "revision": 1},
        who=ADELE,
        message_id=message_id,
    )
    text = texts(card)
    assert "changed this action" in text and "Nothing was changed" in text
    assert "Isolate device on fin-ws-043.contoso.com" in text
    assert await snapshot(world) == before
    assert (await world.doc())["responses"] == {}


async def test_an_action_not_on_the_card_clicked_is_refused(world: World) -> None:
    message_id, _ = await posted(world)
    before = await snapshot(world)
    card = await world.act(
        ACTION_COMPLETE,
        {"incidentId": "2972395", "actionId": "a1", "revision": 1},  # a completed action
        who=ADELE,
        message_id=message_id,
    )
    assert "Nothing was changed" in texts(card)
    assert await snapshot(world) == before


async def test_a_card_action_naming_no_id_teams_gives_a_post_is_refused_and_changes_nothing(
    world: World,
) -> None:
    """The activity id comes from the request: control characters, a ``/`` (another key's path)
    or a long id name no post, and the action is refused like a card that isn't this incident's
    (it used to fail the turn on the store's key check)."""
    await posted(world)
    before = await state(world)
    for message_id in ("\n\x01", "1/../../settings", "9" * 201, "a b"):
        card = await world.act(
            ACKNOWLEDGE, {"incidentId": "2972395"}, who=ADELE, message_id=message_id
        )
        assert "doesn't belong to the incident on this card" in texts(card)
    assert await state(world) == before
