"""PostgreSQL store: several instances share one database (psycopg 3, async, connection pool).

The schema is versioned by numbered migrations (``bot/storage/migrations/NNNN_name.sql``),
applied at start-up under an advisory lock, so that instances starting together apply each
exactly once. A database whose schema is newer than this build stops start-up.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from importlib import resources
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from psycopg import AsyncConnection, AsyncCursor
from psycopg_pool import AsyncConnectionPool

from bot.errors import ConcurrencyError, ConfigError
from bot.storage.base import (
    ANY_ETAG,
    Item,
    Store,
    make_etag,
    next_bound,
    prefix_end,
    segment_of,
    validate_key,
)

log = logging.getLogger(__name__)

MIGRATION_LOCK = 0x44455854_0001
"""The advisory lock (one bigint) held while migrations are checked and applied."""

_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


class SchemaTooNewError(ConfigError):
    """The database was migrated by a newer build of the bot."""


def migrations() -> list[Migration]:
    """The numbered migrations this build knows, in order."""
    found = []
    for entry in resources.files("bot.storage").joinpath("migrations").iterdir():
        m = _NAME.match(entry.name)
        if m:
            found.append(Migration(int(m.group(1)), m.group(2), entry.read_text("utf-8")))
    found.sort(key=lambda m: m.version)
    if [m.version for m in found] != list(range(1, len(found) + 1)):
        raise RuntimeError("migrations must be numbered 0001, 0002, ... without gaps")
    return found


def redact(url: str) -> str:
    """The URL without its password, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    user = netloc[0].split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc[1]}"))


async def apply_migrations(conn: AsyncConnection[Any]) -> list[int]:
    """Bring the schema up to date; returns the versions applied by this call.

    The session-level advisory lock serializes every instance's check-and-apply; each migration
    and its ``schema_migrations`` row commit together."""
    known = migrations()
    latest = known[-1].version
    await conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK,))
    try:
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
            "name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
        )
        cur = await conn.execute("SELECT coalesce(max(version), 0) FROM schema_migrations")
        row = await cur.fetchone()
        current = int(row[0]) if row else 0
        if current > latest:
            raise SchemaTooNewError(
                f"the database schema is at version {current}, newer than this build of the "
                f"bot knows (up to {latest}): deploy the newer build, or point STORAGE_URL at "
                "the database of this version"
            )
        applied = []
        for m in known:
            if m.version <= current:
                continue
            async with conn.transaction():
                await conn.execute(m.sql.encode())
                await conn.execute(
                    "INSERT INTO schema_migrations(version, name) VALUES (%s, %s)",
                    (m.version, m.name),
                )
            log.info("applied database migration %04d_%s", m.version, m.name)
            applied.append(m.version)
        return applied
    finally:
        await conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK,))


