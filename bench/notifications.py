"""Notifications, measured in one run against a local Bot Connector stand-in.

1. Accepted notifications per second: signed POSTs to the real bot process (``python -m bot``),
   each answered 202 only after its SQLite commit. Baselines, same client, same machine, same
   run: a bare aiohttp handler answering 202 (the HTTP ceiling), and aiohttp plus one fsync'd
   SQLite insert per request (the durable-write ceiling).
2. Delivery rate into one Teams thread, as a ratio of Teams' per-bot per-thread limits (7 in 1 s,
   8 in 2 s, 60 in 30 s): the worker drains the backlog of step 1 into the channel; the stand-in
   enforces the same limits and counts every call over them (there should be none).
3. Acceptance to post, median and p99: a fresh bot and thread, notifications paced under the
   sustained limit; from the client's 202 to the stand-in receiving the post. Baseline: the
   round trip of a bare POST to the stand-in.

    python bench/notifications.py [--count 2000] [--concurrency 16] [--delivery-seconds 31]
                                  [--latency-count 40] [--pace 0.55] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.devtools.notify import example_notification  # noqa: E402
from bot.notifications.signing import WebhookVerifier, new_secret  # noqa: E402
from bot.onboarding.model import (  # noqa: E402
    Contact,
    Purpose,
    ServiceSettings,
    SettingsRecord,
)
from bot.provisioning.model import (  # noqa: E402
    Status,
    Step,
    TeamsRecord,
    channel_reference,
    teams_key,
)
from bot.storage.sqlite import SqliteStore  # noqa: E402
from tests.standins.connector import ConnectorStandIn, incident_of  # noqa: E402

TENANT = "4f1c3a2e-7d5b-4e8a-9c21-6b0d8e3f5a17"
TEAM_THREAD = "19:3f0c2a8e5b7d4c1e9a6f0b2d8c4e1a7f@thread.tacv2"
AAD_GROUP = "5b8e2d1c-3001-4a6f-9c0e-7d1b2a3c4e01"
THREAD_LIMITS = ((1.0, 7), (2.0, 8), (30.0, 60))

BARE = """
import sys
from aiohttp import web
async def accept(request):
    await request.read()
    return web.json_response({"status": "accepted"}, status=202)
async def health(request):
    return web.json_response({"status": "ok"})
app = web.Application(client_max_size=300_000)
app.router.add_post("/api/notifications", accept)
app.router.add_get("/healthz", health)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None)
"""

DURABLE = """
import asyncio, sqlite3, sys, threading, uuid
from aiohttp import web
conn = sqlite3.connect(sys.argv[2], check_same_thread=False, isolation_level=None)
conn.execute("PRAGMA journal_mode=WAL")
conn.execute("PRAGMA synchronous=FULL")
conn.execute("CREATE TABLE IF NOT EXISTS t (id TEXT PRIMARY KEY, body TEXT)")
lock = threading.Lock()
def insert(body):
    with lock:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO t VALUES (?, ?)", (uuid.uuid4().hex, body))
        conn.execute("COMMIT")
async def accept(request):
    body = await request.text()
    await asyncio.to_thread(insert, body)
    return web.json_response({"status": "accepted"}, status=202)
async def health(request):
    return web.json_response({"status": "ok"})
