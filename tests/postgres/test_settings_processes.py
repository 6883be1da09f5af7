"""Two admins saving settings through two ``python -m bot`` processes on one PostgreSQL at the
same moment: one save wins, the other admin's card says so (the ETag rules of one instance), and
nothing is lost: the saved version has both admins' changes from the shared draft."""

from __future__ import annotations

import asyncio
import itertools
import json
from pathlib import Path
from typing import Any

import aiohttp
import psycopg

from bot.actions import Actor
from cards import verbs
from tests.e2e.harness import BotProcess
from tests.notifications.support import BOT_ID, TENANT
from tests.postgres.instances import instance, seed
from tests.standins.connector import ConnectorStandIn
from tests.support import ALEX, MEGAN, press_data, texts

_ids = itertools.count(1)
CONFLICTS = ("already submitted, so nothing was changed", "changed")


async def invoke(
    http: aiohttp.ClientSession,
    bot: BotProcess,
    connector: ConnectorStandIn,
    who: Actor,
    verb: str,
    data: dict[str, Any],
) -> dict[str, Any]:
    """An Adaptive Card Universal Action in the admin's personal chat, as Teams sends it."""
    activity = {
        "type": "invoke",
        "name": "adaptiveCard/action",
        "id": f"inv-{next(_ids)}",
        "channelId": "msteams",
        "serviceUrl": connector.url,
        "from": {"id": f"29:{who.user_id}", "aadObjectId": who.user_id, "name": who.name},
        "recipient": {"id": f"28:{BOT_ID}", "name": "Defender Experts"},
        "conversation": {
            "id": f"a:personal-{who.user_id[-2:]}",
            "conversationType": "personal",
            "tenantId": TENANT,
        },
        "channelData": {"tenant": {"id": TENANT}},
        "value": {"action": {"type": "Action.Execute", "verb": verb, "data": data}},
    }
    async with http.post(f"{bot.base_url}/api/messages", json=activity) as response:
        assert response.status == 200, await response.text()
        body = await response.json()
    assert body["type"] == "application/vnd.microsoft.card.adaptive", body
    return dict(body["value"])


async def press(
    http: aiohttp.ClientSession,
    bot: BotProcess,
    connector: ConnectorStandIn,
    who: Actor,
    card: dict[str, Any],
    title: str,
    **values: Any,
) -> dict[str, Any]:
    verb, data = press_data(card, title, values)
    return await invoke(http, bot, connector, who, verb, data)


async def test_two_admins_saving_through_two_instances_lose_nothing(
    pg_url: str, tmp_path: Path
) -> None:
    async with ConnectorStandIn() as connector:
        await seed(pg_url, connector)
        a, b = instance(pg_url, tmp_path, "a"), instance(pg_url, tmp_path, "b")
        await asyncio.gather(asyncio.to_thread(a.start), asyncio.to_thread(b.start))
        try:
            async with aiohttp.ClientSession() as http:
                # Alex (instance a) turns "Respond directly" off and reaches the review.
                card = await invoke(http, a, connector, ALEX, verbs.SETTINGS_SHOW, {})
                card = await press(http, a, connector, ALEX, card, "Edit")
                alex_review = await press(
                    http, a, connector, ALEX, card, "Next: Review", respond="false"
                )
                # Megan (instance b) continues the same draft: Teams off, and the review.
                card = await invoke(http, b, connector, MEGAN, verbs.SETTINGS_SHOW, {})
                teams = [x for x in card["body"] if x.get("type") == "ColumnSet"][3]
                edit = teams["columns"][1]["items"][0]["actions"][0]
                card = await invoke(http, b, connector, MEGAN, edit["verb"], edit["data"])
                assert "Continuing the changes Alex Wilber started" in texts(card)
                megan_review = await press(
                    http, b, connector, MEGAN, card, "Next: Review", teams_enabled="false"
                )
                # Both press Submit at the same moment, each through their own instance, and
                # Alex once more on Megan's review (the newest revision of the draft).
                cards = await asyncio.gather(
                    press(http, a, connector, ALEX, alex_review, "Submit"),
                    press(http, b, connector, MEGAN, megan_review, "Submit"),
                    press(http, a, connector, ALEX, megan_review, "Submit"),
                )
                shown = [texts(c) for c in cards]
                saved = [t for t in shown if "Saved. Settings are now at version 2" in t]
                assert len(saved) == 1, shown
                others = [t for t in shown if t not in saved]
                assert all(any(c in t for c in CONFLICTS) for t in others), others
                # Both instances show the same, complete version 2.
                for bot, who in ((a, ALEX), (b, MEGAN)):
                    card = await invoke(http, bot, connector, who, verbs.SETTINGS_SHOW, {})
                    assert "Version 2" in texts(card) and "Version 3" not in texts(card)
        finally:
            a.stop()
            b.stop()
        with psycopg.connect(pg_url) as conn:
            row = conn.execute(
                "SELECT value FROM documents WHERE key = %s", (f"tenants/{TENANT}/settings",)
            ).fetchone()
        assert row is not None
        record = json.loads(row[0])
        assert record["version"] == 2
        changes = {c["field"] for c in record["audit"][-1]["changes"]}
        assert changes == {"permissions.respond", "teams.communicateOnTeams"}
