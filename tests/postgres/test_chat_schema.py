"""The chat's PostgreSQL tables (migrations) keep up with its SQLite schema."""

from __future__ import annotations

import sqlite3

import psycopg

from bot.storage.postgres import PostgresStore
from bot.storage.sqlite_chat_rows import SCHEMA


async def test_every_sqlite_chat_column_exists_in_postgresql(pg_url: str) -> None:
    store = PostgresStore(pg_url)
    await store.open()
    await store.close()
    lite = sqlite3.connect(":memory:")
    lite.executescript(SCHEMA)
    tables = [r[0] for r in lite.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    tables = [t for t in tables if t.startswith("chat_")]
    assert tables
    with psycopg.connect(pg_url) as pg:
        for table in tables:
            want = {r[1] for r in lite.execute(f'PRAGMA table_info("{table}")')}
            have = {
                r[0]
                for r in pg.execute(
                    "SELECT column_name FROM information_schema.columns WHERE table_name = %s",
                    (table,),
                )
            }
            assert want <= have, (table, want - have)
