"""The incident cards rendered by the official Adaptive Cards JS renderer in headless Chromium."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, sync_playwright

from tests.browser import CHROMIUM, CHROMIUM_ARGS
from tests.notifications.test_incident_card import CASES

ROOT = Path(__file__).resolve().parents[2]
RENDERER = ROOT / "node_modules" / "adaptivecards" / "dist" / "adaptivecards.min.js"
OUT = ROOT / "test-output" / "cards"

RENDER = """
(card) => {
  const ac = new AdaptiveCards.AdaptiveCard();
  ac.hostConfig = new AdaptiveCards.HostConfig({fontFamily: "Segoe UI, sans-serif"});
  const ctx = new AdaptiveCards.SerializationContext();
  ac.parse(card, ctx);
  const failures = [];
  for (let i = 0; i < ctx.eventCount; i++) { failures.push(ctx.getEventAt(i).message); }
  for (const e of ac.validateProperties().validationEvents) { failures.push(e.message); }
  const el = ac.render();
  document.getElementById("root").replaceChildren(el);
  return {
    failures,
    buttons: Array.from(el.querySelectorAll("button")).map(b => b.textContent || b.title),
    height: el.getBoundingClientRect().height,
  };
}
"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not RENDERER.exists():
        pytest.fail("node_modules/adaptivecards is missing: run npm ci")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.mark.browser
@pytest.mark.parametrize("name", sorted(CASES))
def test_incident_card_renders(browser: Browser, name: str) -> None:
    card: dict[str, Any] = CASES[name]()
    page = browser.new_page(viewport={"width": 560, "height": 900})
    try:
        page.set_content('<html><body><div id="root" style="width:540px"></div></body></html>')
        page.add_script_tag(path=str(RENDERER))
        result = page.evaluate(RENDER, json.loads(json.dumps(card)))
        OUT.mkdir(parents=True, exist_ok=True)
        page.locator("#root").screenshot(path=str(OUT / f"incident-{name}.png"))
    finally:
        page.close()
    assert result["failures"] == []
    assert result["height"] > 200
    assert "Open in Microsoft Defender" in result["buttons"]
    if name == "example":
        for title in ("I've completed this action", "Skip this action", "Acknowledge"):
            assert title in result["buttons"]
