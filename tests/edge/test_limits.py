"""Malformed activities get 400, not 500; the server's header, body and connection limits;
local mode stays on loopback."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from bot.app import open_storage
from bot.config import Settings
from bot.errors import ConfigError
from bot.logsafe import (
    MAX_MESSAGE_CHARS,
    MAX_TRACEBACK_CHARS,
    BoundedFormatter,
    FailureLog,
    RateLimitedLog,
    RepeatFilter,
)
from bot.transport import limits
from bot.transport.web import create_app
from tests.standins.connector import ConnectorStandIn
from tests.transport.test_endpoint import activity

ClientFactory = Callable[..., Awaitable[TestClient[Any, Any]]]
URL = "https://smba.trafficmanager.net/emea/"


@pytest.fixture
async def bot(aiohttp_client: ClientFactory, tmp_path: Path) -> TestClient[Any, Any]:
    return await aiohttp_client(
        create_app(Settings(data_dir=tmp_path), storage=open_storage("memory://"))
    )


class Raw(str):
    """A JSON fragment put into the body as it is (json.dumps can't nest 1000 levels)."""


MALFORMED: dict[str, tuple[Any, str]] = {
    "timestamp not a date": ({"timestamp": "x"}, "timestamp"),
    "localTimestamp not a date": ({"localTimestamp": "yesterday"}, "localTimestamp"),
    "expiration not a date": ({"expiration": 12}, "expiration"),
    "huge timestamp": ({"timestamp": "9" * 250_000}, "timestamp"),
    "from is a string": ({"from": "alex"}, "from"),
    "recipient is a list": ({"recipient": []}, "recipient"),
    "conversation is a number": ({"conversation": 3}, "conversation"),
    "entities not a list": ({"entities": {"type": "mention"}}, "entities"),
    "attachments not a list": ({"attachments": "x"}, "attachments"),
    "type not a string": ({"type": 5}, "type"),
    "channelData.tenant a string": ({"channelData": {"tenant": "t"}}, "channelData.tenant"),
    "membersAdded of strings": ({"membersAdded": ["x"]}, "membersAdded.0"),
    "nested 1000 levels": (
        {"value": Raw('{"a":' * 1000 + "{}" + "}" * 1000)},
        "nested deeper than",
    ),
}


@pytest.mark.parametrize("case", list(MALFORMED))
async def test_malformed_activities_get_400_with_a_short_reason(
    bot: TestClient[Any, Any], case: str, caplog: pytest.LogCaptureFixture
) -> None:
    fields, where = MALFORMED[case]
    plain = {k: v for k, v in fields.items() if not isinstance(v, Raw)}
    text = json.dumps({**activity(URL, text="help"), **plain})
    for key, raw in fields.items():
        if isinstance(raw, Raw):
            text = text[:-1] + f', "{key}": {raw}}}'
    with caplog.at_level(logging.DEBUG):
        response = await bot.post(
            "/api/messages",
            data=text.encode(),
            headers={"Content-Type": "application/json"},
        )
    assert response.status in (400, 413)
    text = await response.text()
    assert len(text) < 300
    if response.status == 400:
        assert where in text
    assert sum(len(r.getMessage()) for r in caplog.records) < 2_000


async def test_json_nested_past_the_parser_limit_is_400(bot: TestClient[Any, Any]) -> None:
    response = await bot.post(
        "/api/messages", data=b"[" * 200_000, headers={"Content-Type": "application/json"}
    )
    assert response.status == 400


# --- server limits ------------------------------------------------------------------------


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Callable[..., Awaitable[tuple[str, int]]]]:
    runners: list[web.AppRunner] = []

    async def serve(**env: str) -> tuple[str, int]:
        settings = dataclasses.replace(
            Settings.from_env({"BOT_DATA_DIR": str(tmp_path), **env}), port=0
        )
        runner = await limits.start(
            create_app(settings, storage=open_storage("memory://")), settings
        )
        runners.append(runner)
        host, port = runner.addresses[0][:2]
        return host, port

    yield serve
    for runner in runners:
        await runner.cleanup()


async def test_slow_headers_are_cut_off(served: Any) -> None:
    host, port = await served(HEADER_TIMEOUT_SECONDS="0.2")
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(b"POST /api/messages HTTP/1.1\r\nHost: x\r\n")
    await writer.drain()
    assert await reader.read() == b""  # closed by the server, no request ever handled
    writer.close()


async def test_a_body_that_does_not_arrive_gets_408(served: Any) -> None:
    host, port = await served(BODY_TIMEOUT_SECONDS="0.2")
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(
        b"POST /api/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b'Content-Length: 100\r\n\r\n{"type":'
    )
    await writer.drain()
    assert (await reader.readline()).startswith(b"HTTP/1.1 408")
    writer.close()


