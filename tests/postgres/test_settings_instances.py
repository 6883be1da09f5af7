"""Two admins editing settings through two instances at once: no lost update."""

from __future__ import annotations

import asyncio

from bot.errors import ConcurrencyError
from bot.storage.postgres import PostgresStore


async def test_two_instances_writing_one_settings_document_never_lose_an_update(
    pg_url: str,
) -> None:
    """Each instance has its own pool; both read the same version and write it back with its
    ETag. Exactly one write wins; the other is refused and changes nothing, as on one
    instance (the onboarding service then shows that admin the current step)."""
    a, b = PostgresStore(pg_url), PostgresStore(pg_url)
    await asyncio.gather(a.open(), b.open())
    key = "tenants/t/settings"
    await a.write(key, {"version": 1, "respond": False}, etag=None)
    for round_ in range(20):
        seen_a, seen_b = await asyncio.gather(a.read(key), b.read(key))
        assert seen_a is not None and seen_b is not None and seen_a.etag == seen_b.etag
        version = seen_a.value["version"]
        results = await asyncio.gather(
            a.write(key, {"version": version + 1, "by": "a"}, etag=seen_a.etag),
            b.write(key, {"version": version + 1, "by": "b"}, etag=seen_b.etag),
            return_exceptions=True,
        )
        won = [r for r in results if isinstance(r, str)]
        lost = [r for r in results if isinstance(r, ConcurrencyError)]
        assert len(won) == 1 and len(lost) == 1, (round_, results)
        final = await a.read(key)
        assert final is not None and final.etag == won[0]
        assert final.value["version"] == version + 1
    assert (await b.read(key)).value["version"] == 21  # type: ignore[union-attr]
    await asyncio.gather(a.close(), b.close())
