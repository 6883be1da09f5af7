"""The incident cards rendered by the official Adaptive Cards JS renderer in headless Chromium."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Browser

from tests.browser import render_card
from tests.notifications.test_incident_card import CASES


@pytest.mark.browser
@pytest.mark.parametrize("name", sorted(CASES))
def test_incident_card_renders(browser: Browser, name: str) -> None:
    card: dict[str, Any] = CASES[name]()
    result = render_card(browser, card, f"incident-{name}", width=540)
    assert result["failures"] == []
    assert result["height"] > 200
    assert "Open in Microsoft Defender" in result["buttons"]
    if name == "example":
        for title in ("I've completed this action", "Skip this action", "Acknowledge"):
            assert title in result["buttons"]
