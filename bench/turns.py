"""Per-turn cost of our bot against a plain botbuilder echo bot, measured in the same run.

Each bot runs in its own process; this script drives both with the same message activity over
many short alternating rounds, and reads each bot process's CPU time from /proc. Replies go to
a local Bot Connector stand-in in this process. Prints ratios (ours / echo): <= 1.0 means our
bot costs no more per turn than the bare framework.

    python bench/turns.py [--rounds 20] [--turns 50] [--concurrency 4]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
from aiohttp import web

ROOT = Path(__file__).resolve().parents[1]
TICKS = os.sysconf("SC_CLK_TCK")
DEMO_ADMIN = "1a2b3c4d-0001-4e5f-8a9b-0c1d2e3f4a01"
DEMO_TENANT = "4f1c3a2e-7d5b-4e8a-9c21-6b0d8e3f5a17"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


class Bot:
    def __init__(self, name: str, argv: list[str], env: dict[str, str]) -> None:
        self.name = name
        self.port = free_port()
        full_env = {**os.environ, **env, "PORT": str(self.port), "LOG_LEVEL": "WARNING"}
        full_env.pop("MicrosoftAppId", None)
        self.proc = subprocess.Popen(
            argv, cwd=ROOT, env=full_env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        self.url = f"http://127.0.0.1:{self.port}"

    async def ready(self, session: aiohttp.ClientSession) -> None:
        for _ in range(200):
            try:
                async with session.get(f"{self.url}/healthz") as r:
                    if r.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
        raise RuntimeError(f"{self.name} did not start")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


async def connector(replies: list[int]) -> tuple[web.AppRunner, str]:
    async def handle(request: web.Request) -> web.Response:
        await request.read()
        replies[0] += 1
        return web.json_response({"id": f"r{replies[0]}"}, status=201)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, f"http://127.0.0.1:{port}/"


def activity(service_url: str, n: int) -> dict[str, object]:
    return {
        "type": "message",
        "id": f"m{n}",
        "channelId": "msteams",
        "serviceUrl": service_url,
        "text": "help",
        "from": {"id": "29:u", "aadObjectId": DEMO_ADMIN, "name": "Alex Wilber"},
        "recipient": {"id": "28:bot", "name": "bot"},
        "conversation": {"id": "a:bench", "conversationType": "personal", "tenantId": DEMO_TENANT},
        "channelData": {"tenant": {"id": DEMO_TENANT}},
    }


async def round_(
    session: aiohttp.ClientSession,
    bot: Bot,
    service_url: str,
    turns: int,
    concurrency: int,
    counter: list[int],
) -> tuple[float, float]:
    queue: asyncio.Queue[int] = asyncio.Queue()
    for _ in range(turns):
        counter[1] += 1
        queue.put_nowait(counter[1])

    async def worker() -> None:
        while not queue.empty():
            n = queue.get_nowait()
            async with session.post(f"{bot.url}/api/messages", json=activity(service_url, n)) as r:
                if r.status >= 300:
                    raise RuntimeError(f"{bot.name} answered {r.status}: {await r.text()}")

    cpu0, t0 = cpu_seconds(bot.proc.pid), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return cpu_seconds(bot.proc.pid) - cpu0, time.perf_counter() - t0


async def main(rounds: int, turns: int, concurrency: int) -> None:
    replies = [0]
    runner, service_url = await connector(replies)
    data = tempfile.mkdtemp(prefix="bench-turns-")
    bots = [
        Bot("echo", [sys.executable, str(ROOT / "bench" / "echo_bot.py")], {}),
        Bot("ours", [sys.executable, "-m", "bot"], {"BOT_DATA_DIR": data}),
    ]
    results: dict[str, list[tuple[float, float]]] = {b.name: [] for b in bots}
    counter = [0, 0]
    try:
        async with aiohttp.ClientSession() as session:
            for b in bots:
                await b.ready(session)
            for b in bots:  # warm-up
                await round_(session, b, service_url, turns, concurrency, counter)
            for r in range(rounds):
                order = bots if r % 2 == 0 else bots[::-1]
                for b in order:
                    results[b.name].append(
                        await round_(session, b, service_url, turns, concurrency, counter)
                    )
    finally:
        for b in bots:
            b.stop()
        await runner.cleanup()

    def per_turn_ms(name: str) -> float:
        return statistics.median(cpu for cpu, _ in results[name]) / turns * 1000

    def rate(name: str) -> float:
        return statistics.median(turns / wall for _, wall in results[name])

    echo_cpu, ours_cpu = per_turn_ms("echo"), per_turn_ms("ours")
    echo_rate, ours_rate = rate("echo"), rate("ours")
    print(f"rounds={rounds} turns/round={turns} concurrency={concurrency} replies={replies[0]}")
    print(f"echo bot : {echo_cpu:6.2f} ms CPU/turn  {echo_rate:7.1f} turns/s")
    print(f"our bot  : {ours_cpu:6.2f} ms CPU/turn  {ours_rate:7.1f} turns/s")
    print(f"ratio CPU/turn (ours/echo)  = {ours_cpu / echo_cpu:.2f}  (goal <= 1.0)")
    print(f"ratio turns/s (ours/echo)   = {ours_rate / echo_rate:.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--turns", type=int, default=50)
    parser.add_argument("--concurrency", type=int, default=4)
    a = parser.parse_args()
    asyncio.run(main(a.rounds, a.turns, a.concurrency))