async def test_connections_beyond_the_cap_get_503(served: Any) -> None:
    host, port = await served(MAX_CONNECTIONS="2")
    held = [await asyncio.open_connection(host, port) for _ in range(2)]
    reader, writer = await asyncio.open_connection(host, port)
    assert (await reader.read()).startswith(b"HTTP/1.1 503")
    writer.close()
    for _, w in held:
        w.close()


def test_local_mode_refuses_to_listen_on_the_network() -> None:
    assert Settings.from_env({}).host == "127.0.0.1"
    with pytest.raises(ConfigError, match="ALLOW_ANONYMOUS_ON_NETWORK"):
        Settings.from_env({"HOST": "0.0.0.0"})  # noqa: S104 - the point of the test
    allowed = {"HOST": "0.0.0.0", "ALLOW_ANONYMOUS_ON_NETWORK": "true"}  # noqa: S104
    assert Settings.from_env(allowed).allow_anonymous_on_network
    with_app = {"HOST": "0.0.0.0", "MicrosoftAppId": "a", "MicrosoftAppPassword": "p"}  # noqa: S104
    assert Settings.from_env(with_app).app_id == "a"
    assert Settings.from_env({"HOST": "127.0.0.2"}).host == "127.0.0.2"
    with pytest.raises(ConfigError, match="true or false"):
        Settings.from_env({"ALLOW_ANONYMOUS_ON_NETWORK": "yes"})


# --- bounded logs -------------------------------------------------------------------------


class Ticks:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_repeated_lines_are_rate_limited_and_counted(caplog: pytest.LogCaptureFixture) -> None:
    clock = Ticks()
    limited = RateLimitedLog(logging.getLogger("t"), burst=3, period=60, clock=clock)
    with caplog.at_level(logging.WARNING, logger="t"):
        for _ in range(1000):
            limited.warning("bad", "bad request")
        assert len(caplog.records) == 3
        clock.now += 60
        limited.warning("bad", "bad request")
    assert "997 more 'bad' log lines were dropped" in caplog.records[3].getMessage()
    assert len(caplog.records) == 5


def test_a_failure_is_logged_once_per_reference_with_a_bounded_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    failures = FailureLog(logging.getLogger("f"))
    try:
        raise ValueError("x" * 250_000)
    except ValueError as exc:
        error = exc
    with caplog.at_level(logging.ERROR, logger="f"):
        failures.failure("ref-1", "POST /api/messages", error)
        failures.failure("ref-1", "POST /api/messages", error)
        for n in range(50):
            failures.failure(f"ref-{n + 2}", "POST /api/messages", error)
    assert len([r for r in caplog.records if "[ref-1]" in r.getMessage()]) == 1
    assert sum(len(r.getMessage()) for r in caplog.records) < 6 * (MAX_TRACEBACK_CHARS + 200)
    assert all(len(r.getMessage()) < MAX_TRACEBACK_CHARS + 200 for r in caplog.records)


def test_the_formatter_bounds_messages_and_exception_text() -> None:
    formatter = BoundedFormatter("%(message)s")
    try:
        raise RuntimeError("secret-body " * 100_000)
    except RuntimeError:
        import sys

        record = logging.LogRecord(
            "x", logging.ERROR, __file__, 1, "v=%s", ("y" * 100_000,), sys.exc_info()
        )
    text = formatter.format(record)
    assert len(text) < MAX_MESSAGE_CHARS + MAX_TRACEBACK_CHARS + 100
    assert text.count("secret-body") < 30


def test_repeated_templates_are_rate_limited_whatever_their_values() -> None:
    clock = Ticks()
    repeats = RepeatFilter(burst=3, period=10, clock=clock)

    def record(value: str) -> logging.LogRecord:
        return logging.LogRecord("x", logging.WARNING, __file__, 1, "refused %s", (value,), None)

    passed = [repeats.filter(record(f"v{n}")) for n in range(1000)]
    assert passed.count(True) == 3
    other = logging.LogRecord("x", logging.WARNING, __file__, 1, "another %s", ("v",), None)
    assert repeats.filter(other)
    clock.now += 10
    later = record("late")
    assert repeats.filter(later)
    assert later.getMessage() == "[997 similar lines dropped] refused late"


async def test_teams_timestamps_with_seven_fractional_digits_are_accepted(
    bot: TestClient[Any, Any], aiohttp_server: Any
) -> None:
    connector = ConnectorStandIn()
    server = await aiohttp_server(connector.app(), host="127.0.0.1")
    body = activity(
        str(server.make_url("/")),
        text="help",
        timestamp="2019-08-21T21:38:22.4670945Z",
        localTimestamp="2019-08-21T14:38:22.4670945-07:00",
        localTimezone="America/Los_Angeles",
        entities=[{"type": "clientInfo", "locale": "en-US", "country": "US"}],
    )
    response = await bot.post("/api/messages", json=body)
    assert response.status == 201
    assert len(connector.cards()) == 1  # the help card
