"""Headless Debian Chromium for tests, driven by Playwright. Never downloads a browser."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1",
]

ROOT = Path(__file__).resolve().parents[1]
RENDERER = ROOT / "node_modules" / "adaptivecards" / "dist" / "adaptivecards.min.js"
CARD_SHOTS = ROOT / "test-output" / "cards"

_RENDER = """
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


def render_card(browser: Browser, card: dict[str, Any], shot: str, width: int = 520) -> Any:
    """Render ``card`` with the official Adaptive Cards JS renderer; screenshot it to
    ``test-output/cards/<shot>.png``. Returns the parse and validation failures, the button
    titles, and the rendered height."""
    page = browser.new_page(viewport={"width": width + 20, "height": 900})
    try:
        page.set_content(f'<html><body><div id="root" style="width:{width}px"></div></body></html>')
        page.add_script_tag(path=str(RENDERER))
        result = page.evaluate(_RENDER, json.loads(json.dumps(card)))
        CARD_SHOTS.mkdir(parents=True, exist_ok=True)
        page.locator("#root").screenshot(path=str(CARD_SHOTS / f"{shot}.png"))
    finally:
        page.close()
    return result
