"""Storage port and its adapters: memory (tests), SQLite (embedded default)."""

from bot.storage.base import Item, Store, open_store

__all__ = ["Item", "Store", "open_store"]
