"""The whole setup guide through the Microsoft 365 Agents Playground, driven as a user would."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.harness import BotProcess, PlaygroundClient, frame_cards, is_message
from tests.support import inputs, press_data, texts

pytestmark = pytest.mark.e2e

PERSONAL = "a:1defender-experts-personal-chat"
ALEX = "user-id-0"
ADELE = "user-id-2"
FINANCE_DEVICES = "101"
EXECUTIVES = "8d2f1c0b-2002-4d4e-8f9a-3b2c1d0e9f02"
SECOPS = "6c1e0b7a-1001-4c3d-9e8f-2a1b0c9d8e01"
PATTI = "1a2b3c4d-0005-4e5f-8a9b-0c1d2e3f4a05"


class CardInChat:
    """One card message in the Playground, acted on in place with Universal Actions."""

    def __init__(
        self, client: PlaygroundClient, message_id: str, card: dict[str, Any], user: str = ALEX
    ) -> None:
        self.client, self.message_id, self.card, self.user = client, message_id, card, user
        self.titles: list[str] = []

    async def press(self, title: str, **values: Any) -> dict[str, Any]:
        verb, data = press_data(self.card, title, values)
        answer = await self.client.invoke_action(PERSONAL, self.user, self.message_id, verb, data)
        assert answer["type"] == "application/vnd.microsoft.card.adaptive", answer
        self.card = answer["value"]
        self.titles.append(self.heading())
        return self.card

    async def press_for_new_card(self, title: str, showing: str) -> dict[str, Any]:
        """Press a button that answers with a new card in the chat (one ``showing`` this text):
        the card pressed stays as it was."""
        verb, data = press_data(self.card, title, {})
        answer = await self.client.invoke_action(PERSONAL, self.user, self.message_id, verb, data)
        assert answer["type"] == "application/vnd.microsoft.activity.message", answer
        frame = await self.client.next_activity(
            lambda f: (
                is_message(conversation=PERSONAL, card=True)(f)
                and showing in texts(frame_cards(f)[0])
            )
        )
        (new,) = frame_cards(frame)
        return new

    def heading(self) -> str:
        return str(self.card["body"][0]["items"][1]["text"])

    def text(self) -> str:
        return texts(self.card)


async def test_install_welcome_then_the_whole_guide(
    client: PlaygroundClient, bot: BotProcess
) -> None:
    """The whole journey: welcome, the guide, the submitted settings, which survive a restart
    (one test, so that it passes alone and in any order)."""
    await client.install(PERSONAL)
    frame = await client.next_activity(is_message(conversation=PERSONAL, card=True))
    (welcome,) = frame_cards(frame)
    assert "Welcome, Alex Wilber!" in texts(welcome) and "Get started" in texts(welcome)
    card = CardInChat(client, frame["message"]["messageId"], welcome)

    await card.press("Get started")
    assert card.heading() == "Grant permissions to our experts"
    assert "won't take response actions" in card.text()
    await card.press("Back")  # leaves the guide; the draft stays
    assert "Get started" in card.text()
    await card.press("Get started")
    assert card.heading() == "Grant permissions to our experts"
    await card.press("Manage exclusions", respond="true")
    assert card.heading() == "Exclude devices and users from remediation"
    await card.press("Search device groups", device_query="finance")
    await card.press("+ Add device groups", device_pick=FINANCE_DEVICES)
    await card.press("Search user groups", user_query="exec")
    await card.press("+ Add user groups", user_pick=EXECUTIVES)
    await card.press("Next", hv_devices="true")  # confirms Finance workstations + Executives
    await card.press("Back")
    await card.press("Search user groups", user_query="contract")
    await card.press("+ Add user groups", user_pick="8d2f1c0b-2005-4d4e-8f9a-3b2c1d0e9f05")
    assert "Contractors" in card.text()
    await card.press("Skip")  # discards Contractors only
    assert "discarded" in card.text()
    assert card.heading() == "Tell us who to contact for important matters"
    await card.press("Search", contact_query="secops")
    await card.press(
        "Add",
        contact_pick=SECOPS,
        contact_for="incidentNotification",
        contact_phone="+1 425 555 0100",
    )
    await card.press("Search", contact_query="patti")
    await card.press("Add", contact_pick=PATTI)  # no "Contact for": refused inline
    assert "Choose what this contact is for" in card.text()
    await card.press("Search", contact_query="patti")
    await card.press("Add", contact_pick=PATTI, contact_for="serviceReview")
    await card.press("Remove")  # the first listed contact: Security Operations
    await card.press("Search", contact_query="secops")
    await card.press("Add", contact_pick=SECOPS, contact_for="incidentNotification")
    await card.press("Next")
    assert card.heading() == "Receive managed response notifications and updates in Microsoft Teams"
    assert "cannot be reversed" in card.text()
    await card.press("Next", teams_enabled="true")
    assert card.heading() == "Review your settings"
    await card.press("Back")
    assert inputs(card.card)["teams_enabled"]["value"] == "true"
    await card.press("Next")
    review = card.text()
    for expected in (
        "Granted (Security Operator)",
        "Finance workstations",
        "Executives",
        "Patti Fernandez",
        "Security Operations",
    ):
        assert expected in review
    assert "Contractors" not in review
    await card.press("Submit")
    assert card.heading() == "Setup complete"
    assessment = texts(await card.press_for_new_card("View readiness assessment", "Service status"))
    assert card.heading() == "Setup complete"
    assert "Service status" in assessment
    assert "Devices: 45 protected of a target of 55" in assessment
    assert "It can take up to 24 hours" in assessment
    # The settings survive a restart of the bot.
    bot.restart()
    await client.send_text(PERSONAL, ALEX, "settings")
    is_card = is_message(conversation=PERSONAL, card=True)

    def is_settings(frame: Any) -> bool:
        # Provisioning, resumed after the restart, may update its progress card meanwhile.
        return is_card(frame) and "Defender Experts settings" in texts(frame_cards(frame)[0])

    frame = await client.next_activity(is_settings)
    text = texts(frame_cards(frame)[0])
    for expected in (
        "Version 1",
        "Granted (Security Reader)",
        "Granted (Security Operator)",
        "Finance workstations",
        "Executives",
        "Exclude all high-value devices",
        "Security Operations",
        "Patti Fernandez",
        "Service review",
        "Communicate on Teams",
    ):
        assert expected in text, expected
    assert "Contractors" not in text


async def test_non_admin_is_refused(client: PlaygroundClient, bot: BotProcess) -> None:
    """Adele Vance holds no admin role. The Playground sends chat messages as the current user
    only, so her activities go to the bot as the Playground would send them."""
    message = await client.message_activity(PERSONAL, ADELE, "setup")
    status, _ = await client.post_to_bot(bot.messaging_endpoint, message)
    assert status == 201
    frame = await client.next_activity(is_message(conversation=PERSONAL, card=True))
    text = texts(frame_cards(frame)[0])
    assert "Global Administrator" in text and "Security Administrator" in text
    assert "Nothing was changed" in text
    invoke = await client.invoke_activity(
        PERSONAL, ADELE, frame["message"]["messageId"], "setup.start"
    )
    status, body = await client.post_to_bot(bot.messaging_endpoint, invoke)
    assert status == 200
    assert "You can't change Defender Experts settings" in texts(body["value"])


async def test_help_and_unknown_text(client: PlaygroundClient) -> None:
    await client.send_text(PERSONAL, ALEX, "what can you do?")
    frame = await client.next_activity(is_message(conversation=PERSONAL, card=True))
    text = texts(frame_cards(frame)[0])
    assert "I didn't recognize that" in text and "settings" in text
