"""Reusable pieces for end-to-end tests: the bot and the Agents Playground as subprocesses, and an
async client that drives the Playground's HTTP API the way the Teams client would.

Facts the helpers rely on (Playground 0.2.28, measured):

* Activities the bot sends arrive on ``ws /_ws_conversation/v1/conversations/stream`` as frames
  ``{"action": "createMessage" | "updateMessage" | "typing", "actionConversationId": C,
  "message": {...}}``; frames sent while no client is connected go to the next one to connect.
* ``POST .../conversations/{C}/messages`` always reaches the bot *from the current user*
  (``from.id`` is only checked for membership). Invoke and submit do use ``from.id`` (a member
  of the conversation: in the personal chat only the current user). To act as anyone anywhere,
  build an activity with :meth:`PlaygroundClient.activity_as` and send it with
  :meth:`PlaygroundClient.custom_activity` or :meth:`PlaygroundClient.post_to_bot`.
* In a channel a user message starts a thread ``"<channel>;messageid=<id>"``; the bot's replies
  and later invokes/submits use that thread id as the conversation id.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self, TypeVar
from urllib.parse import quote

import aiohttp

from bot.devtools.playground import (
    CONFIG_FILENAME,
    find_playground,
    load_demo_tenant,
    playground_command,
    playground_env,
    write_config,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
NET_GUARD = REPO_ROOT / "tests" / "tools" / "net-guard.js"
ADAPTIVE_CARD = "application/vnd.microsoft.card.adaptive"

# Variables that would take the bot out of anonymous mode, which the Playground needs.
_CREDENTIAL_VARS = ("MicrosoftAppId", "MicrosoftAppPassword", "MicrosoftAppTenantId")

Frame = dict[str, Any]
Predicate = Callable[[Frame], bool]


T = TypeVar("T")


async def eventually(
    probe: Callable[[], Awaitable[T | None]], what: str, *, timeout: float = 30.0
) -> T:
    """Ask ``probe`` every 50 ms until it answers something other than None, and return that.

    For state another process commits after the effect a test saw (a post shows in the
    Playground before the bot records it): there is no event to wait on across processes, so
    the process's own API or store is polled, bounded. Raises TimeoutError naming ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        found = await probe()
        if found is not None:
            return found
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout:g} s")
        await asyncio.sleep(0.05)


class HarnessError(RuntimeError):
    """A process of the test set-up did not start or misbehaved; the message has its log tail."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def log_tail(path: Path, lines: int = 60) -> str:
    """The last ``lines`` lines of a log file, or a note that it is missing."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return f"<no log at {path}>"
    return "\n".join(text.splitlines()[-lines:])


def _http_get(url: str, timeout: float) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return int(response.status), response.read().decode("utf-8", errors="replace")
    except urllib.error.HTTPError as error:
        return error.code, ""
    except (OSError, urllib.error.URLError):
        return 0, ""


def _terminate(process: subprocess.Popen[bytes], timeout: float) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
    return int(process.returncode)


