"""The whole service as a user meets it, through the Agents Playground's web UI in Chromium.

An admin runs the setup in the personal chat by clicking the rendered cards, turns Teams on,
and the bot sets up the Managed response channel. The experts then send an incident through the
signed Experts API; it appears in the channel, a member completes the pending action on the
card, and the next revision updates the same card and replies in its thread.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect, sync_playwright

from tests.browser import CHROMIUM, CHROMIUM_ARGS
from tests.e2e.conftest import OUTPUT
from tests.e2e.harness import REPO_ROOT, BotProcess, Playground
from tests.notifications.support import SECRET

pytestmark = [pytest.mark.e2e, pytest.mark.browser]


@pytest.fixture(scope="module")
def bot(e2e_dir: Path) -> Iterator[BotProcess]:
    process = BotProcess(
        {"BOT_DATA_DIR": str(e2e_dir / "data"), "EXPERTS_WEBHOOK_SECRET": SECRET},
        e2e_dir / "logs",
    )
    process.start()
    yield process
    process.stop()


@pytest.fixture
def page(playground: Playground) -> Iterator[Page]:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 1100})
        pg = context.new_page()
        pg.set_default_timeout(20_000)
        pg.goto(playground.base_url)
        yield pg
        context.close()
        browser.close()


def card(page: Page, text: str) -> Locator:
    found = page.locator(".ac-adaptiveCard", has_text=text).last
    expect(found).to_be_visible()
    return found


def notify(bot: BotProcess, *args: str) -> str:
    env = {**os.environ, "EXPERTS_WEBHOOK_SECRET": SECRET, "PORT": str(bot.port)}
    done = subprocess.run(
        [sys.executable, "-m", "bot", "notify", "--example", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def shot(page: Page, name: str) -> None:
    OUTPUT.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(OUTPUT / f"journey-{name}.png"))


def test_setup_team_and_an_incident_through_the_ui(page: Page, bot: BotProcess) -> None:
    page.locator('[aria-label="Personal Chat"]').first.click()
    composer = page.locator('div[role="textbox"][contenteditable="true"]')
    composer.click()
    composer.type("setup")
    page.locator('button[aria-label="Send Message"]').click()

    step = card(page, "Grant permissions to our experts")
    step.get_by_role("checkbox", name="Respond directly to active threats (recommended)").check()
    step.get_by_role("button", name="Next").click()

    step = card(page, "Tell us who to contact for important matters")
    step.locator('input[placeholder="Name or email"]').fill("secops")
    step.get_by_role("button", name="Search").click()
    step = card(page, "Choose a person or team")
    step.locator('input[placeholder="Choose"]').click()
    page.get_by_role("option", name="Incident notification").click()
    step.get_by_role("button", name="Add").click()
    step = card(page, "Added Security Operations as a contact for Incident notification")
    step.get_by_role("button", name="Next").click()

    step = card(page, "Communicate on Teams")
    step.get_by_role("checkbox", name="Communicate on Teams").check()
    step.get_by_role("button", name="Next").click()
    step = card(page, "Review your settings")
    expect(step).to_contain_text("Granted (Security Operator)")
    shot(page, "review")
    step.get_by_role("button", name="Submit").click()
    expect(card(page, "Setup complete")).to_contain_text("Defender Experts team")

    # Opening the channel makes the Playground add the bot to its team; the saga then finishes.
    page.locator('[aria-label*="Managed response"]').first.click()
    expect(card(page, "Welcome to Managed response")).to_contain_text("Add member")
    page.locator('[aria-label="Personal Chat"]').first.click()
    expect(card(page, "Microsoft Teams is ready")).to_be_visible()
    page.locator('[aria-label*="Managed response"]').first.click()

    assert "HTTP 202" in notify(bot)
    incident = card(page, "Multi-stage incident on one endpoint")
    expect(incident).to_contain_text("High severity")
    expect(incident).to_contain_text("Isolate device")
    shot(page, "incident")
    incident.get_by_role("button", name="I've completed this action").click()
    page.get_by_role("button", name="Yes, I've done it").last.click()
    expect(card(page, "Multi-stage incident")).to_contain_text("Completed by Alex Wilber")

    assert "HTTP 202" in notify(bot, "--revision", "2")
    expect(
        page.locator("p", has_text="Quarantine file on invoice.pdf.exe completed.")
    ).to_be_visible()
    updated = card(page, "Multi-stage incident")
    expect(updated).to_contain_text("Revision 2")
    expect(updated).to_contain_text("Completed by Alex Wilber")
    assert page.locator(".ac-adaptiveCard", has_text="Multi-stage incident").count() == 1
    shot(page, "revision-2")
