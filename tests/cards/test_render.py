"""Every card rendered by the official Adaptive Cards JS renderer in headless Chromium."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, sync_playwright

from cards import to_json
from tests.browser import CHROMIUM, CHROMIUM_ARGS
from tests.cards.test_cards import CASES
from tests.support import actions

ROOT = Path(__file__).resolve().parents[2]
RENDERER = ROOT / "node_modules" / "adaptivecards" / "dist" / "adaptivecards.min.js"
OUT = ROOT / "test-output" / "cards"

RENDER = """
(card) => {
  const ac = new AdaptiveCards.AdaptiveCard();
  ac.hostConfig = new AdaptiveCards.HostConfig({fontFamily: "Segoe UI, sans-serif"});
  const ctx = new AdaptiveCards.SerializationContext();
  ac.parse(card, ctx);
  const parseEvents = [];
  for (let i = 0; i < ctx.eventCount; i++) { parseEvents.push(ctx.getEventAt(i).message); }
  const validation = ac.validateProperties();
  const el = ac.render();
  const root = document.getElementById("root");
  root.innerHTML = "";
  root.appendChild(el);
  return {
    version: ac.version ? ac.version.toString() : "",
    failures: parseEvents.concat(validation.validationEvents.map(e => e.message)),
    buttons: Array.from(el.querySelectorAll("button")).map(b => b.textContent || b.title),
    inputs: Array.from(el.querySelectorAll("input,select,textarea")).length,
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
def test_card_renders_without_errors(browser: Browser, name: str) -> None:
    card: dict[str, Any] = to_json(CASES[name]())
    page = browser.new_page(viewport={"width": 520, "height": 900})
    try:
        page.set_content('<html><body><div id="root" style="width:500px"></div></body></html>')
        page.add_script_tag(path=str(RENDERER))
        result = page.evaluate(RENDER, json.loads(json.dumps(card)))
        OUT.mkdir(parents=True, exist_ok=True)
        page.locator("#root").screenshot(path=str(OUT / f"{name}.png"))
    finally:
        page.close()
    assert result["failures"] == []
    assert result["height"] > 50
    titles = {a["title"] for a in actions(card)}
    assert titles <= set(result["buttons"]), (titles, result["buttons"])
