"""One pass through the Playground's own web UI in headless Chromium: the rendered card."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from tests.browser import CHROMIUM, CHROMIUM_ARGS
from tests.e2e.conftest import OUTPUT
from tests.e2e.harness import Playground

pytestmark = [pytest.mark.e2e, pytest.mark.browser]


@pytest.fixture
def page(playground: Playground) -> Iterator[Page]:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 1000})
        pg = context.new_page()
        pg.set_default_timeout(20_000)
        pg.goto(playground.base_url)
        yield pg
        context.close()
        browser.close()


def test_permissions_step_through_the_rendered_card(page: Page) -> None:
    page.locator('[aria-label="Personal Chat"]').first.click()
    composer = page.locator('div[role="textbox"][contenteditable="true"]')
    composer.click()
    composer.type("setup")
    page.locator('button[aria-label="Send Message"]').click()

    card = page.locator(".ac-adaptiveCard", has_text="Grant permissions to our experts").last
    expect(card).to_be_visible()
    expect(card).to_contain_text("won't take response actions")
    respond = card.get_by_role("checkbox", name="Respond directly to active threats (recommended)")
    respond.check()
    OUTPUT.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(OUTPUT / "browser-permissions.png"))
    card.get_by_role("button", name="Manage exclusions").click()

    exclusions = page.locator(
        ".ac-adaptiveCard", has_text="Exclude devices and users from remediation"
    ).last
    expect(exclusions).to_be_visible()
    expect(exclusions).to_contain_text("Step 1 of 4 · Permissions > Manage exclusions (optional)")
    page.screenshot(path=str(OUTPUT / "browser-exclusions.png"))
    exclusions.get_by_role("button", name="Back").click()

    back = page.locator(".ac-adaptiveCard", has_text="Grant permissions to our experts").last
    expect(
        back.get_by_role("checkbox", name="Respond directly to active threats (recommended)")
    ).to_be_checked()
    expect(back).not_to_contain_text("won't take response actions")