class BotProcess:
    """The bot as ``python -m bot`` (or another module) on 127.0.0.1, with its output in a log.

    ``env`` is laid over the current environment, minus the Microsoft app credentials (the
    Playground only works with an anonymous bot) unless ``env`` sets them. ``PORT`` is taken from
    ``env`` or picked free. Restarts append to the same log file.
    """

    def __init__(
        self,
        env: Mapping[str, str],
        log_dir: Path,
        *,
        module: str = "bot",
        args: Sequence[str] = (),
        cwd: Path | None = None,
        startup_timeout: float = 20.0,
        name: str = "bot",
    ) -> None:
        self.port = int(env["PORT"]) if env.get("PORT") else free_port()
        base = {k: v for k, v in os.environ.items() if k not in _CREDENTIAL_VARS}
        self.env: dict[str, str] = {
            **base,
            "PYTHONUNBUFFERED": "1",
            **env,
            "PORT": str(self.port),
        }
        self.command = [sys.executable, "-m", module, *args]
        self.cwd = cwd or REPO_ROOT
        self.startup_timeout = startup_timeout
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = log_dir / f"{name}.log"
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def messaging_endpoint(self) -> str:
        return f"{self.base_url}/api/messages"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> Self:
        """Start the process and wait until ``GET /healthz`` answers 200."""
        if self.running:
            raise HarnessError(f"{self.command} is already running (pid {self.pid})")
        self._close_log()
        self._log = self.log_path.open("ab")
        stamp = datetime.now(UTC).isoformat()
        self._log.write(f"--- {stamp} start {' '.join(self.command)}\n".encode())
        self._log.flush()
        self.process = subprocess.Popen(
            self.command,
            cwd=self.cwd,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        try:
            self.wait_healthy()
        except HarnessError:
            self.stop(timeout=2)
            raise
        return self

    def wait_healthy(self) -> None:
        """Poll ``/healthz`` until it answers 200; raise HarnessError with the log tail if not."""
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                code = None if self.process is None else self.process.returncode
                raise HarnessError(
                    f"bot exited with {code} before it was healthy; log {self.log_path}:\n"
                    f"{log_tail(self.log_path)}"
                )
            status, _ = _http_get(f"{self.base_url}/healthz", timeout=1.0)
            if status == 200:
                return
            time.sleep(0.1)
        raise HarnessError(
            f"bot not healthy on {self.base_url} after {self.startup_timeout:.0f} s; "
            f"log {self.log_path}:\n{log_tail(self.log_path)}"
        )

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM, then SIGKILL after ``timeout`` seconds. Returns the exit code."""
        if self.process is None:
            return None
        code = _terminate(self.process, timeout)
        self._close_log()
        return code

    def kill9(self) -> int | None:
        """SIGKILL at once, as a crash would. Returns the exit code."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.kill()
        code = int(self.process.wait(10))
        self._close_log()
        return code

    def restart(self, *, kill: bool = False) -> Self:
        """Stop (or SIGKILL with ``kill=True``) and start again on the same port and data."""
        if kill:
            self.kill9()
        else:
            self.stop()
        return self.start()

    def log_text(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class Playground:
    """The Microsoft 365 Agents Playground (Teams mode), offline and on loopback, for one bot.

    Its mock tenant is written from ``tenant`` (default: the bundled demo tenant) into
    ``workdir``, which is also its working directory and holds its logs. The launcher comes from
    the repository's ``node_modules``: HarnessError if ``npm ci`` has not been run.
    """

    _LISTENING = re.compile(rb"Listening on (\d+)")

    def __init__(
        self,
        bot_url: str,
        workdir: Path,
        *,
        tenant: Mapping[str, Any] | None = None,
        port: int | None = None,
        bot_name: str | None = None,
        guard: Path | None = NET_GUARD,
        startup_timeout: float = 20.0,
    ) -> None:
        self.bot_url = bot_url
        self.workdir = workdir
        self.tenant: Mapping[str, Any] = tenant if tenant is not None else load_demo_tenant()
        self.port = port or free_port()
        self.bot_name = bot_name
        self.guard = guard
        self.startup_timeout = startup_timeout
        self.output_path = workdir / "playground.out"
        self.log_path = workdir / "m365agentsplayground.log"
        self.guard_log_path = workdir / "net-guard.log"
        self.config_path = workdir / CONFIG_FILENAME
        self.process: subprocess.Popen[bytes] | None = None
        self._output: IO[bytes] | None = None
        self._output_start = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> Self:
        """Write the config, start the Playground and wait until ``/_debug/ping`` says pong."""
        try:
            launcher = find_playground(REPO_ROOT)
        except FileNotFoundError as error:
            raise HarnessError(str(error)) from None
        if self.guard is not None and not self.guard.is_file():
            raise HarnessError(f"net guard {self.guard} is missing")
        self.workdir.mkdir(parents=True, exist_ok=True)
        write_config(self.tenant, self.config_path, bot_name=self.bot_name)
        env = playground_env(self.config_path, self.log_path, guard=self.guard)
        env["NET_GUARD_LOG"] = str(self.guard_log_path)
        self._output = self.output_path.open("ab")
        self._output_start = self._output.tell()
        self.process = subprocess.Popen(
            playground_command(launcher, self.bot_url, self.port),
            cwd=self.workdir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._output,
            stderr=subprocess.STDOUT,
        )
        try:
            self._wait_ready()
        except HarnessError:
            self.stop(timeout=2)
            raise
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                code = None if self.process is None else self.process.returncode
                raise HarnessError(
                    f"Playground exited with {code}; output {self.output_path}:\n"
                    f"{log_tail(self.output_path)}\nlog:\n{log_tail(self.log_path, 20)}"
                )
            self._follow_port()
            status, body = _http_get(f"{self.base_url}/_debug/ping", timeout=1.0)
            if status == 200 and body.strip() == "pong":
                return
            time.sleep(0.1)
        raise HarnessError(
            f"Playground not ready on {self.base_url} after {self.startup_timeout:.0f} s; "
            f"output:\n{log_tail(self.output_path)}"
        )

    def _follow_port(self) -> None:
        # A taken port makes the Playground pick another one and print it.
        with contextlib.suppress(OSError):
            with self.output_path.open("rb") as output:
                output.seek(self._output_start)
                match = self._LISTENING.search(output.read())
            if match:
                self.port = int(match.group(1))

    def blocked_connections(self) -> list[str]:
        """Lines of the net-guard log for connections or lookups it refused."""
        try:
            lines = self.guard_log_path.read_text(encoding="utf-8").splitlines()
        except OSError:
            return []
        return [line for line in lines if " BLOCKED " in line]

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM, then SIGKILL after ``timeout`` seconds. Returns the exit code."""
        if self.process is None:
            return None
        code = _terminate(self.process, timeout)
        if self._output is not None:
            self._output.close()
            self._output = None
        return code

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def frame_text(frame: Frame) -> str:
    """The text of a frame's message ('' if none)."""
    message = frame.get("message") or {}
    return str(message.get("text") or "")


def frame_cards(frame: Frame) -> list[dict[str, Any]]:
    """The Adaptive Card contents attached to a frame's message."""
    message = frame.get("message") or {}
    return [
        a["content"]
        for a in message.get("attachments") or []
        if a.get("contentType") == ADAPTIVE_CARD and isinstance(a.get("content"), dict)
    ]


def is_message(
    *,
    conversation: str | None = None,
    text: str | None = None,
    card: bool | None = None,
    action: str = "createMessage",
) -> Predicate:
    """A predicate for :meth:`PlaygroundClient.next_activity`.

    ``conversation`` matches ``actionConversationId`` exactly, or any thread of that channel;
    ``text`` must occur in the message text; ``card`` asks for (or against) an Adaptive Card.
    """

    def predicate(frame: Frame) -> bool:
        if frame.get("action") != action:
            return False
        if conversation is not None:
            conv = str(frame.get("actionConversationId", ""))
            if conv != conversation and not conv.startswith(f"{conversation};"):
                return False
        if text is not None and text not in frame_text(frame):
            return False
        return card is None or bool(frame_cards(frame)) == card

    return predicate


class PlaygroundClient:
    """Drives a running Playground over HTTP as the Teams client would (async, aiohttp)."""

    def __init__(self, base_url: str, *, timeout: float = 15.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.frames: list[Frame] = []  # every frame received, in order
        self._pending: list[Frame] = []  # frames not yet returned by next_activity
        self._arrived = asyncio.Event()
        self._session: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._reader: asyncio.Task[None] | None = None
        self._config: dict[str, Any] | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.timeout + 15)
            )
        return self._session

    async def connect(self) -> None:
        """Open the activity stream; frames queued for it before now are delivered too."""
        if self._ws is not None and not self._ws.closed:
            return
        self._ws = await self.session.ws_connect(
            f"{self.base_url}/_ws_conversation/v1/conversations/stream", heartbeat=20
        )
        self._reader = asyncio.create_task(self._read(self._ws))

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for message in ws:
            if message.type != aiohttp.WSMsgType.TEXT:
                continue
            frame = json.loads(message.data)
            if isinstance(frame, dict):
                self.frames.append(frame)
                self._pending.append(frame)
                self._arrived.set()

    async def next_activity(
        self, predicate: Predicate | None = None, timeout: float | None = None
    ) -> Frame:
        """The oldest frame not yet returned that matches ``predicate`` (any frame if None).

        Frames that do not match stay queued for later calls. Raises TimeoutError, listing the
        queued frames, if none matches within ``timeout`` seconds.
        """
        if self._ws is None:
            raise HarnessError("connect() first: frames are only collected while connected")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (self.timeout if timeout is None else timeout)
        while True:
            for index, frame in enumerate(self._pending):
                if predicate is None or predicate(frame):
                    del self._pending[index]
                    return frame
            remaining = deadline - loop.time()
            if remaining <= 0 or (self._reader is not None and self._reader.done()):
                summary = [
                    f"{f.get('action')} {f.get('actionConversationId')}: {frame_text(f)[:80]!r}"
                    for f in self._pending
                ]
                raise TimeoutError(f"no matching activity; unmatched frames: {summary}")
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), remaining)

    def drain(self) -> list[Frame]:
        """Drop and return every frame not yet returned by :meth:`next_activity`."""
        pending, self._pending = self._pending, []
        return pending

    async def _request(
        self, method: str, path: str, payload: Mapping[str, Any] | None = None
    ) -> Any:
        async with self.session.request(method, f"{self.base_url}{path}", json=payload) as response:
            body = await response.text()
            if response.status >= 400:
                raise HarnessError(f"{method} {path} -> {response.status}: {body}")
            if not body:
                return None
            try:
                return json.loads(body)
            except ValueError:
                return body

    async def test_config(self) -> dict[str, Any]:
        """``GET /_internal/v1/testConfig``: the tenant, chats, teams and channels (cached)."""
        if self._config is None:
            self._config = await self._request("GET", "/_internal/v1/testConfig")
        assert self._config is not None
        return self._config

    async def bot_account(self) -> dict[str, str]:
        config = await self.test_config()
        bot: dict[str, str] = config["config"]["bot"]
        return bot

    async def send_text(
        self, conv_id: str, user_id: str, text: str, mention_bot: bool = False
    ) -> dict[str, Any]:
        """Post a message; the bot gets it from the *current* user whatever ``user_id`` is (it
        must be a member). ``mention_bot`` is needed in channels and group chats, or the bot is
        not called. Returns ``{"messageId", "timestamp"[, "postConversationId"]}``; in a channel
        ``postConversationId`` is the new thread, where the bot's replies go.
        """
        payload: dict[str, Any] = {"from": {"id": user_id}, "text": text, "textFormat": "plain"}
        if mention_bot:
            bot = await self.bot_account()
            tag = f"<at>{bot['name']}</at>"
            payload["text"] = f"{tag} {text}"
            payload["mentions"] = [{"mentioned": {"id": bot["id"]}, "text": tag}]
        path = f"/_conversation/v1/conversations/{quote(conv_id, safe='')}/messages"
        result: dict[str, Any] = await self._request("POST", path, payload)
        return result

    async def invoke_action(
        self,
        conv_id: str,
        user_id: str,
        reply_to_id: str,
        verb: str,
        data: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Press an ``Action.Execute`` button of card message ``reply_to_id`` (a ``messageId``
        from a frame) as ``user_id``. Returns the bot's invoke response body *without* its
        ``statusCode``: ``{"type": "application/vnd.microsoft.card.adaptive", "value": {card}}``.
        The Playground stores ``value`` as the message's card; no websocket frame follows. A
        non-2xx answer from the bot raises HarnessError (the Playground answers 502).
        """
        payload = {
            "name": "adaptiveCard/action",
            "conversation": {"id": conv_id},
            "from": {"id": user_id},
            "replyToId": reply_to_id,
            "value": {
                "action": {"type": "Action.Execute", "verb": verb, "data": dict(data or {})},
                "trigger": "manual",
            },
        }
        result: dict[str, Any] = await self._request("POST", "/_conversation/v1/invoke", payload)
        return result

    async def submit(
        self, conv_id: str, user_id: str, reply_to_id: str, value: Mapping[str, Any]
    ) -> None:
        """Press an ``Action.Submit`` button as ``user_id``: the bot gets a message with
        ``replyToId`` and ``value`` (pass the card's data merged with its inputs)."""
        payload = {
            "conversation": {"id": conv_id},
            "from": {"id": user_id},
            "replyToId": reply_to_id,
            "value": dict(value),
        }
        await self._request("POST", "/_conversation/v1/submit", payload)

    async def install(self, conv_id: str) -> None:
        """Install the bot in a chat, team or channel: the bot gets ``installationUpdate``
        (``action: add``), then ``conversationUpdate`` with ``membersAdded`` (the current user and
        the bot in the personal chat; only the bot elsewhere), both with
        ``conversation.id == conv_id``."""
        await self._request(
            "POST", f"/_debug/conversation/{quote(conv_id, safe='')}/installation", {}
        )

    async def activity_template(self, conv_id: str, kind: str) -> dict[str, Any]:
        """A ready-made activity (``install``, ``uninstall``, ``botAdded``, ``userAdded``,
        ``botRemoved``, ``userRemoved``, ``channelCreated``, ...) for ``conv_id``."""
        path = f"/_internal/v1/customActivities/template?conversationId={quote(conv_id, safe='')}"
        result: dict[str, Any] = await self._request("GET", f"{path}&type={quote(kind)}")
        return result

    async def custom_activity(self, activity: Mapping[str, Any]) -> None:
        """Send ``activity`` to the bot as is (fire and forget: the bot's answer is not
        returned). The way to act as a user other than the current one."""
        await self._request("POST", "/_internal/v1/customActivities", activity)

    async def activity_as(
        self, conv_id: str, user_id: str, activity_type: str = "message", **fields: Any
    ) -> dict[str, Any]:
        """An activity from any tenant user (playground id, e.g. ``user-id-3``) in ``conv_id``,
        shaped like the ones the Playground sends: ``from`` has the user's id, name and
        aadObjectId; ``channelData`` has the tenant, plus team and channel in a channel.
        ``fields`` are added last. Send it with :meth:`custom_activity` or :meth:`post_to_bot`.
        """
        config = (await self.test_config())["config"]
        users = {u["id"]: u for u in [config["currentUser"], *config["users"]]}
        if user_id not in users:
            raise HarnessError(f"no user {user_id!r} in the Playground tenant")
        user = users[user_id]
        conversation: dict[str, Any] = {"id": conv_id, "tenantId": config["tenantId"]}
        channel_data: dict[str, Any] = {"tenant": {"id": config["tenantId"]}}
        root = conv_id.split(";", 1)[0]
        for team in config["teams"]:
            if any(c["id"] == root for c in team["channels"]):
                conversation.update(isGroup=True, conversationType="channel")
                channel_data.update(
                    teamsChannelId=root,
                    teamsTeamId=team["id"],
                    team={"id": team["id"]},
                    channel={"id": root},
                )
        if "conversationType" not in conversation:
            personal = conv_id == config["personalChat"]["id"]
            conversation["conversationType"] = "personal" if personal else "groupChat"
            if not personal:
                conversation["isGroup"] = True
        now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        port = self.base_url.rsplit(":", 1)[-1]
        activity: dict[str, Any] = {
            "type": activity_type,
            "id": str(uuid.uuid4()),
            "timestamp": now,
            "localTimestamp": now,
            "localTimezone": "UTC",
            "serviceUrl": f"http://localhost:{port}/_connector",  # as the Playground sends it
            "channelId": "msteams",
            "from": {"id": user["id"], "name": user["name"], "aadObjectId": user["aadObjectId"]},
            "conversation": conversation,
            "recipient": {"id": config["bot"]["id"], "name": config["bot"]["name"]},
            "locale": "en-US",
            "entities": [{"type": "clientInfo", "locale": "en-US"}],
            "channelData": channel_data,
        }
        activity.update(fields)
        return activity

    async def message_activity(
        self, conv_id: str, user_id: str, text: str, **fields: Any
    ) -> dict[str, Any]:
        """A plain-text message from any tenant user; see :meth:`activity_as`."""
        return await self.activity_as(
            conv_id, user_id, "message", text=text, textFormat="plain", **fields
        )

    async def invoke_activity(
        self,
        conv_id: str,
        user_id: str,
        reply_to_id: str,
        verb: str,
        data: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """An ``adaptiveCard/action`` invoke from any tenant user; see :meth:`activity_as`.
        Send it with :meth:`post_to_bot` to get the invoke response."""
        activity = await self.activity_as(
            conv_id,
            user_id,
            "invoke",
            name="adaptiveCard/action",
            replyToId=reply_to_id,
            value={
                "action": {"type": "Action.Execute", "verb": verb, "data": dict(data or {})},
                "trigger": "manual",
            },
        )
        activity["channelData"]["source"] = {"name": "message"}
        return activity

    async def post_to_bot(self, bot_endpoint: str, activity: Mapping[str, Any]) -> tuple[int, Any]:
        """POST ``activity`` straight to an anonymous bot's messaging endpoint, as the Playground
        would; the bot's replies still reach the Playground through ``serviceUrl``. Returns the
        HTTP status and the decoded body (the invoke response body for invokes)."""
        async with self.session.post(bot_endpoint, json=dict(activity)) as response:
            text = await response.text()
            try:
                return response.status, json.loads(text) if text else None
            except ValueError:
                return response.status, text

    async def close(self) -> None:
        """Close the stream and the HTTP session."""
        if self._ws is not None:
            await self._ws.close()
            self._ws = None
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
            self._reader = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> Self:
        await self.connect()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
