"""Fixtures for end-to-end tests: the bot process and the Agents Playground, on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from playwright.async_api import expect as async_expect
from playwright.sync_api import expect as sync_expect

from tests.e2e.harness import REPO_ROOT, BotProcess, Playground, PlaygroundClient

OUTPUT = REPO_ROOT / "test-output" / "e2e"

# A browser assertion waits for what the page shows after the bot, the Playground and Chromium
# have each had their turn; on a loaded 2-core machine that takes longer than Playwright's 5 s
# default. The same bound as the pages' own default timeout in these tests.
EXPECT_TIMEOUT_MS = 20_000
sync_expect.set_options(timeout=EXPECT_TIMEOUT_MS)
async_expect.set_options(timeout=EXPECT_TIMEOUT_MS)


@pytest.fixture(scope="module")
def e2e_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("e2e")


@pytest.fixture(scope="module")
def bot(e2e_dir: Path) -> Iterator[BotProcess]:
    process = BotProcess({"BOT_DATA_DIR": str(e2e_dir / "data")}, e2e_dir / "logs")
    process.start()
    yield process
    process.stop()


@pytest.fixture(scope="module")
def playground(bot: BotProcess, e2e_dir: Path) -> Iterator[Playground]:
    pg = Playground(bot.messaging_endpoint, e2e_dir / "playground")
    pg.start()
    yield pg
    pg.stop()
    assert pg.blocked_connections() == [], "the Playground tried to leave loopback"


@pytest.fixture
async def client(playground: Playground) -> AsyncIterator[PlaygroundClient]:
    c = PlaygroundClient(playground.base_url)
    await c.connect()
    yield c
    await c.close()
