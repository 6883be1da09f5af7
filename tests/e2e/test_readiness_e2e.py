"""The readiness assessment and the service report end to end: the bot process, the Agents
Playground as the Teams client, the signed Experts API, and the monthly email as ``.eml``.

The bot starts with settings already committed (an incident notification contact and a service
review contact, Respond, Teams on); the demo tenant's signals give a realistic assessment.
"""

from __future__ import annotations

import asyncio
import email
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import Message
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.notifications.signing import WebhookVerifier
from bot.storage.sqlite import SqliteStore
from tests.e2e.harness import REPO_ROOT, BotProcess, PlaygroundClient, frame_cards, is_message
from tests.e2e.test_setup_e2e import ALEX, PERSONAL, CardInChat
from tests.notifications.support import SECRET, revised, seed_settings

pytestmark = pytest.mark.e2e

SIGNER = WebhookVerifier.from_secret(SECRET)
ADELE = "user-id-2"


async def seed(data: Path) -> None:
    store = SqliteStore(data / "bot.sqlite3")
    await seed_settings(store)
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


def incident(revision: int, incident_id: str, status: str) -> dict[str, Any]:
    body = revised(revision, incident_id)
    now = datetime.now(UTC)
    body["incident"].update(
        status=status,
        createdDateTime=(now - timedelta(hours=6)).isoformat(timespec="seconds"),
        lastUpdateDateTime=(now - timedelta(hours=4 - revision)).isoformat(timespec="seconds"),
    )
    return body


async def notify(bot: BotProcess, body: dict[str, Any]) -> int:
    raw = json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    headers.update(SIGNER.sign(f"msg_{time.time_ns()}", int(time.time()), raw).headers())
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{bot.base_url}/api/notifications", data=raw, headers=headers) as r,
    ):
        return r.status


async def command(client: PlaygroundClient, text: str, user: str = ALEX) -> CardInChat:
    await client.send_text(PERSONAL, user, text)
    frame = await client.next_activity(is_message(conversation=PERSONAL, card=True), timeout=30)
    (card,) = frame_cards(frame)
    return CardInChat(client, frame["message"]["messageId"], card, user)


async def test_status_mark_in_progress_and_refresh(client: PlaygroundClient) -> None:
    card = await command(client, "status")
    text = card.text()
    assert "Service status" in text
    assert "Devices: 45 protected of a target of 55" in text
    assert "Identities: 31 protected of a target of 40" in text
    assert "Turn on cloud-delivered protection" in text and "Complete now" in text
    assert "It can take up to 24 hours" in text

    await card.press("Mark in progress")
    assert "Marked “Onboard your devices to Defender for Endpoint” in progress" in card.text()
    assert "Marked by Alex Wilber" in card.text()
    await card.press("Refresh")
    assert "Refreshed: nothing changed" in card.text()
    assert "Marked by Alex Wilber" in card.text()  # still not confirmed by the signal
    await card.press("Refresh")
    assert "refreshed less than 5 minutes ago" in card.text()


async def test_report_after_a_few_incidents_and_the_monthly_email(
    bot: BotProcess, client: PlaygroundClient, e2e_dir: Path
) -> None:
    for revision, status in ((1, "inProgress"), (2, "awaitingAction"), (3, "resolved")):
        assert await notify(bot, incident(revision, "8101", status)) == 202
    assert await notify(bot, incident(1, "8102", "active")) == 202

    card = await command(client, "report")
    text = card.text()
    assert "Service report" in text and "Last 30 days" in text
    assert "Incidents investigated" in text and "50%" in text
    charts = {n["type"] for n in _walk(card.card) if str(n.get("type", "")).startswith("Chart.")}
    assert {"Chart.Donut", "Chart.Line"} <= charts
    await card.press("Last 7 days")
    assert "Last 7 days" in card.text() and "Incidents investigated" in card.text()
    await card.press("Service status")
    assert "Service status" in card.text()

    # The monthly email, sent now by the operator's command (the bot's settings and data).
    done = subprocess.run(
        [sys.executable, "-m", "bot", "report", "--email"],
        env=bot.env,
        cwd=REPO_ROOT,
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()
    subject = f"Defender Experts service report: {datetime.now(UTC):%B %Y}"
    found = [
        m
        for m in (
            email.message_from_bytes(p.read_bytes())
            for p in (e2e_dir / "data" / "mail").glob("*.eml")
        )
        if m["Subject"] == subject
    ]
    assert len(found) == 1 and "meganb@contoso.com" in found[0]["To"]
    parts = list(found[0].walk())
    pngs = [p for p in parts if p.get_content_type() == "image/png"]
    assert pngs and all(_payload(p).startswith(b"\x89PNG") for p in pngs)
    (csv_part,) = [p for p in parts if p.get_content_type() == "text/csv"]
    rows = _payload(csv_part).decode().splitlines()
    assert len(rows) == 3 and any(r.startswith("8101,") for r in rows)


def _payload(part: Message) -> bytes:
    data = part.get_payload(decode=True)
    assert isinstance(data, bytes)
    return data


def _walk(node: Any) -> list[dict[str, Any]]:
    from tests.support import walk

    return list(walk(node))
