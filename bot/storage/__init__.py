"""The Store port and its adapters: memory (tests), SQLite (embedded default), each with its
notification ledger. The composition root (:mod:`bot.app`) chooses one from STORAGE_URL."""

from bot.storage.base import Item, Store

__all__ = ["Item", "Store"]
