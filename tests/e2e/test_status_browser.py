"""The console's Service status view in headless Chromium: an expert signs in through the OpenID
Connect stand-in, opens **Service status**, and sees the demo tenant's assessment (protected
assets, actions needed with their statuses, the phase, when it was last assessed) and the
service report of incidents sent through the signed webhook, with the 7/30/90/custom range
selector; a bad custom range is refused on the page. Screenshots go to test-output/status/."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from playwright.async_api import async_playwright, expect

from tests.browser import CHROMIUM, CHROMIUM_ARGS
from tests.e2e.console_bot import console_bot
from tests.e2e.harness import REPO_ROOT, BotProcess
from tests.e2e.test_chat_browser import sign_in
from tests.e2e.test_notifications_e2e import notify
from tests.notifications.support import TENANT, example

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

SHOTS = REPO_ROOT / "test-output" / "status"


def _iso(t: datetime) -> str:
    return t.isoformat(timespec="seconds").replace("+00:00", "Z")


def incident(incident_id: str, revision: int, status: str, days_ago: float) -> dict[str, Any]:
    now = datetime.now(UTC)
    return example(
        revision,
        incident_id,
        status=status,
        createdDateTime=_iso(now - timedelta(days=days_ago)),
        lastUpdateDateTime=_iso(now - timedelta(days=days_ago) + timedelta(hours=revision)),
    )


@pytest.fixture
async def bot(tmp_path: Path) -> AsyncIterator[BotProcess]:
    async with console_bot(tmp_path) as process:
        yield process


async def test_an_expert_sees_the_assessment_and_the_report(bot: BotProcess) -> None:
    for body in (
        incident("9101", 1, "inProgress", 3),
        incident("9101", 2, "resolved", 3),
        incident("9102", 1, "active", 2),
        incident("9103", 1, "resolved", 45),
    ):
        assert (await notify(bot, body))[0] == 202
    # Not signed in: the JSON is refused and the page sends people to sign in.
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{bot.base_url}/console/api/tenants/{TENANT}/readiness") as r:
            assert r.status == 401
        async with http.get(f"{bot.base_url}/console/status", allow_redirects=False) as r:
            assert r.status == 303 and r.headers["Location"] == "/console/sign-in"
    SHOTS.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = await browser.new_context(
            viewport={"width": 1280, "height": 1400}, ignore_https_errors=True
        )
        page = await context.new_page()
        page.set_default_timeout(30_000)
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        await sign_in(page, bot)
        await page.get_by_role("link", name="Service status").click()
        await expect(page.locator("#load-status")).to_have_text("Up to date")
        await expect(page.locator("#tenant")).to_have_value(TENANT)
        # The demo tenant's assessment: phase, last assessed, figures and actions.
        await expect(page.locator("#phase")).to_have_text("Onboarding")
        await expect(page.locator("#assessed")).not_to_have_text("Never")
        devices = page.locator("#assets tbody tr").first
        await expect(devices.locator("th")).to_have_text("Devices")
        cells = await devices.locator("td").all_inner_texts()
        assert cells[0].isdigit() and cells[1].isdigit(), cells
        assert int(cells[2]) == max(0, int(cells[1]) - int(cells[0])), cells
        await expect(page.locator("#action-counts")).to_contain_text("to complete now")
        tamper = page.locator('#actions tr[data-action="tamper"]')
        await expect(tamper).to_contain_text("Turn on tamper protection")
        statuses = await page.locator("#actions tbody td:nth-child(3)").all_inner_texts()
        assert set(statuses) <= {"Complete now", "In progress", "Completed"} and statuses
        assert statuses == sorted(statuses, key=["Complete now", "In progress", "Completed"].index)
        # The report: the default 30 days count the two recent incidents, 90 days all three.
        figures = page.locator("#report-figures")
        await expect(figures.locator("tr").nth(0)).to_have_text("Incidents investigated2")
        await expect(figures.locator("tr").nth(1)).to_have_text("Incidents resolved1")
        await expect(figures.locator("tr").nth(4)).to_have_text("% resolved50%")
        await page.screenshot(path=str(SHOTS / "status-30-days.png"), full_page=True)
        await page.get_by_label("Last 90 days").check()
        await expect(figures.locator("tr").nth(0)).to_have_text("Incidents investigated3")
        await expect(page.locator("#report-range")).to_contain_text("Last 90 days")
        await page.get_by_label("Last 7 days").check()
        await expect(figures.locator("tr").nth(0)).to_have_text("Incidents investigated2")
        # A custom range ending in the future is refused on the page; the figures stay.
        await page.get_by_label("Custom").check()
        today = datetime.now(UTC).date()
        await page.locator("#from").fill((today - timedelta(days=10)).isoformat())
        await page.locator("#to").fill((today + timedelta(days=2)).isoformat())
        await page.get_by_role("button", name="Show").click()
        await expect(page.locator("#range-error")).to_have_text("To can't be in the future.")
        await expect(figures.locator("tr").nth(0)).to_have_text("Incidents investigated2")
        await page.locator("#to").fill(today.isoformat())
        await page.get_by_role("button", name="Show").click()
        await expect(page.locator("#range-error")).to_be_hidden()
        await expect(figures.locator("tr").nth(0)).to_have_text("Incidents investigated2")
        await page.screenshot(path=str(SHOTS / "status-custom.png"), full_page=True)
        assert errors == []
        await browser.close()
