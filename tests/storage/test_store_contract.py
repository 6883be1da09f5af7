"""One contract, every Store backend."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.errors import ConcurrencyError
from bot.storage import Store
from bot.storage.base import ANY_ETAG
from bot.storage.memory import MemoryStore
from bot.storage.postgres import PostgresStore
from bot.storage.sqlite import SqliteStore


@pytest.fixture(params=["memory", "sqlite", "postgres"])
async def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    s: Store
    if request.param == "memory":
        s = MemoryStore()
    elif request.param == "sqlite":
        s = SqliteStore(tmp_path / "s.db")
    else:
        s = PostgresStore(request.getfixturevalue("pg_url"))
    await s.open()
    yield s
    await s.close()


async def test_create_read_update_delete(any_store: Store) -> None:
    assert await any_store.read("a/1") is None
    etag = await any_store.write("a/1", {"x": 1, "nested": {"y": [1, 2]}}, etag=None)
    item = await any_store.read("a/1")
    assert item is not None and item.value == {"x": 1, "nested": {"y": [1, 2]}}
    assert item.etag == etag
    etag2 = await any_store.write("a/1", {"x": 2}, etag=etag)
    assert etag2 != etag
    assert (await any_store.read("a/1")).value == {"x": 2}  # type: ignore[union-attr]
    assert await any_store.delete("a/1", etag=etag2)
    assert await any_store.read("a/1") is None
    assert not await any_store.delete("a/1")


async def test_the_etag_alone_tells_whether_a_document_changed(any_store: Store) -> None:
    assert await any_store.etag("e/1") is None
    first = await any_store.write("e/1", {"v": 1}, etag=None)
    assert await any_store.etag("e/1") == first
    second = await any_store.write("e/1", {"v": 1}, etag=ANY_ETAG)  # the same value again
    assert await any_store.etag("e/1") == second != first
    await any_store.delete("e/1")
    assert await any_store.etag("e/1") is None


async def test_create_fails_when_key_exists(any_store: Store) -> None:
    await any_store.write("k", {"v": 1}, etag=None)
    with pytest.raises(ConcurrencyError):
        await any_store.write("k", {"v": 2}, etag=None)
    assert (await any_store.read("k")).value == {"v": 1}  # type: ignore[union-attr]


async def test_stale_etag_changes_nothing(any_store: Store) -> None:
    first = await any_store.write("k", {"v": 1}, etag=None)
    await any_store.write("k", {"v": 2}, etag=first)
    with pytest.raises(ConcurrencyError):
        await any_store.write("k", {"v": 3}, etag=first)
    with pytest.raises(ConcurrencyError):
        await any_store.delete("k", etag=first)
    with pytest.raises(ConcurrencyError):
        await any_store.write("missing", {"v": 3}, etag=first)
    assert (await any_store.read("k")).value == {"v": 2}  # type: ignore[union-attr]


async def test_star_overwrites(any_store: Store) -> None:
    await any_store.write("k", {"v": 1}, etag="*")
    await any_store.write("k", {"v": 2}, etag="*")
    assert (await any_store.read("k")).value == {"v": 2}  # type: ignore[union-attr]


async def test_list_keys_by_prefix(any_store: Store) -> None:
    for key in ("t/1/a", "t/1/b", "t/2/a", "t_1"):
        await any_store.write(key, {}, etag=None)
    assert await any_store.list_keys("t/1/") == ["t/1/a", "t/1/b"]
    assert await any_store.list_keys("t%") == []


async def test_list_segments_lists_each_segment_once(any_store: Store) -> None:
    keys = (
        "t/a",
        "t/a.x/1",
        "t/a/1",
        "t/a/2/deep",
        "t/a0",
        "t/b/x/y",
        "t/Z/1",
        "t/é/1",
        "t_1",
        "u/1",
    )
    for key in keys:
        await any_store.write(key, {}, etag=None)
    assert await any_store.list_segments("t/") == ["Z", "a", "a.x", "a0", "b", "é"]
    assert await any_store.list_segments("t/a/") == ["1", "2"]
    assert await any_store.list_segments("") == ["t", "t_1", "u"]
    assert await any_store.list_segments("t/c/") == []
    # the same answer as listing every key
    for prefix in ("t/", "t/a", "t", ""):
        listed = {k[len(prefix) :].split("/")[0] for k in await any_store.list_keys(prefix)}
        assert await any_store.list_segments(prefix) == sorted(listed)


async def test_read_returns_a_copy(any_store: Store) -> None:
    await any_store.write("k", {"v": [1]}, etag=None)
    item = await any_store.read("k")
    assert item is not None
    item.value["v"].append(2)
    assert (await any_store.read("k")).value == {"v": [1]}  # type: ignore[union-attr]


@pytest.mark.parametrize("key", ["", "x" * 513, "a\x00b"])
async def test_bad_keys_are_refused(any_store: Store, key: str) -> None:
    with pytest.raises(ValueError):
        await any_store.write(key, {}, etag="*")


async def test_only_one_concurrent_creator_wins(any_store: Store) -> None:
    results = await asyncio.gather(
        *(any_store.write("race", {"n": n}, etag=None) for n in range(10)),
        return_exceptions=True,
    )
    assert sum(1 for r in results if isinstance(r, str)) == 1
    assert all(isinstance(r, str | ConcurrencyError) for r in results)


async def test_sqlite_survives_reopen(tmp_path: Path) -> None:
    s = SqliteStore(tmp_path / "d" / "s.db")
    await s.write("k", {"v": 1}, etag=None)
    await s.close()
    again = SqliteStore(tmp_path / "d" / "s.db")
    assert (await again.read("k")).value == {"v": 1}  # type: ignore[union-attr]
    await again.close()
