"""At shutdown the composition root closes the report's own read-only SQLite connection (the
report query reads the store's file with a connection of its own), before the storage."""

from __future__ import annotations

import os
from pathlib import Path

from aiohttp.test_utils import TestServer

from bot.config import Settings
from bot.transport.web import create_app


def open_files(path: Path) -> int:
    """How many of this process's file descriptors are open on ``path``."""
    fds = Path("/proc/self/fd")
    count = 0
    for fd in fds.iterdir():
        try:
            if Path(os.readlink(fd)) == path:
                count += 1
        except OSError:  # closed between the listing and the look
            continue
    return count


async def test_shutdown_closes_every_connection_to_the_store_s_file(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    database = (tmp_path / "bot.sqlite3").resolve()
    server = TestServer(create_app(settings), host="127.0.0.1")
    await server.start_server()
    assert open_files(database) >= 2  # the store's connection and the report query's
    await server.close()
    assert open_files(database) == 0
