"""Chat with the experts, measured in one run against a local Bot Connector stand-in.

The bot (``python -m bot``) is set up through its public commands (bench/support.py); an
incident is posted in the Managed response channel through the signed Experts API.

1. Customer message to the console: a thread reply POSTed to ``/api/messages`` as Teams sends
   it, until the message event arrives on the console's WebSocket; p50 and p99 with 1 and with
   200 consoles connected (every console's arrival counts). Baseline in the same run: a bare
   aiohttp WebSocket relay (POST in, the body sent to every socket) with as many sockets.
2. Expert answer to the connector: an answer POSTed to the signed Experts chat API, until the
   Bot Connector stand-in receives the thread reply; paced under Teams' sustained limit.
   Baseline: the round trip of a bare POST to the stand-in.
3. A burst of answers into one thread, with incident notifications to the same channel at the
   same time: the stand-in enforces Teams' per-thread limits (7 in 1 s, 8 in 2 s, 60 in 30 s)
   and counts every call over them; the time the burst took against the least Teams' limits
   allow for as many calls.

Exits 1, saying why, if a message doesn't reach every console, an answer isn't posted, or a
call goes over the limits.

    python bench/chat.py [--messages 100] [--consoles 200] [--answers 40] [--burst 30]
                         [--burst-notifications 6] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
from support import Figure, Process, bot_process, check, percentile, run, set_up_teams, wait_for

from bot.devtools.notify import example_notification
from bot.notifications.ratelimit import THREAD_WINDOWS, SlidingWindows
from bot.notifications.signing import WebhookVerifier, new_secret, request_line
from tests.standins.connector import ConnectorStandIn, incident_of

RELAY = """
import sys
from aiohttp import web, WSMsgType
sockets = set()
async def ws(request):
    socket = web.WebSocketResponse()
    await socket.prepare(request)
    sockets.add(socket)
    try:
        async for message in socket:
            if message.type in (WSMsgType.ERROR, WSMsgType.CLOSE):
                break
    finally:
        sockets.discard(socket)
    return socket
async def relay(request):
    body = await request.text()
    for socket in list(sockets):
        await socket.send_str(body)
    return web.Response(status=201)
async def health(request):
    return web.json_response({"status": "ok"})
app = web.Application()
app.router.add_get("/ws", ws)
app.router.add_post("/relay", relay)
app.router.add_get("/healthz", health)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None)
"""


class Consoles:
    """``n`` WebSockets; each arrival of a tagged frame is timed."""

    def __init__(self) -> None:
        self.sockets: list[aiohttp.ClientWebSocketResponse] = []
        self.readers: list[asyncio.Task[None]] = []
        self.arrivals: dict[str, list[float]] = {}

    async def open(
        self, session: aiohttp.ClientSession, url: str, n: int, origin: str | None
    ) -> None:
        headers = {"Origin": origin} if origin else {}
        for _ in range(n):
            ws = await session.ws_connect(url, headers=headers, heartbeat=None, max_msg_size=0)
            self.sockets.append(ws)
            self.readers.append(asyncio.create_task(self._read(ws)))

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for frame in ws:
            if frame.type != aiohttp.WSMsgType.TEXT:
                continue
            at = time.perf_counter()
            tag = _tag(frame.data)
            if tag:
                self.arrivals.setdefault(tag, []).append(at)

    async def close(self) -> None:
        for ws in self.sockets:
            await ws.close()
        for reader in self.readers:
            reader.cancel()
        await asyncio.gather(*self.readers, return_exceptions=True)
        self.sockets, self.readers = [], []


def _tag(data: str) -> str:
    if "bench-msg-" not in data:
        return ""
    try:
        event = json.loads(data)
    except ValueError:
        return ""
    if event.get("type") not in ("message", "relay"):
        return ""
    text = str((event.get("message") or {}).get("text") or event.get("text") or "")
    return text if text.startswith("bench-msg-") else ""


def thread_reply(service_url: str, channel: str, root: str, text: str) -> dict[str, Any]:
    from support import demo

    tenant = demo()
    users = tenant["users"]
    adele = next(u for u in users if u["displayName"] == "Adele Vance")
    team = tenant["team"]
    return {
        "type": "message",
        "id": f"bench-{time.time_ns()}",
        "channelId": "msteams",
        "serviceUrl": service_url,
        "from": {"id": "29:bench-adele", "aadObjectId": adele["id"], "name": "Adele Vance"},
        "recipient": {"id": f"28:{tenant['bot']['id']}", "name": "Defender Experts"},
        "conversation": {
            "id": f"{channel};messageid={root}",
            "conversationType": "channel",
            "tenantId": tenant["tenantId"],
        },
        "channelData": {
            "tenant": {"id": tenant["tenantId"]},
            "team": {"id": team["id"], "aadGroupId": team["aadGroupId"]},
            "channel": {"id": channel},
        },
        "replyToId": root,
        "text": text,
        "textFormat": "plain",
    }


async def measure(n: int, send: Any, consoles: Consoles, expected: int, label: str) -> list[float]:
    """Send ``n`` tagged messages one at a time; each must reach ``expected`` sockets."""
    latencies: list[float] = []
    for i in range(n):
        tag = f"bench-msg-{label}-{i}"
        started = time.perf_counter()
        await send(tag)
        await wait_for(
            lambda tag=tag: len(consoles.arrivals.get(tag, [])) >= expected,
            30.0,
            f"{label}: message {i} reached {len(consoles.arrivals.get(tag, []))} of "
            f"{expected} sockets within 30 s",
            poll=0.001,
        )
        latencies += [(at - started) * 1000 for at in consoles.arrivals[tag]]
    return latencies


def signed_headers(signer: WebhookVerifier, body: bytes, wid: str) -> dict[str, str]:
    headers = {"Content-Type": "application/json"}
    headers.update(signer.sign(wid, int(time.time()), body).headers())
    return headers


async def post_incident(
    session: aiohttp.ClientSession, bot: Process, signer: WebhookVerifier, incident: str
) -> None:
    body = json.dumps(example_notification(1, incident)).encode()
    async with session.post(
        f"{bot.url}/api/notifications",
        data=body,
        headers=signed_headers(signer, body, f"n-{incident}-{time.time_ns()}"),
    ) as r:
        check(r.status == 202, f"the incident notification answered {r.status}: {await r.text()}")


async def answer(
    session: aiohttp.ClientSession, bot: Process, signer: WebhookVerifier, cid: str, text: str
) -> None:
    body = json.dumps({"text": text, "author": {"id": "bench", "name": "Bench Expert"}}).encode()
    async with session.post(
        f"{bot.url}/api/chat/conversations/{cid}/messages",
        data=body,
        headers=signed_headers(signer, body, f"a-{time.time_ns()}"),
    ) as r:
        check(r.status == 202, f"an answer answered {r.status}: {await r.text()}")


def minimum_seconds(calls: int) -> float:
    """The least time Teams' per-thread limits allow for ``calls`` calls in a row."""
    windows = SlidingWindows(THREAD_WINDOWS)
    now = 0.0
    for _ in range(calls):
        now = windows.earliest("t", now)
        windows.record("t", now)
    return now


