"""``python -m bot migrate --to postgresql://...``: move a single instance's SQLite data into an
empty PostgreSQL database, for running several instances.

Every table the bot keeps (documents; the notifications outbox, receipts and events; the chat's
conversations, messages, events, receipts and outbox) is copied in one transaction, with its
ids and cursors, after the target's schema is brought up to date. A lease left by the stopped
bot is copied as pending. The counts are compared before the commit; a target that already
holds data is refused, and nothing is written then. Stop the bot before moving its data.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import sys
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from bot.errors import ConfigError
from bot.storage.base import POSTGRES_SCHEMES
from bot.storage.postgres import PostgresStore, redact

# In dependency order; (table, identity column or None).
TABLES: tuple[tuple[str, str | None], ...] = (
    ("documents", None),
    ("notification_outbox", "seq"),
    ("notification_receipts", None),
    ("notification_events", "cursor"),
    ("chat_conversations", None),
    ("chat_messages", "seq"),
    ("chat_events", "cursor"),
    ("chat_receipts", None),
    ("chat_outbox", "seq"),
)
BATCH = 1000


class NotEmptyError(ConfigError):
    """The target database already holds the bot's data."""


def _source_tables(conn: sqlite3.Connection) -> set[str]:
    return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def _target_columns(pg: psycopg.Connection[Any], table: str) -> dict[str, str]:
    rows = pg.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND table_name = %s",
        (table,),
    ).fetchall()
    return {name: kind for name, kind in rows}


def _convert(row: tuple[Any, ...], kinds: list[str]) -> tuple[Any, ...]:
    return tuple(
        bool(v) if kind == "boolean" and v is not None else v
        for v, kind in zip(row, kinds, strict=True)
    )


def copy(source: Path, target_url: str) -> dict[str, int]:
    """Copy and verify; returns the rows copied per table."""
    if not source.is_file():
        raise ConfigError(f"there is no SQLite database at {source}")
    asyncio.run(_prepare(target_url))  # the schema, by the same migrations as start-up
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    try:
        present = _source_tables(src)
        with psycopg.connect(target_url) as pg, pg.transaction():
            for table, _ in TABLES:
                found = pg.execute(
                    sql.SQL("SELECT EXISTS (SELECT 1 FROM {})").format(sql.Identifier(table))
                ).fetchone()
                if found and found[0]:
                    raise NotEmptyError(
                        f"{redact(target_url)} already holds data ({table} is not empty): "
                        "migrate only into an empty database"
                    )
            copied: dict[str, int] = {}
            for table, identity in TABLES:
                if table not in present:
                    continue
                copied[table] = _copy_table(src, pg, table, identity)
            for table, count in copied.items():
                row = pg.execute(
                    sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))
                ).fetchone()
                expected = src.execute(f'SELECT count(*) FROM "{table}"').fetchone()  # noqa: S608
                if row is None or expected is None or row[0] != expected[0] != count:
                    raise RuntimeError(f"{table}: copied {count}, counted {row} of {expected}")
        return copied
    finally:
        src.close()


def _copy_table(
    src: sqlite3.Connection, pg: psycopg.Connection[Any], table: str, identity: str | None
) -> int:
    target = _target_columns(pg, table)
    columns = [r[1] for r in src.execute(f'PRAGMA table_info("{table}")') if r[1] in target]
    kinds = [target[c] for c in columns]
    select = "SELECT " + ", ".join(f'"{c}"' for c in columns) + f' FROM "{table}"'  # noqa: S608
    if identity:
        select += f' ORDER BY "{identity}"'
    insert = sql.SQL("INSERT INTO {} ({}) {} VALUES ({})").format(
        sql.Identifier(table),
        sql.SQL(", ").join(map(sql.Identifier, columns)),
        sql.SQL("OVERRIDING SYSTEM VALUE" if identity else ""),
        sql.SQL(", ").join(sql.Placeholder() * len(columns)),
    )
    count = 0
    cursor = src.execute(select)
    with pg.cursor() as cur:
        while rows := cursor.fetchmany(BATCH):
            cur.executemany(insert, [_convert(r, kinds) for r in rows])
            count += len(rows)
    if "state" in columns and "lease_until" in columns:  # the bot was stopped: no live lease
        pg.execute(
            sql.SQL(
                "UPDATE {} SET state = 'pending', lease_until = NULL WHERE state = 'leased'"
            ).format(sql.Identifier(table))
        )
    if identity:
        pg.execute(
            sql.SQL(
                "SELECT setval(pg_get_serial_sequence(%s, %s), max({}), true) FROM {} "
                "HAVING count(*) > 0"
            ).format(sql.Identifier(identity), sql.Identifier(table)),
            (table, identity),
        )
    return count


async def _prepare(url: str) -> None:
    store = PostgresStore(url, max_size=1)
    try:
        await store.open()
    finally:
        await store.close()


def main(argv: list[str]) -> int:
    from bot.config import Settings

    parser = argparse.ArgumentParser(
        prog="python -m bot migrate",
        description="Copy this bot's SQLite data into an empty PostgreSQL database.",
    )
    parser.add_argument("--to", required=True, help="postgresql://user:password@host/database")
    parser.add_argument(
        "--from",
        dest="source",
        help="the SQLite database (default: STORAGE_URL, or $BOT_DATA_DIR/bot.sqlite3)",
    )
    args = parser.parse_args(argv)
    if not args.to.startswith(POSTGRES_SCHEMES):
        print("--to must be a postgresql:// URL", file=sys.stderr)
        return 2
    try:
        if args.source:
            source = Path(args.source.removeprefix("sqlite:///"))
        else:
            url = Settings.from_env().resolved_storage_url
            if not url.startswith("sqlite:///"):
                raise ConfigError("STORAGE_URL is not a SQLite database: give --from")
            source = Path(url.removeprefix("sqlite:///"))
        copied = copy(source, args.to)
    except ConfigError as exc:
        print(f"migrate: {exc}", file=sys.stderr)
        return 2
    for table, count in copied.items():
        print(f"{table}: {count} row(s) copied and verified")
    print(f"Done: {source} -> {redact(args.to)}. Start the bot with STORAGE_URL set to it.")
    return 0
