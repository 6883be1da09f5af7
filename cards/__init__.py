"""Adaptive Card builders: pure functions from view models to typed cards (version 1.5)."""

from cards.common import CARD_CONTENT_TYPE, CARD_VERSION, to_json

__all__ = ["CARD_CONTENT_TYPE", "CARD_VERSION", "to_json"]
