"""The Store port: JSON documents by key, with ETag optimistic concurrency."""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

JSON = dict[str, Any]

POSTGRES_SCHEMES = ("postgresql://", "postgres://")

ANY_ETAG = "*"
"""Pass as ``etag`` to overwrite whatever is there."""
_CONTROL = re.compile(r"[\x00-\x1f]")


@dataclass(frozen=True)
class Item:
    """A stored document and the ETag it had when read."""

    value: JSON
    etag: str


class Store(ABC):
    """Documents by key. Every write is atomic and durable before it returns.

    ``write(key, value, etag=None)`` creates and fails if the key exists;
    ``etag="*"`` overwrites unconditionally; any other etag must match the stored one.
    A failed check raises :class:`bot.errors.ConcurrencyError` and changes nothing.
    """

    @abstractmethod
    async def read(self, key: str) -> Item | None: ...

    @abstractmethod
    async def write(self, key: str, value: Mapping[str, Any], *, etag: str | None) -> str: ...

    @abstractmethod
    async def delete(self, key: str, *, etag: str | None = None) -> bool: ...

    @abstractmethod
    async def list_keys(self, prefix: str) -> list[str]: ...

    async def open(self) -> None:  # noqa: B027 - optional hook
        """Connect and bring the schema up to date, where the store needs it (start-up)."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources."""


def validate_key(key: str) -> str:
    if not key or len(key) > 512 or _CONTROL.search(key):
        raise ValueError("storage keys must be 1-512 printable characters")
    return key