class PostgresStore(Store):
    """Documents in one table; ETag checks are single conditional statements."""

    def __init__(
        self, url: str, *, min_size: int = 1, max_size: int = 10, open_timeout: float = 30.0
    ) -> None:
        self.url = url
        self.open_timeout = open_timeout
        self.pool: AsyncConnectionPool[AsyncConnection[Any]] = AsyncConnectionPool(
            url,
            min_size=min_size,
            max_size=max_size,
            open=False,
            kwargs={"autocommit": True},
            name="bot",
        )
        self._opened = False

    async def open(self) -> None:
        """Connect and migrate. Start-up fails here, with a message, if the database can't be
        used."""
        if self._opened:
            return
        try:
            await self.pool.open(wait=True, timeout=self.open_timeout)
        except Exception as exc:
            raise ConfigError(
                f"STORAGE_URL {redact(self.url)}: can't connect to PostgreSQL ({exc})"
            ) from None
        self._opened = True
        async with self.pool.connection() as conn:
            await apply_migrations(conn)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncCursor[Any]]:
        """A cursor inside one transaction, committed when the block ends."""
        await self.open()
        async with self.pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            yield cur

    async def read(self, key: str) -> Item | None:
        validate_key(key)
        async with self.transaction() as cur:
            await cur.execute("SELECT value, etag FROM documents WHERE key = %s", (key,))
            row = await cur.fetchone()
        return None if row is None else Item(value=json.loads(row[0]), etag=row[1])

    async def etag(self, key: str) -> str | None:
        validate_key(key)
        async with self.transaction() as cur:
            await cur.execute("SELECT etag FROM documents WHERE key = %s", (key,))
            row = await cur.fetchone()
        return None if row is None else str(row[0])

    async def write(self, key: str, value: Mapping[str, Any], *, etag: str | None) -> str:
        validate_key(key)
        body = json.dumps(dict(value), separators=(",", ":"))
        new_etag = make_etag()
        async with self.transaction() as cur:
            await self.write_in(cur, key, body, etag, new_etag)
        return new_etag

    @staticmethod
    async def write_in(
        cur: AsyncCursor[Any], key: str, body: str, etag: str | None, new_etag: str
    ) -> None:
        """Conditional write inside a caller's transaction."""
        if etag is None:
            await cur.execute(
                "INSERT INTO documents(key, value, etag) VALUES (%s, %s, %s) "
                "ON CONFLICT (key) DO NOTHING",
                (key, body, new_etag),
            )
            if cur.rowcount != 1:
                raise ConcurrencyError(f"{key} already exists")
        elif etag == ANY_ETAG:
            await cur.execute(
                "INSERT INTO documents(key, value, etag) VALUES (%s, %s, %s) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value, etag = excluded.etag, "
                "updated_at = extract(epoch FROM clock_timestamp())",
                (key, body, new_etag),
            )
        else:
            await cur.execute(
                "UPDATE documents SET value = %s, etag = %s, "
                "updated_at = extract(epoch FROM clock_timestamp()) WHERE key = %s AND etag = %s",
                (body, new_etag, key, etag),
            )
            if cur.rowcount != 1:
                raise ConcurrencyError(f"{key} was changed by someone else")

    async def delete(self, key: str, *, etag: str | None = None) -> bool:
        validate_key(key)
        async with self.transaction() as cur:
            if etag in (None, ANY_ETAG):
                await cur.execute("DELETE FROM documents WHERE key = %s", (key,))
                return cur.rowcount == 1
            await cur.execute("DELETE FROM documents WHERE key = %s AND etag = %s", (key, etag))
            if cur.rowcount == 1:
                return True
            await cur.execute("SELECT 1 FROM documents WHERE key = %s", (key,))
            if await cur.fetchone() is not None:
                raise ConcurrencyError(f"{key} was changed by someone else")
            return False

    async def list_keys(self, prefix: str) -> list[str]:
        """Keys under ``prefix``, as a range of the primary key (``COLLATE "C"``: byte order),
        so the scan costs the keys listed, not the table."""
        params: tuple[str | int, ...] = ()
        query = "SELECT key FROM documents ORDER BY key"
        if prefix:
            upper = prefix[:-1] + chr(ord(prefix[-1]) + 1)
            query = (
                "SELECT key FROM documents WHERE key >= %s AND key < %s AND left(key, %s) = %s "
                "ORDER BY key"
            )
            params = (prefix, upper, len(prefix), prefix)
        async with self.transaction() as cur:
            await cur.execute(query, params)
            return [r[0] for r in await cur.fetchall()]

    async def list_segments(self, prefix: str) -> list[str]:
        """A skip-scan of the primary key (``min(key)`` over a range is one index lookup),
        one lookup per segment, in one transaction."""
        end = prefix_end(prefix)
        query = (
            "SELECT min(key) FROM documents WHERE key >= %s"
            if end is None
            else "SELECT min(key) FROM documents WHERE key >= %s AND key < %s"
        )
        segments: set[str] = set()
        bound = prefix
        async with self.transaction() as cur:
            while True:
                await cur.execute(query, (bound,) if end is None else (bound, end))
                row = await cur.fetchone()
                key = None if row is None else row[0]
                if key is None or not key.startswith(prefix):
                    return sorted(segments)
                segments.add(segment_of(prefix, key))
                bound = next_bound(prefix, key)

    async def close(self) -> None:
        await self.pool.close()
