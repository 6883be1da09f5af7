"""The readiness and report cards in the official Adaptive Cards JS renderer (headless Chromium),
as a client without Teams' charts shows them (each chart as its fallback); screenshots go to
test-output/cards/."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Browser

from cards import to_json
from tests.browser import render_card
from tests.cards.samples import SAMPLES
from tests.cards.test_cards import as_1_5
from tests.support import actions, walk

CARDS = {
    f"{name.split('.')[0]}-{i}": build
    for name in ("readiness.readiness_card", "report.report_card")
    for i, build in enumerate(SAMPLES[name])
}


@pytest.mark.browser
@pytest.mark.parametrize("name", sorted(CARDS))
def test_card_renders_with_its_fallbacks(browser: Browser, name: str) -> None:
    card: dict[str, Any] = as_1_5(to_json(CARDS[name]()))
    assert not [n for n in walk(card) if str(n.get("type", "")).startswith("Chart.")]
    result = render_card(browser, card, f"readiness-{name}")
    assert result["failures"] == []
    assert result["height"] > 200
    titles = {a["title"] for a in actions(card)}
    assert titles <= set(result["buttons"]), (titles, result["buttons"])