async def main(args: argparse.Namespace) -> None:
    secret = new_secret()
    signer = WebhookVerifier.from_secret(secret)
    timeout = aiohttp.ClientTimeout(total=120)
    print(
        f"Chat benchmark: {args.messages} messages with 1 and {args.consoles} consoles, "
        f"{args.answers} paced answers, a burst of {args.burst} answers"
    )
    print()
    with tempfile.TemporaryDirectory(prefix="bench-chat-") as tmp_dir:
        tmp = Path(tmp_dir)
        connector = aiohttp.TCPConnector(limit=0)
        jar = aiohttp.CookieJar(unsafe=True)
        async with (
            aiohttp.ClientSession(timeout=timeout, connector=connector, cookie_jar=jar) as session,
            ConnectorStandIn(enforce_limits=True) as teams,
        ):
            bot = bot_process(
                "our bot", tmp / "bot", EXPERTS_WEBHOOK_SECRET=secret, CHAT_ACK_SECONDS="86400"
            )
            relay = Process("bare aiohttp WebSocket relay", [sys.executable, "-c", RELAY, "{port}"])
            try:
                await bot.ready(session)
                await relay.ready(session)
                channel = await set_up_teams(session, bot.url, teams)
                welcome = max(op.at for op in teams.of_kind("post") if op.thread == channel)
                await post_incident(session, bot, signer, "8080")
                await wait_for(
                    lambda: any(incident_of(op.card) == "8080" for op in teams.of_kind("post")),
                    30.0,
                    "the incident was not posted",
                )
                root = next(
                    op.activity_id for op in teams.of_kind("post") if incident_of(op.card) == "8080"
                )
                async with session.post(
                    f"{bot.url}/console/auth/dev",
                    data={"expert": "demo-expert-1"},
                    allow_redirects=False,
                ) as r:
                    check(r.status == 303, f"the development sign-in answered {r.status}")

                async def customer(tag: str) -> None:
                    activity = thread_reply(teams.url, channel, root, tag)
                    async with session.post(f"{bot.url}/api/messages", json=activity) as r:
                        check(r.status == 201, f"the thread reply answered {r.status}")

                async def relayed(tag: str) -> None:
                    body = json.dumps({"type": "relay", "text": tag})
                    async with session.post(f"{relay.url}/relay", data=body) as r:
                        check(r.status == 201, f"the relay answered {r.status}")

                print("1. customer message to the console WebSocket (ms)")
                for n in (1, args.consoles):
                    ours, bare = Consoles(), Consoles()
                    await ours.open(session, f"{bot.url}/console/ws", n, bot.url)
                    await bare.open(session, f"{relay.url}/ws", n, None)
                    await measure(3, customer, ours, n, f"warm{n}")
                    await measure(3, relayed, bare, n, f"rwarm{n}")
                    mine = await measure(args.messages, customer, ours, n, f"c{n}")
                    base = await measure(args.messages, relayed, bare, n, f"r{n}")
                    await ours.close()
                    await bare.close()
                    for q, name in ((0.5, "p50"), (0.99, "p99")):
                        Figure(
                            f"{name}, {n} console(s)",
                            percentile(mine, q),
                            "ms",
                            len(mine),
                            "bare relay",
                            percentile(base, q),
                            len(base),
                        ).show()
                bot.alive()

                status_target = "/api/chat/conversations"
                headers = signed_headers(signer, request_line("GET", status_target), "list")
                async with session.get(bot.url + status_target, headers=headers) as r:
                    listed = await r.json()
                check(listed["conversations"], "the customer's messages made no conversation")
                cid = listed["conversations"][0]["id"]

                print()
                print("2. expert answer (Experts chat API) to the connector's POST (ms)")
                latencies: list[float] = []
                for i in range(args.answers):
                    text = f"bench answer {i}"
                    started = time.monotonic()
                    await answer(session, bot, signer, cid, text)
                    await wait_for(
                        lambda text=text: any(text in json.dumps(op.activity) for op in teams.ops),
                        30.0,
                        f"answer {i} was not posted within 30 s",
                        poll=0.001,
                    )
                    at = next(op.at for op in teams.ops if text in json.dumps(op.activity))
                    latencies.append((at - started) * 1000)
                    await asyncio.sleep(args.pace)
                round_trips: list[float] = []
                for _ in range(args.answers):
                    started = time.monotonic()
                    async with session.post(
                        f"{teams.url}v3/conversations/bench/activities", json={"text": "x"}
                    ) as r:
                        await r.read()
                    round_trips.append((time.monotonic() - started) * 1000)
                for q, name in ((0.5, "p50"), (0.99, "p99")):
                    Figure(
                        name,
                        percentile(latencies, q),
                        "ms",
                        len(latencies),
                        "bare POST to the stand-in",
                        percentile(round_trips, q),
                        len(round_trips),
                    ).show()

                # Let every earlier call (the welcome post, the paced answers) leave the
                # thread's windows, so the burst starts from an empty 30 s window, as the least
                # time Teams' limits allow is counted from one.
                settle = max(welcome, max(op.at for op in teams.ops)) + 31.0 - time.monotonic()
                if settle > 0:
                    await asyncio.sleep(settle)
                print()
                print(
                    f"3. a burst of {args.burst} answers into one thread, with "
                    f"{args.burst_notifications} incident notifications to the same channel"
                )
                before_ops = len(teams.ops)
                violations_before = teams.violations
                started = time.monotonic()
                await asyncio.gather(
                    *(
                        answer(session, bot, signer, cid, f"burst answer {i}")
                        for i in range(args.burst)
                    ),
                    *(
                        post_incident(session, bot, signer, f"90{i:02d}")
                        for i in range(args.burst_notifications)
                    ),
                )
                expected = args.burst + args.burst_notifications
                await wait_for(
                    lambda: len(teams.ops) - before_ops >= expected,
                    120.0,
                    lambda: f"only {len(teams.ops) - before_ops} of {expected} burst calls made",
                )
                took = max(op.at for op in teams.ops[before_ops:]) - started
                calls = len(teams.ops) - before_ops
                over = teams.violations - violations_before
                Figure(
                    "calls over Teams' per-thread limits",
                    over,
                    "calls",
                    calls,
                    "allowed",
                    0,
                    calls,
                ).show()
                Figure(
                    "time for the burst",
                    took,
                    "s",
                    calls,
                    "least Teams' limits allow",
                    minimum_seconds(calls),
                    calls,
                ).show()
                check(over == 0, f"{over} call(s) went over Teams' per-thread limits")
                bot.alive()
            finally:
                bot.stop()
                relay.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=100)
    parser.add_argument("--consoles", type=int, default=200)
    parser.add_argument("--answers", type=int, default=40)
    parser.add_argument("--pace", type=float, default=0.6)
    parser.add_argument("--burst", type=int, default=30)
    parser.add_argument("--burst-notifications", type=int, default=6)
    parser.add_argument("--quick", action="store_true", help="a smoke-sized run")
    parsed = parser.parse_args()
    if parsed.quick:
        parsed.messages, parsed.consoles, parsed.answers, parsed.pace = 5, 10, 3, 0.3
        parsed.burst, parsed.burst_notifications = 10, 2
    run(lambda: main(parsed))