app = web.Application(client_max_size=300_000)
app.router.add_post("/api/notifications", accept)
app.router.add_get("/healthz", health)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None)
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """A process serving POST /api/notifications on 127.0.0.1."""

    def __init__(self, argv: list[str], env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        full_env = {**os.environ, **(env or {}), "PORT": str(self.port), "LOG_LEVEL": "WARNING"}
        for name in ("MicrosoftAppId", "MicrosoftAppPassword"):
            full_env.pop(name, None)
        argv = [a.replace("{port}", str(self.port)) for a in argv]
        self.proc = subprocess.Popen(
            argv, cwd=ROOT, env=full_env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        self.url = f"http://127.0.0.1:{self.port}"

    async def ready(self, session: aiohttp.ClientSession) -> None:
        for _ in range(300):
            try:
                async with session.get(f"{self.url}/healthz") as r:
                    if r.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            if self.proc.poll() is not None:
                break
            await asyncio.sleep(0.05)
        err = self.proc.stderr.read().decode() if self.proc.stderr else ""
        raise RuntimeError(f"server did not start: {err[-2000:]}")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


async def seed(data_dir: Path, service_url: str, channel_id: str) -> None:
    store = SqliteStore(data_dir / "bot.sqlite3")
    record = SettingsRecord(
        version=1,
        settings=ServiceSettings(
            investigate=True,
            respond=True,
            contacts=(
                Contact(
                    "g1", "Security Operations", "secops@contoso.com", "group", Purpose.INCIDENT
                ),
            ),
            communicate_on_teams=True,
        ),
    )
    await store.write(f"tenants/{TENANT}/settings", record.to_json(), etag="*")
    team_reference = {
        "bot": {"id": "28:bench", "name": "Defender Experts"},
        "channelId": "msteams",
        "conversation": {"id": TEAM_THREAD, "isGroup": True, "conversationType": "channel"},
        "serviceUrl": service_url,
    }
    teams = TeamsRecord(
        tenant_id=TENANT,
        status=Status.READY,
        step=Step.WELCOME,
        team_id=AAD_GROUP,
        team_thread_id=TEAM_THREAD,
        channel_id=channel_id,
        app_installed=True,
        team_reference=team_reference,
        channel_reference=channel_reference(team_reference, channel_id),
    )
    await store.write(teams_key(TENANT), teams.to_json(), etag="*")
    await store.close()


def requests(
    signer: WebhookVerifier, count: int, prefix: str
) -> list[tuple[bytes, dict[str, str]]]:
    out = []
    now = int(time.time())
    for i in range(count):
        body = json.dumps(example_notification(1, f"{prefix}{i}")).encode()
        headers = {"Content-Type": "application/json"}
        headers.update(signer.sign(f"msg_{prefix}{i}", now, body).headers())
        out.append((body, headers))
    return out


async def load(
    session: aiohttp.ClientSession,
    url: str,
    batch: list[tuple[bytes, dict[str, str]]],
    concurrency: int,
) -> float:
    """Send every request with ``concurrency`` in flight; return requests per second."""
    queue = list(reversed(batch))

    async def client() -> None:
        while queue:
            body, headers = queue.pop()
            async with session.post(f"{url}/api/notifications", data=body, headers=headers) as r:
                await r.read()
                if r.status != 202:
                    raise RuntimeError(f"HTTP {r.status}: {await r.text()}")

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    return len(batch) / (time.perf_counter() - started)


def posts_in(times: list[float], span: float) -> int:
    start = times[0]
    return sum(1 for t in times if t < start + span)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def main(args: argparse.Namespace) -> None:
    secret = new_secret()
    signer = WebhookVerifier.from_secret(secret)
    timeout = aiohttp.ClientTimeout(total=120)
    connector = aiohttp.TCPConnector(limit=args.concurrency)
    async with (
        aiohttp.ClientSession(timeout=timeout, connector=connector) as session,
        ConnectorStandIn(enforce_limits=True) as teams,
    ):
        with tempfile.TemporaryDirectory(prefix="bench-notify-") as tmp:
            tmp_path = Path(tmp)
            batch = requests(signer, args.count, "b")

            # -- 1. acceptance: baselines, then the bot ---------------------------------------
            rates: dict[str, float] = {}
            for name, argv in (
                ("bare aiohttp 202", [sys.executable, "-c", BARE, "{port}"]),
                (
                    "aiohttp + fsync'd SQLite insert",
                    [sys.executable, "-c", DURABLE, "{port}", str(tmp_path / "baseline.sqlite3")],
                ),
            ):
                server = Server(argv)
                try:
                    await server.ready(session)
                    await load(session, server.url, requests(signer, 50, "warm"), args.concurrency)
                    rates[name] = await load(session, server.url, batch, args.concurrency)
                finally:
                    server.stop()

            channel = "19:bench-throughput@thread.tacv2"
            data = tmp_path / "bot"
            await seed(data, teams.url, channel)
            bot = Server(
                [sys.executable, "-m", "bot"],
                {"BOT_DATA_DIR": str(data), "EXPERTS_WEBHOOK_SECRET": secret},
            )
            try:
                await bot.ready(session)
                ours = await load(session, bot.url, batch, args.concurrency)
                # -- 2. delivery into one thread ------------------------------------------------
                deadline = time.monotonic() + args.delivery_seconds
                while time.monotonic() < deadline:
                    await asyncio.sleep(0.25)
            finally:
                bot.stop()
            post_times = sorted(op.at for op in teams.of_kind("post") if op.thread == channel)
            violations = teams.violations

            # -- 3. acceptance -> post, paced -----------------------------------------------------
            channel2 = "19:bench-latency@thread.tacv2"
            data2 = tmp_path / "bot2"
            await seed(data2, teams.url, channel2)
            bot2 = Server(
                [sys.executable, "-m", "bot"],
                {"BOT_DATA_DIR": str(data2), "EXPERTS_WEBHOOK_SECRET": secret},
            )
            accepted_at: dict[str, float] = {}
            try:
                await bot2.ready(session)
                for body, headers in requests(signer, args.latency_count, "lat"):
                    async with session.post(
                        f"{bot2.url}/api/notifications", data=body, headers=headers
                    ) as r:
                        await r.read()
                        assert r.status == 202, r.status
                        accepted_at[json.loads(body)["incident"]["id"]] = time.monotonic()
                    await asyncio.sleep(args.pace)
                deadline = time.monotonic() + 10
                while time.monotonic() < deadline:
                    done = {incident_of(op.card) for op in teams.of_kind("post")}
                    if set(accepted_at) <= done:
                        break
                    await asyncio.sleep(0.05)
            finally:
                bot2.stop()
            posted_at = {incident_of(op.card): op.at for op in teams.of_kind("post")}
            latencies = [
                (posted_at[i] - t) * 1000 for i, t in accepted_at.items() if i in posted_at
            ]
            round_trips = []
            for i in range(args.latency_count):
                started = time.perf_counter()
                async with session.post(
                    f"{teams.url}v3/conversations",
                    json={"channelData": {"channel": {"id": f"19:rt{i}"}}, "activity": {}},
                ) as r:
                    await r.read()
                round_trips.append((time.perf_counter() - started) * 1000)

    print(f"Notifications benchmark ({args.count} notifications, {args.concurrency} in flight)")
    print()
    print(f"1. accepted/s, durable (202 after the SQLite commit): {ours:8.0f}")
    for name, rate in rates.items():
        print(f"   baseline {name:34s} {rate:8.0f}/s   ratio ours/baseline {ours / rate:5.2f}")
    print()
    print("2. delivery into one thread, from its first post, vs Teams' per-thread limits")
    if post_times:
        for span, limit in THREAD_LIMITS:
            if post_times[-1] - post_times[0] >= span or span <= args.delivery_seconds:
                got = posts_in(post_times, span)
                ratio = got / limit
                print(f"   in {span:4.0f} s: {got:3d} posts  limit {limit:3d}  ratio {ratio:4.2f}")
    print(f"   calls over the limit seen by the connector stand-in: {violations}")
    print()
    if latencies:
        median, p99 = statistics.median(latencies), percentile(latencies, 0.99)
        rt = statistics.median(round_trips)
        print(
            f"3. acceptance -> post ({len(latencies)} notifications, one every {args.pace} s):"
            f" median {median:.1f} ms, p99 {p99:.1f} ms"
        )
        print(
            f"   baseline: bare POST to the connector stand-in, median {rt:.1f} ms"
            f"   ratio median/baseline {median / rt:.1f}"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--delivery-seconds", type=float, default=31.0)
    parser.add_argument("--latency-count", type=int, default=40)
    parser.add_argument("--pace", type=float, default=0.55)
    parser.add_argument("--quick", action="store_true", help="a shorter run (about 25 s)")
    parsed = parser.parse_args()
    if parsed.quick:
        parsed.count, parsed.delivery_seconds, parsed.latency_count = 500, 3.0, 15
    asyncio.run(main(parsed))
