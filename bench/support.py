"""What every benchmark shares.

* Failing loudly: :func:`check` raises :class:`BenchFailure` with the reason; :func:`run` prints
  ``FAILED: <reason>`` and exits 1, so a benchmark whose work didn't happen never prints a
  figure as if it had.
* Figures with counts: :class:`Figure` prints a value with the count it was measured on, its
  baseline from the same run (with that baseline's count) and the ratio.
* Processes on 127.0.0.1 (:class:`Process`), their CPU time and resident memory from /proc.
* A light HTTP/1.1 client for load (:class:`KeepAlive`): the load generator shares the
  machine's cores with the servers it measures, so it should cost them as little as possible.
* State seeded through the product's public commands only (:func:`set_up_teams`): an admin runs
  the setup guide over ``/api/messages`` as the Teams client does, and Teams tells the bot it
  was added to the team; the bot's own services store the settings and finish provisioning.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.standins.connector import ConnectorStandIn  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


class BenchFailure(Exception):
    """The benchmark's work didn't happen (or not all of it): no figure is trustworthy."""


def check(condition: object, why: str) -> None:
    if not condition:
        raise BenchFailure(why)


def run(main: Callable[[], Awaitable[None]]) -> None:
    """Run a benchmark's ``main``; on :class:`BenchFailure` say why and exit 1."""
    try:
        asyncio.run(main())
    except BenchFailure as failure:
        print(f"FAILED: {failure}", file=sys.stderr, flush=True)
        sys.exit(1)


# ---- figures ------------------------------------------------------------------------------


def number(value: float) -> str:
    if float(value).is_integer() and abs(value) < 1e6:
        return f"{int(value):,}"
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


@dataclass(frozen=True)
class Figure:
    """One measured figure: ``value`` (in ``unit``) measured over ``count`` samples."""

    what: str
    value: float
    unit: str
    count: int
    baseline_name: str = ""
    baseline: float | None = None
    baseline_count: int = 0

    @property
    def ratio(self) -> float | None:
        if self.baseline is None or self.baseline == 0:
            return None
        return self.value / self.baseline

    def line(self) -> str:
        text = f"{self.what}: {number(self.value)} {self.unit} (n={self.count:,})"
        if self.baseline is not None:
            text += (
                f"; baseline {self.baseline_name}: {number(self.baseline)} {self.unit} "
                f"(n={self.baseline_count:,})"
            )
            ratio = self.ratio
            text += f"; ratio {ratio:.2f}" if ratio is not None else "; ratio n/a"
        return text

    def show(self, indent: str = "   ") -> Figure:
        print(indent + self.line(), flush=True)
        return self


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


