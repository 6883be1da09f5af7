"""Every card rendered by the official Adaptive Cards JS renderer in headless Chromium."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Browser

from cards import to_json
from tests.browser import render_card
from tests.cards.test_cards import CASES
from tests.support import actions


@pytest.mark.browser
@pytest.mark.parametrize("name", sorted(CASES))
def test_card_renders_without_errors(browser: Browser, name: str) -> None:
    card: dict[str, Any] = to_json(CASES[name]())
    result = render_card(browser, card, name)
    assert result["failures"] == []
    assert result["height"] > 50
    titles = {a["title"] for a in actions(card)}
    assert titles <= set(result["buttons"]), (titles, result["buttons"])
