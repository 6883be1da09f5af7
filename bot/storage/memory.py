"""In-process store for unit tests; same contract as the durable ones."""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any

from bot.errors import ConcurrencyError
from bot.storage.base import ANY_ETAG, Item, Store, make_etag, segment_of, validate_key


class MemoryStore(Store):
    def __init__(self) -> None:
        self._items: dict[str, tuple[str, str]] = {}

    async def read(self, key: str) -> Item | None:
        found = self._items.get(validate_key(key))
        if found is None:
            return None
        return Item(value=json.loads(found[0]), etag=found[1])

    async def write(self, key: str, value: Mapping[str, Any], *, etag: str | None) -> str:
        validate_key(key)
        body = json.dumps(copy.deepcopy(dict(value)), separators=(",", ":"))
        current = self._items.get(key)
        if etag is None and current is not None:
            raise ConcurrencyError(f"{key} already exists")
        if etag not in (None, ANY_ETAG) and (current is None or current[1] != etag):
            raise ConcurrencyError(f"{key} was changed by someone else")
        new_etag = make_etag()
        self._items[key] = (body, new_etag)
        return new_etag

    async def delete(self, key: str, *, etag: str | None = None) -> bool:
        current = self._items.get(validate_key(key))
        if current is None:
            return False
        if etag not in (None, ANY_ETAG) and current[1] != etag:
            raise ConcurrencyError(f"{key} was changed by someone else")
        del self._items[key]
        return True

    async def list_keys(self, prefix: str) -> list[str]:
        return sorted(k for k in self._items if k.startswith(prefix))

    async def list_segments(self, prefix: str) -> list[str]:
        return sorted({segment_of(prefix, k) for k in self._items if k.startswith(prefix)})
