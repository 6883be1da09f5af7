"""Managed response notifications end to end: the experts' webhook, the bot process, and the
Microsoft 365 Agents Playground as the Teams client (its team and Managed response channel).

The bot starts with settings already committed (Respond, Teams on, an incident contact) and the
provisioning saga requested; the Playground installs the bot in the team, the saga finishes
with its welcome post, and from then on incidents go to the channel.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.notifications.signing import WebhookVerifier, request_line
from bot.provisioning.model import Status, Step, TeamsRecord, teams_key
from bot.storage.sqlite import SqliteStore
from cards.incident_views import ACTION_COMPLETE
from tests.e2e.harness import (
    BotProcess,
    PlaygroundClient,
    eventually,
    frame_cards,
    frame_text,
)
from tests.notifications.support import (
    CHANNEL_ID,
    FINANCE_EXCLUDED,
    SECRET,
    TEAM_ID,
    TENANT,
    revised,
    settings_record,
)
from tests.standins.connector import incident_of
from tests.support import texts

pytestmark = pytest.mark.e2e

SIGNER = WebhookVerifier.from_secret(SECRET)
ADELE = "user-id-2"
ALEX_ID = "1a2b3c4d-0001-4e5f-8a9b-0c1d2e3f4a01"


async def write_settings(data: Path, **kw: Any) -> None:
    store = SqliteStore(data / "bot.sqlite3")
    await store.write(f"tenants/{TENANT}/settings", settings_record(**kw).to_json(), etag="*")
    await store.close()


async def seed(data: Path) -> None:
    await write_settings(data)
    store = SqliteStore(data / "bot.sqlite3")
    record = TeamsRecord(
        tenant_id=TENANT,
        status=Status.RUNNING,
        step=Step.CREATE_TEAM,
        requested_by={"id": ALEX_ID, "name": "Alex Wilber"},
    )
    await store.write(teams_key(TENANT), record.to_json(), etag="*")
    await store.close()


@pytest.fixture(scope="module")
def bot(e2e_dir: Path) -> Iterator[BotProcess]:
    data = e2e_dir / "data"
    asyncio.run(seed(data))
    process = BotProcess(
        {"BOT_DATA_DIR": str(data), "EXPERTS_WEBHOOK_SECRET": SECRET}, e2e_dir / "logs"
    )
    process.start()
    yield process
    process.stop()


async def notify(bot: BotProcess, body: dict[str, Any]) -> tuple[int, Any]:
    raw = json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    headers.update(SIGNER.sign(f"msg_{time.time_ns()}", int(time.time()), raw).headers())
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{bot.base_url}/api/notifications", data=raw, headers=headers) as r,
    ):
        return r.status, await r.json()


async def welcomed(bot: BotProcess, client: PlaygroundClient) -> dict[str, Any]:
    """The welcome post's frame, once the saga has also recorded the channel as ready.

    The saga posts the welcome, then stores its record as ready; an incident accepted between
    the two finds no channel yet and is emailed (as the product document asks), so a test that
    notifies right after seeing the welcome would race the saga's write.
    """
    welcome = await client.next_activity(
        lambda f: (
            f.get("action") == "createMessage"
            and str(f.get("actionConversationId", "")).startswith(CHANNEL_ID)
            and bool(frame_cards(f))
        ),
        timeout=30,
    )
    store = SqliteStore(Path(bot.env["BOT_DATA_DIR"]) / "bot.sqlite3")

    async def ready() -> bool | None:
        item = await store.read(teams_key(TENANT))
        return True if item is not None and TeamsRecord.from_json(item.value).ready else None

    try:
        await eventually(ready, "the saga posted the welcome but didn't record it as ready")
    finally:
        await store.close()
    return welcome


async def signed_get(bot: BotProcess, target: str) -> Any:
    headers = SIGNER.sign("msg_get", int(time.time()), request_line("GET", target)).headers()
    async with (
        aiohttp.ClientSession() as http,
        http.get(bot.base_url + target, headers=headers) as r,
    ):
        assert r.status == 200
        return await r.json()


async def recorded(bot: BotProcess, incident: str, post_id: str) -> None:
    """Wait until the bot has committed ``post_id`` as the incident's post (the Experts API's
    delivery state shows it). The Playground shows a post as soon as the connector call
    reaches it, and the bot records it after the call returns: a reply in the thread sent in
    between would find no incident for its root."""

    async def shown() -> bool | None:
        state = await signed_get(bot, f"/api/notifications/{incident}")
        return True if (state.get("post") or {}).get("activityId") == post_id else None

    await eventually(shown, f"incident {incident} was posted but not recorded as {post_id}")


def of_incident(incident: str, action: str = "createMessage") -> Any:
    def predicate(frame: dict[str, Any]) -> bool:
        return frame.get("action") == action and any(
            incident_of(card) == incident for card in frame_cards(frame)
        )

    return predicate


def reply_in(thread: str) -> Any:
    def predicate(frame: dict[str, Any]) -> bool:
        return (
            frame.get("action") == "createMessage"
            and frame.get("actionConversationId") == thread
            and not frame_cards(frame)
        )

    return predicate


async def test_incident_lifecycle_in_the_managed_response_channel(
    bot: BotProcess, client: PlaygroundClient
) -> None:
    await client.install(TEAM_ID)
    welcome = await welcomed(bot, client)
    assert "Managed response" in texts(frame_cards(welcome)[0])

    # Revision 1: one new post in the channel.
    assert (await notify(bot, revised(1, "4242")))[0] == 202
    post = await client.next_activity(of_incident("4242"), timeout=30)
    post_id = str(post["message"]["messageId"])
    thread = f"{CHANNEL_ID};messageid={post_id}"
    assert str(post.get("actionConversationId", "")).startswith(CHANNEL_ID)
    assert "Multi-stage incident on one endpoint" in texts(frame_cards(post)[0])

    # Revisions 2 and 3: the card is updated in place, and the thread says what changed.
    for revision in (2, 3):
        assert (await notify(bot, revised(revision, "4242")))[0] == 202
        update = await client.next_activity(of_incident("4242", "updateMessage"), timeout=30)
        assert str(update["message"]["messageId"]) == post_id
        assert f"Revision {revision}" in texts(frame_cards(update)[0])
        reply = await client.next_activity(reply_in(thread), timeout=30)
        assert f"Update {revision}" in frame_text(reply)
    assert "Resolved" in texts(frame_cards(update)[0])
    leftovers = [f for f in client.drain() if of_incident("4242")(f)]
    assert leftovers == [], "one post only"

    # A pending action is completed from the card, by Adele, for everyone to see.
    answer = await client.invoke_action(
        thread,
        ADELE,
        post_id,
        ACTION_COMPLETE,
        {"incidentId": "4242", "actionId": "a2", "revision": 3},
    )
    assert "Completed by Adele Vance" in texts(answer["value"])
    refreshed = await client.next_activity(of_incident("4242", "updateMessage"), timeout=30)
    assert "Completed by Adele Vance" in texts(frame_cards(refreshed)[0])
    events = await signed_get(bot, "/api/events?after=0")
    assert [(e["type"], e["actionId"]) for e in events["events"]] == [
        ("pendingAction.completed", "a2")
    ]
    state = await signed_get(bot, "/api/notifications/4242")
    assert state["post"]["activityId"] == post_id
    assert [state["deliveries"][r]["state"] for r in ("1", "2", "3")] == [
        "posted",
        "updated",
        "updated",
    ]


async def test_excluded_targets_and_investigate_only_are_refused(
    bot: BotProcess, e2e_dir: Path
) -> None:
    await write_settings(e2e_dir / "data", exclusions=FINANCE_EXCLUDED)
    status, body = await notify(bot, revised(1, "5151"))
    assert status == 422
    assert 'excluded device group "Finance workstations"' in body["error"]["message"]
    await write_settings(e2e_dir / "data", respond=False)
    status, body = await notify(bot, revised(1, "5151"))
    assert status == 422 and "Investigate incidents" in body["error"]["message"]
    await write_settings(e2e_dir / "data")
