"""The expert console in headless Chromium, signed in through an OpenID Connect stand-in (https,
discovery, JWKS, RS256, the authorization code flow with PKCE and form_post), beside the Agents
Playground's UI: a customer's message with an HTML payload shows as text in the console, and an
answer typed in the console shows in the Playground's channel. Screenshots go to
test-output/chat/."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Page, async_playwright, expect

from tests.browser import CHROMIUM, CHROMIUM_ARGS
from tests.e2e.console_bot import console_bot
from tests.e2e.harness import REPO_ROOT, BotProcess, Playground, PlaygroundClient, eventually
from tests.e2e.test_notifications_e2e import notify, signed_get
from tests.notifications.support import CHANNEL_ID, revised

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

SHOTS = REPO_ROOT / "test-output" / "chat"
XSS = "<img src=x onerror=alert(1)>"
ANSWER = "Thanks Adele: we isolated the device, leave it offline."


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[dict[str, Any]]:
    async with console_bot(tmp_path) as bot:
        playground = Playground(bot.messaging_endpoint, tmp_path / "playground")
        try:
            await asyncio.to_thread(playground.start)
            client = PlaygroundClient(playground.base_url)  # HTTP only: the UI reads the stream
            yield {"bot": bot, "playground": playground, "client": client}
            await client.close()
        finally:
            await asyncio.to_thread(playground.stop)
    assert playground.blocked_connections() == []


async def sign_in(page: Page, bot: BotProcess) -> None:
    await page.goto(f"{bot.base_url}/console")
    await page.get_by_role("link", name="Sign in with Microsoft").click()
    await expect(page.get_by_role("heading", name="Defender Experts console")).to_be_visible()
    await expect(page.locator("#expert-name")).to_have_text("Riley Chen")
    await expect(page.locator("#connection")).to_have_text("Live")


async def delivered_post(bot: BotProcess, incident_id: str) -> str:
    async def activity_id() -> str | None:
        state = await signed_get(bot, f"/api/notifications/{incident_id}")
        return str(state["post"]["activityId"]) if state.get("post") else None

    return await eventually(activity_id, f"incident {incident_id} was not posted")


async def test_the_console_and_the_playground_side_by_side(world: dict[str, Any]) -> None:
    bot: BotProcess = world["bot"]
    client: PlaygroundClient = world["client"]
    SHOTS.mkdir(parents=True, exist_ok=True)
    dialogs: list[str] = []
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = await browser.new_context(
            viewport={"width": 1280, "height": 900}, ignore_https_errors=True
        )
        # Teams (the Playground's UI): opening the channel adds the bot to the team.
        teams = await context.new_page()
        teams.set_default_timeout(30_000)
        await teams.goto(world["playground"].base_url)
        await teams.locator('[aria-label*="Managed response"]').first.click()
        await expect(
            teams.locator(".ac-adaptiveCard", has_text="Welcome to Managed response").last
        ).to_be_visible()
        assert (await notify(bot, revised(1, "7171")))[0] == 202
        await expect(
            teams.locator(".ac-adaptiveCard", has_text="Multi-stage incident").last
        ).to_be_visible()
        post_id = await delivered_post(bot, "7171")
        thread = f"{CHANNEL_ID};messageid={post_id}"

        console = await context.new_page()
        console.set_default_timeout(20_000)
        console.on("dialog", lambda d: dialogs.append(d.message))
        await sign_in(console, bot)

        reply = await client.activity_as(
            thread,
            "user-id-2",
            "message",
            text=f"Is this safe? {XSS}",
            textFormat="plain",
            replyToId=post_id,
        )
        await client.custom_activity(reply)
        item = console.get_by_role("button", name="Multi-stage incident on one endpoint")
        await item.first.click()
        message = console.locator(".message.customer .text").last
        await expect(message).to_have_text(f"Is this safe? {XSS}")
        assert await console.locator(".transcript img").count() == 0
        await expect(console.locator("#incident-line")).to_contain_text("Incident 7171")
        await console.screenshot(path=str(SHOTS / "console-conversation.png"), full_page=True)

        await console.get_by_label("Your answer").fill(ANSWER)
        await console.get_by_role("button", name="Send").click()
        await expect(console.locator(".message.expert .state").last).to_have_text("Posted in Teams")
        await console.screenshot(path=str(SHOTS / "console-answered.png"), full_page=True)
        answer = teams.locator(".ac-adaptiveCard", has_text=ANSWER).last
        await expect(answer).to_be_visible()
        await expect(answer).to_contain_text("Riley Chen")
        await teams.screenshot(path=str(SHOTS / "playground-thread.png"), full_page=True)
        assert dialogs == []
        await context.close()
        await browser.close()