# ---- processes ----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def rss_mb(pid: int) -> float:
    resident = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    return resident * PAGE / 1e6


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident memory (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024 / 1e6
    raise BenchFailure(f"no VmHWM in /proc/{pid}/status")


class Process:
    """A server process on 127.0.0.1 with ``/healthz``; its output goes to a log file."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        env: dict[str, str] | None = None,
        *,
        port: int | None = None,
    ) -> None:
        self.name = name
        self.port = port or free_port()
        full_env = {**os.environ, **(env or {}), "PORT": str(self.port)}
        full_env.setdefault("LOG_LEVEL", "WARNING")
        for variable in ("MicrosoftAppId", "MicrosoftAppPassword"):
            full_env.pop(variable, None)
        argv = [a.replace("{port}", str(self.port)) for a in argv]
        self._log: IO[bytes] = tempfile.TemporaryFile(prefix=f"bench-{name}-")  # noqa: SIM115
        self.proc = subprocess.Popen(
            argv, cwd=ROOT, env=full_env, stdout=self._log, stderr=subprocess.STDOUT
        )
        self.url = f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log_tail(self, chars: int = 3000) -> str:
        self._log.flush()
        self._log.seek(0)
        return self._log.read().decode(errors="replace")[-chars:]

    async def ready(
        self, session: aiohttp.ClientSession, timeout: float = 60.0, poll: float = 0.05
    ) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                async with session.get(f"{self.url}/healthz") as r:
                    if r.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(poll)
        raise BenchFailure(f"{self.name} did not start; its log:\n{self.log_tail()}")

    def alive(self) -> None:
        check(
            self.proc.poll() is None,
            f"{self.name} exited with {self.proc.returncode}; its log:\n{self.log_tail()}",
        )

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.pid)

    def rss_mb(self) -> float:
        return rss_mb(self.pid)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.close()


class KeepAlive:
    """A minimal HTTP/1.1 client on one keep-alive connection, for load generation: each
    request is written as prepared bytes and the answer is read by its Content-Length. It
    costs the load generator's process a fraction of an aiohttp client's CPU per request, so
    the servers measured get the cores. Fails (BenchFailure) on an answer it can't read (no
    Content-Length, a closed connection)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer

    @classmethod
    async def open(cls, port: int) -> KeepAlive:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    @staticmethod
    def request(port: int, method: str, path: str, body: bytes, headers: dict[str, str]) -> bytes:
        """The bytes of one request (prepared before the clock starts)."""
        lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{port}"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        lines.append(f"Content-Length: {len(body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + body

    async def send(self, request: bytes) -> tuple[int, bytes]:
        """Write one prepared request; return the answer's status and body."""
        self._writer.write(request)
        try:
            head = await self._reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError) as exc:
            raise BenchFailure(f"the server closed the connection: {exc!r}") from None
        status_line, _, header_block = head.partition(b"\r\n")
        length = -1
        for line in header_block.split(b"\r\n"):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        check(length >= 0, f"an answer without Content-Length: {head[:300]!r}")
        body = await self._reader.readexactly(length) if length else b""
        return int(status_line.split(b" ", 2)[1]), body

    async def close(self) -> None:
        self._writer.close()
        with contextlib.suppress(ConnectionError):
            await self._writer.wait_closed()


def bot_process(name: str, data_dir: Path, **env: str) -> Process:
    """``python -m bot`` in local mode (the demo tenant) with its data in ``data_dir``."""
    return Process(name, [sys.executable, "-m", "bot"], {"BOT_DATA_DIR": str(data_dir), **env})


async def wait_for(
    condition: Callable[[], bool],
    timeout: float,
    why: str | Callable[[], str],
    poll: float = 0.02,
) -> None:
    """Poll ``condition`` until it holds; fail with ``why`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise BenchFailure(why if isinstance(why, str) else why())
        await asyncio.sleep(poll)


# ---- seeding through the product's public commands -------------------------------------------


def demo() -> dict[str, Any]:
    from bot.tenant.demo import load_demo_tenant

    return load_demo_tenant()


def _demo_ids() -> tuple[str, str, str]:
    """The demo tenant, its signed-in user in the Playground (Alex Wilber, a Global
    Administrator) and the bot's app id."""
    tenant = demo()
    return str(tenant["tenantId"]), str(tenant["currentUserId"]), str(tenant["bot"]["id"])


def activity(
    service_url: str, *, chat: str = "a:bench-admin-chat", **fields: Any
) -> dict[str, Any]:
    """An activity from the demo tenant's Global Administrator in a personal chat."""
    tenant, admin, bot = _demo_ids()
    base: dict[str, Any] = {
        "type": "message",
        "id": f"bench-{time.time_ns()}",
        "channelId": "msteams",
        "serviceUrl": service_url,
        "from": {"id": "29:bench-admin", "aadObjectId": admin, "name": "Alex Wilber"},
        "recipient": {"id": f"28:{bot}", "name": "Defender Experts"},
        "conversation": {
            "id": chat,
            "conversationType": "personal",
            "tenantId": tenant,
        },
        "channelData": {"tenant": {"id": tenant}},
    }
    base.update(fields)
    return base


def _walk(node: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        found.append(node)
        for value in node.values():
            found.extend(_walk(value))
    elif isinstance(node, list):
        for item in node:
            found.extend(_walk(item))
    return found


class Guide:
    """Presses buttons on the bot's cards over ``/api/messages``, as the Teams client does."""

    def __init__(self, session: aiohttp.ClientSession, bot_url: str, service_url: str) -> None:
        self.session = session
        self.bot_url = bot_url
        self.service_url = service_url
        self.card: dict[str, Any] = {}

    async def say(self, text: str) -> int:
        async with self.session.post(
            f"{self.bot_url}/api/messages", json=activity(self.service_url, text=text)
        ) as r:
            await r.read()
            return r.status

    async def press(self, title: str, **values: Any) -> dict[str, Any]:
        buttons = [
            n for n in _walk(self.card) if n.get("type") == "Action.Execute" and n.get("title")
        ]
        found = [b for b in buttons if b["title"] == title]
        check(
            found,
            f"the setup card has no button {title!r} (it has {[b['title'] for b in buttons]})",
        )
        act = found[0]
        data = dict(act.get("data") or {})
        if act.get("associatedInputs", "auto") != "none":
            for node in _walk(self.card):
                if str(node.get("type", "")).startswith("Input.") and "value" in node:
                    data[node["id"]] = node["value"]
            data.update(values)
        invoke = activity(
            self.service_url,
            type="invoke",
            name="adaptiveCard/action",
            replyToId="bench-card",
            value={"action": {"type": "Action.Execute", "verb": act["verb"], "data": data}},
        )
        async with self.session.post(f"{self.bot_url}/api/messages", json=invoke) as r:
            check(r.status == 200, f"pressing {title!r} answered {r.status}: {await r.text()}")
            body = await r.json()
        self.card = body["value"]
        return self.card


def _card_text(card: dict[str, Any] | None) -> str:
    return " ".join(str(n.get("text", "")) for n in _walk(card))


async def set_up_teams(
    session: aiohttp.ClientSession, bot_url: str, teams: ConnectorStandIn, timeout: float = 30.0
) -> str:
    """Set the bot up as a customer does, through its public commands only, and return the
    Managed response channel's id once the bot's welcome post is in it.

    The demo tenant's Global Administrator runs the setup guide (Respond on, the Security
    Operations group as the incident contact, Communicate on Teams on) and submits; then Teams
    (here: this function, as the Agents Playground does) tells the bot it was added to the
    Defender Experts team. Replies and posts go to ``teams``, the Bot Connector stand-in.
    """
    tenant_doc = demo()
    team = tenant_doc["team"]
    channel = team["channel"]["id"]
    secops = next(
        g["id"] for g in tenant_doc["mailGroups"] if str(g.get("mail", "")).startswith("secops@")
    )
    guide = Guide(session, bot_url, teams.url)
    sent_before = len(teams.of_kind("send"))
    status = await guide.say("setup")
    check(status in (200, 201), f"'setup' answered {status}")
    await wait_for(
        lambda: len(teams.of_kind("send")) > sent_before,
        timeout,
        "the bot didn't answer 'setup' with the setup guide",
    )
    guide.card = teams.of_kind("send")[-1].card or {}
    await guide.press("Next", respond="true")
    await guide.press("Next")
    await guide.press("Search", contact_query="secops")
    await guide.press("Add", contact_pick=secops, contact_for="incidentNotification")
    await guide.press("Next")
    await guide.press("Next", teams_enabled="true")
    submitted = await guide.press("Submit")
    check("Setup complete" in _card_text(submitted), "Submit didn't complete the setup")

    # The saga waits for the bot's installation in the team, as it does in Teams.
    await wait_for(
        lambda: any(
            "added" in _card_text(op.card).lower() or op.kind == "update"
            for op in teams.ops
            if op.conversation_id.startswith("a:")
        ),
        timeout,
        "provisioning didn't show its progress card",
    )
    _, _, bot = _demo_ids()
    installed = activity(
        teams.url,
        type="conversationUpdate",
        membersAdded=[{"id": f"28:{bot}"}],
        conversation={
            "id": team["id"],
            "conversationType": "channel",
            "isGroup": True,
            "tenantId": tenant_doc["tenantId"],
        },
        channelData={
            "tenant": {"id": tenant_doc["tenantId"]},
            "eventType": "teamMemberAdded",
            "team": {"id": team["id"], "aadGroupId": team["aadGroupId"], "name": team["name"]},
        },
    )
    async with session.post(f"{bot_url}/api/messages", json=installed) as r:
        check(r.status in (200, 201), f"the installation event answered {r.status}")
    await wait_for(
        lambda: any(op.thread == channel for op in teams.of_kind("post")),
        timeout,
        "provisioning didn't post its welcome in the Managed response channel",
    )
    return str(channel)
