"""SQLite store: the embedded default. WAL journal, full fsync, one connection per process."""

from __future__ import annotations

import asyncio
import functools
import json
import sqlite3
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from bot.errors import ConcurrencyError
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
from bot.storage.codec import dumps

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    etag TEXT NOT NULL,
    updated_at REAL NOT NULL DEFAULT (((julianday('now') - 2440587.5) * 86400.0))
);
"""


class SqliteStore(Store):
    """Runs every statement on a worker thread so that the event loop never blocks on disk.

    Writes go through one connection, one immediate transaction at a time. Reads use read-only
    connections: in WAL mode they see the last commit without waiting for the writer's lock or
    its fsync (so a read never queues behind a group commit being written). A read of one row
    by its key (:meth:`read`, :meth:`read_now`) runs on the caller's thread: it finds its page
    in the cache in microseconds, less than handing it to a worker thread costs. Other reads
    (:meth:`reading`) and every write run on a worker thread. :meth:`etag` is such a lookup too.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(
            self.path, check_same_thread=False, isolation_level=None, timeout=30
        )
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.executescript(_SCHEMA)
        self._read_lock = threading.Lock()
        self._reader = sqlite3.connect(
            self.path, check_same_thread=False, isolation_level=None, timeout=30
        )
        self._reader.execute("PRAGMA query_only=ON")
        self._point_lock = threading.Lock()
        self._point = sqlite3.connect(
            self.path, check_same_thread=False, isolation_level=None, timeout=30
        )
        self._point.execute("PRAGMA query_only=ON")

    def run_locked(self, fn: Callable[[sqlite3.Connection], T], *, durable: bool = True) -> T:
        """Run ``fn`` inside one immediate transaction, serialized with every other statement.

        ``durable=False`` commits without its own fsync (``synchronous=NORMAL`` for this
        transaction): for state a crash may lose because start-up recreates it (a delivery
        lease). The next durable commit's fsync of the WAL makes it durable too, and it never
        reorders: what a durable commit returned for stays on disk."""
        with self._lock:
            if not durable:
                self._conn.execute("PRAGMA synchronous=NORMAL")
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    result = fn(self._conn)
                except BaseException:
                    self._conn.execute("ROLLBACK")
                    raise
                self._conn.execute("COMMIT")
            finally:
                if not durable:
                    self._conn.execute("PRAGMA synchronous=FULL")
            return result

    async def transaction(
        self, fn: Callable[[sqlite3.Connection], T], *, durable: bool = True
    ) -> T:
        return await asyncio.to_thread(functools.partial(self.run_locked, fn, durable=durable))

    def _read_locked(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        with self._read_lock:
            return fn(self._reader)

    async def reading(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` on a read-only connection, on a worker thread (it sees the last commit)."""
        return await asyncio.to_thread(self._read_locked, fn)

    def read_now(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn``, a lookup of one row by its key, on a read-only connection on this
        thread (it sees the last commit)."""
        with self._point_lock:
            return fn(self._point)

    async def read(self, key: str) -> Item | None:
        validate_key(key)

        def op(conn: sqlite3.Connection) -> Item | None:
            row = conn.execute("SELECT value, etag FROM documents WHERE key = ?", (key,)).fetchone()
            return None if row is None else Item(value=json.loads(row[0]), etag=row[1])

        return self.read_now(op)

    async def etag(self, key: str) -> str | None:
        validate_key(key)

        def op(conn: sqlite3.Connection) -> str | None:
            row = conn.execute("SELECT etag FROM documents WHERE key = ?", (key,)).fetchone()
            return None if row is None else str(row[0])

        return self.read_now(op)

    async def write(self, key: str, value: Mapping[str, Any], *, etag: str | None) -> str:
        validate_key(key)
        body = dumps(dict(value))
        new_etag = make_etag()

        def op(conn: sqlite3.Connection) -> str:
            self.write_in(conn, key, body, etag, new_etag)
            return new_etag

        return await self.transaction(op)

    @staticmethod
    def write_in(
        conn: sqlite3.Connection, key: str, body: str, etag: str | None, new_etag: str
    ) -> None:
        """Conditional write inside a caller's transaction, in one statement: create (no
        ETag: the key must not exist), overwrite (``ANY_ETAG``) or replace the version with
        that ETag."""
        if etag is None:
            try:
                conn.execute(
                    "INSERT INTO documents(key, value, etag) VALUES (?, ?, ?)",
                    (key, body, new_etag),
                )
            except sqlite3.IntegrityError:
                raise ConcurrencyError(f"{key} already exists") from None
            return
        if etag == ANY_ETAG:
            conn.execute(
                "INSERT INTO documents(key, value, etag) VALUES (?, ?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value, etag = excluded.etag, "
                "updated_at = ((julianday('now') - 2440587.5) * 86400.0)",
                (key, body, new_etag),
            )
            return
        changed = conn.execute(
            "UPDATE documents SET value = ?, etag = ?, "
            "updated_at = ((julianday('now') - 2440587.5) * 86400.0) WHERE key = ? AND etag = ?",
            (body, new_etag, key, etag),
        )
        if changed.rowcount != 1:
            raise ConcurrencyError(f"{key} was changed by someone else")

    async def delete(self, key: str, *, etag: str | None = None) -> bool:
        validate_key(key)

        def op(conn: sqlite3.Connection) -> bool:
            row = conn.execute("SELECT etag FROM documents WHERE key = ?", (key,)).fetchone()
            if row is None:
                return False
            if etag not in (None, ANY_ETAG) and row[0] != etag:
                raise ConcurrencyError(f"{key} was changed by someone else")
            conn.execute("DELETE FROM documents WHERE key = ?", (key,))
            return True

        return await self.transaction(op)

    async def list_keys(self, prefix: str) -> list[str]:
        def op(conn: sqlite3.Connection) -> list[str]:
            # A range of the primary key (keys compare as UTF-8 bytes, in code point order):
            # every key that starts with the prefix is at or after it and before the prefix
            # with its last character incremented.
            if prefix and ord(prefix[-1]) < 0x10FFFF:
                upper = prefix[:-1] + chr(ord(prefix[-1]) + 1)
                rows = conn.execute(
                    "SELECT key FROM documents WHERE key >= ? AND key < ? ORDER BY key",
                    (prefix, upper),
                ).fetchall()
            else:
                rows = conn.execute(
                    "SELECT key FROM documents WHERE substr(key, 1, ?) = ? ORDER BY key",
                    (len(prefix), prefix),
                ).fetchall()
            return [r[0] for r in rows if r[0].startswith(prefix)]

        return await self.reading(op)

    async def list_segments(self, prefix: str) -> list[str]:
        """A skip-scan of the primary key: one lookup of the first key past the last segment
        found, per segment."""
        end = prefix_end(prefix)
        query = (
            "SELECT min(key) FROM documents WHERE key >= ?"
            if end is None
            else "SELECT min(key) FROM documents WHERE key >= ? AND key < ?"
        )

        def op(conn: sqlite3.Connection) -> list[str]:
            segments: set[str] = set()
            bound = prefix
            while True:
                row = conn.execute(query, (bound,) if end is None else (bound, end)).fetchone()
                key = row[0]
                if key is None or not key.startswith(prefix):
                    return sorted(segments)
                segments.add(segment_of(prefix, key))
                bound = next_bound(prefix, key)

        return await self.reading(op)

    async def close(self) -> None:
        with self._point_lock:
            self._point.close()
        with self._read_lock:
            self._reader.close()
        with self._lock:
            self._conn.close()
