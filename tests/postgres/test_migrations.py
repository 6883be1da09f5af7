"""Numbered migrations: applied once under an advisory lock; a newer schema stops start-up."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import aiohttp
import psycopg
import pytest

from bot.storage.postgres import PostgresStore, SchemaTooNewError, migrations, redact
from tests.e2e.harness import free_port
from tests.postgres.instances import instance


def _versions(url: str) -> list[int]:
    with psycopg.connect(url) as conn:
        return [r[0] for r in conn.execute("SELECT version FROM schema_migrations ORDER BY 1")]


async def test_three_instances_starting_at_once_apply_each_migration_once(pg_url: str) -> None:
    stores = [PostgresStore(pg_url) for _ in range(3)]
    await asyncio.gather(*(s.open() for s in stores))
    known = [m.version for m in migrations()]
    assert _versions(pg_url) == known
    for s in stores:
        assert await s.write(f"k/{id(s)}", {"ok": True}, etag=None)
    await asyncio.gather(*(s.close() for s in stores))


def test_three_processes_starting_at_once_apply_each_migration_once(pg_url: str) -> None:
    script = (
        "import asyncio, sys\n"
        "from bot.storage.postgres import PostgresStore, apply_migrations\n"
        "async def main():\n"
        "    s = PostgresStore(sys.argv[1])\n"
        "    await s.pool.open(wait=True)\n"
        "    async with s.pool.connection() as conn:\n"
        "        print(','.join(map(str, await apply_migrations(conn))))\n"
        "    await s.close()\n"
        "asyncio.run(main())\n"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", script, pg_url], stdout=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    outputs = [p.communicate(timeout=120)[0].strip() for p in procs]
    assert all(p.returncode == 0 for p in procs)
    applied = [int(v) for out in outputs for v in out.split(",") if v]
    known = [m.version for m in migrations()]
    assert sorted(applied) == known, outputs
    assert _versions(pg_url) == known


async def test_reopening_applies_nothing_and_keeps_data(pg_url: str) -> None:
    first = PostgresStore(pg_url)
    await first.open()
    await first.write("k", {"v": 1}, etag=None)
    await first.close()
    again = PostgresStore(pg_url)
    await again.open()
    assert (await again.read("k")).value == {"v": 1}  # type: ignore[union-attr]
    await again.close()
    assert _versions(pg_url) == [m.version for m in migrations()]


async def test_a_newer_schema_stops_start_up(pg_url: str) -> None:
    store = PostgresStore(pg_url)
    await store.open()
    await store.close()
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("INSERT INTO schema_migrations(version, name) VALUES (999, 'future')")
    newer = PostgresStore(pg_url)
    with pytest.raises(SchemaTooNewError, match="version 999, newer than this build"):
        await newer.open()
    await newer.close()


def test_the_bot_refuses_to_start_on_a_newer_schema(pg_url: str) -> None:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, "
            "applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
        )
        conn.execute("INSERT INTO schema_migrations(version, name) VALUES (999, 'future')")
    env = {**os.environ, "STORAGE_URL": pg_url, "PORT": str(free_port())}
    result = subprocess.run(
        [sys.executable, "-m", "bot"], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 2
    assert "newer than this build of the bot knows" in result.stderr
    assert "Traceback" not in result.stderr


async def test_an_unreachable_database_is_a_clear_start_up_error(tmp_path: object) -> None:
    store = PostgresStore(f"postgresql://bot:secret@/none?host={tmp_path}", open_timeout=0.5)
    with pytest.raises(Exception, match="can't connect to PostgreSQL") as info:
        await store.open()
    assert "secret" not in str(info.value)
    await store.close()


def test_redact_hides_the_password() -> None:
    assert redact("postgresql://bot:s3cret@db:5432/bot") == "postgresql://bot:***@db:5432/bot"
    assert redact("postgresql://bot@db/bot") == "postgresql://bot@db/bot"


async def test_three_bots_starting_at_once_on_an_empty_database_migrate_once(
    pg_url: str, tmp_path: Path
) -> None:
    """Three ``python -m bot`` processes started together against an empty database: each
    migration is applied by exactly one of them (their logs say which), all three serve."""
    bots = [instance(pg_url, tmp_path, name) for name in ("a", "b", "c")]
    try:
        await asyncio.gather(*(asyncio.to_thread(bot.start) for bot in bots))
        known = [m.version for m in migrations()]
        assert _versions(pg_url) == known
        applied = [
            line
            for bot in bots
            for line in bot.log_text().splitlines()
            if "applied database migration" in line
        ]
        assert sorted(int(line.rsplit(" ", 1)[1][:4]) for line in applied) == known
        async with aiohttp.ClientSession() as http:
            for bot in bots:
                async with http.get(f"{bot.base_url}/readyz") as response:
                    assert response.status == 200
    finally:
        for bot in bots:
            bot.stop()
