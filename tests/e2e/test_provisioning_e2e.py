"""Teams provisioning through the Agents Playground (local mode, demo tenant).

The admin submits the setup with Communicate on Teams on. The bot posts a progress card in the
admin's chat, updates it in place step by step, and waits at step 4 until the Playground's
team installs the bot; then it posts the welcome message in the Managed response channel and
the card ends with an Open Teams channel link.
"""

from __future__ import annotations

from typing import Any

import pytest

from bot.tenant.demo import load_demo_tenant
from tests.e2e.harness import Frame, PlaygroundClient, frame_cards, is_message
from tests.support import press_data, texts, walk

pytestmark = pytest.mark.e2e

PERSONAL = "a:1defender-experts-personal-chat"
ALEX = "user-id-0"
SECOPS = "6c1e0b7a-1001-4c3d-9e8f-2a1b0c9d8e01"
TEAM = load_demo_tenant()["team"]


def progress(frame: Frame, needle: str) -> bool:
    if frame.get("action") not in ("createMessage", "updateMessage"):
        return False
    if frame.get("actionConversationId") != PERSONAL:
        return False
    return any(needle in texts(card) for card in frame_cards(frame))


async def test_submit_with_teams_on_provisions_the_managed_response_channel(
    client: PlaygroundClient,
) -> None:
    await client.install(PERSONAL)
    frame = await client.next_activity(is_message(conversation=PERSONAL, card=True))
    message_id = frame["message"]["messageId"]
    card: dict[str, Any] = frame_cards(frame)[0]

    async def press(title: str, **values: Any) -> None:
        nonlocal card
        verb, data = press_data(card, title, values)
        answer = await client.invoke_action(PERSONAL, ALEX, message_id, verb, data)
        card = answer["value"]

    await press("Get started")
    await press("Next")  # permissions: Investigate (default)
    await press("Next")  # exclusions: none
    await press("Search", contact_query="secops")
    await press("Add", contact_pick=SECOPS, contact_for="incidentNotification")
    await press("Next")
    await press("Next", teams_enabled="true")
    await press("Submit")
    assert "Setup complete" in texts(card)

    started = await client.next_activity(lambda f: progress(f, "Setting up Microsoft Teams"))
    assert started["action"] == "createMessage"
    waiting = await client.next_activity(lambda f: progress(f, "Agents Playground"))
    assert "Step 4 of 5" in texts(frame_cards(waiting)[0])

    await client.install(TEAM["id"])
    channel = TEAM["channel"]["id"]
    post = await client.next_activity(is_message(conversation=channel, card=True))
    welcome = texts(frame_cards(post)[0])
    assert "Welcome to Managed response" in welcome
    assert "Manage team" in welcome and "Add member" in welcome

    ready = await client.next_activity(lambda f: progress(f, "Microsoft Teams is ready"))
    assert ready["action"] == "updateMessage"
    (final,) = frame_cards(ready)
    assert "Step 5 of 5" in texts(final)
    links = [n for n in walk(final) if n.get("type") == "Action.OpenUrl"]
    assert [link["title"] for link in links] == ["Open Teams channel"]
    assert channel.split(":", 1)[1].split("@", 1)[0] in links[0]["url"]
