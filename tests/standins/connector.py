"""A Bot Connector stand-in (Bot Framework REST API v3, as Teams answers it) on 127.0.0.1.

* ``POST /v3/conversations`` with a channel in ``channelData`` starts a new channel post and
  answers ``{"id": "<channel>;messageid=<n>", "activityId": "<n>"}``, like Teams.
* ``POST /v3/conversations/{id}/activities[/{activityId}]`` sends (a thread reply when the id
  carries ``;messageid=``); ``PUT /v3/conversations/{id}/activities/{activityId}`` updates.
* Fault injection: ``fault_rate`` of the calls answer one of ``fault_statuses`` (429 with
  ``Retry-After``) *before* doing anything, from a seeded random source; ``script`` lists the
  answers of the next calls, in order (a status and, if not None, its ``Retry-After``), before
  any random fault. ``hold()`` makes calls wait until ``release()``; ``wait_arrived(n)``
  returns once ``n`` calls have arrived. ``enforce_limits`` answers 429 when a thread goes over
  Teams' documented per-thread limits, and counts those violations.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from collections import defaultdict, deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Self

from aiohttp import web

TEAMS_THREAD_LIMITS = ((1.0, 7), (2.0, 8), (30.0, 60), (3600.0, 1800))


@dataclass
class Op:
    """One successful operation, as the connector applied it."""

    kind: str  # "post" | "reply" | "update" | "send"
    conversation_id: str
    activity_id: str
    activity: dict[str, Any]
    at: float
    reply_to: str = ""
    """For a reply or send to ``/activities/{activityId}``: that activity id."""

    @property
    def thread(self) -> str:
        return self.conversation_id.split(";", 1)[0]

    @property
    def card(self) -> dict[str, Any] | None:
        for att in self.activity.get("attachments") or []:
            if att.get("contentType") == "application/vnd.microsoft.card.adaptive":
                content: dict[str, Any] = att["content"]
                return content
        return None

    @property
    def text(self) -> str:
        return str(self.activity.get("text") or "")


def _walk(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for item in node:
            yield from _walk(item)


def incident_of(card: dict[str, Any] | None) -> str:
    """The incident a card is about (from its actions' data)."""
    for node in _walk(card):
        data = node.get("data")
        if isinstance(data, dict) and isinstance(data.get("incidentId"), str):
            return str(data["incidentId"])
    return ""


def revision_of(card: dict[str, Any] | None) -> int:
    for node in _walk(card):
        data = node.get("data")
        if isinstance(data, dict) and isinstance(data.get("revision"), int):
            return int(data["revision"])
    return 0


@dataclass
class ConnectorStandIn:
    fault_rate: float = 0.0
    fault_statuses: Sequence[int] = (429, 500)
    retry_after: str = "0"
    script: list[tuple[int, str | None]] = field(default_factory=list)
    seed: int = 4
    enforce_limits: bool = False
    ops: list[Op] = field(default_factory=list)
    faults: int = 0
    calls: int = 0
    arrived: int = 0
    violations: int = 0
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1000))
    _gate: asyncio.Event = field(default_factory=asyncio.Event)
    _arrival: asyncio.Event = field(default_factory=asyncio.Event)
    _threads: dict[str, deque[float]] = field(default_factory=lambda: defaultdict(deque))
    _runner: web.AppRunner | None = None
    port: int = 0

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)  # noqa: S311 - reproducible faults
        self._gate.set()

    # ---- lifecycle --------------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v3/conversations", self._create)
        app.router.add_post("/v3/conversations/{conv}/activities", self._send)
        app.router.add_post("/v3/conversations/{conv}/activities/{aid}", self._send)
        app.router.add_put("/v3/conversations/{conv}/activities/{aid}", self._update)
        return app

    async def start(self) -> Self:
        self._runner = web.AppRunner(self.app())
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)  # 0: any free port
        await site.start()
        server = site._server
        assert server is not None and server.sockets  # type: ignore[attr-defined]
        self.port = int(server.sockets[0].getsockname()[1])  # type: ignore[attr-defined]
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def hold(self) -> None:
        self._gate.clear()

    def release(self) -> None:
        self._gate.set()

    async def wait_arrived(self, count: int) -> None:
        """Until ``count`` calls have arrived (held ones included): woken by each arrival."""
        while self.arrived < count:
            self._arrival.clear()
            await self._arrival.wait()

    # ---- the API ----------------------------------------------------------------------------

    async def _gatekeeper(self, thread: str) -> web.Response | None:
        self.arrived += 1  # counted before ``hold`` makes the call wait
        self._arrival.set()
        await self._gate.wait()
        self.calls += 1
        if self.script:
            self.faults += 1
            status, after = self.script.pop(0)
            return web.json_response(
                {"error": {"code": "Scripted", "message": f"scripted {status}"}},
                status=status,
                headers={"Retry-After": after} if after is not None else {},
            )
        if self.fault_rate and self._rng.random() < self.fault_rate:
            self.faults += 1
            status = self._rng.choice(list(self.fault_statuses))
            headers = {"Retry-After": self.retry_after} if status == 429 else {}
            return web.json_response(
                {"error": {"code": "Injected", "message": f"injected {status}"}},
                status=status,
                headers=headers,
            )
        if self.enforce_limits:
            now = time.monotonic()
            log = self._threads[thread]
            while log and log[0] <= now - 3600.0:
                log.popleft()
            for span, limit in TEAMS_THREAD_LIMITS:
                recent = sum(1 for t in log if t > now - span)
                if recent >= limit:
                    self.violations += 1
                    return web.json_response(
                        {"error": {"code": "Throttled", "message": "over the thread limit"}},
                        status=429,
                        headers={"Retry-After": "1"},
                    )
            log.append(now)
        return None

    def _record(
        self, kind: str, conversation_id: str, activity: dict[str, Any], reply_to: str = ""
    ) -> str:
        activity_id = str(next(self._ids))
        self.ops.append(
            Op(kind, conversation_id, activity_id, activity, time.monotonic(), reply_to)
        )
        return activity_id

    async def _create(self, request: web.Request) -> web.Response:
        body = await request.json()
        channel = ((body.get("channelData") or {}).get("channel") or {}).get("id", "")
        members = [m.get("id") for m in body.get("members") or [] if isinstance(m, dict)]
        if not channel and len(members) != 1:
            # Teams: a new conversation is a channel post or a 1:1 chat with one member.
            return web.json_response(
                {"error": {"code": "BadArgument", "message": "a channel or one member"}},
                status=400,
            )
        # A 1:1 chat is one per user (Teams returns the same one again): its own thread.
        thread = channel or f"a:personal-{members[0]}"
        refused = await self._gatekeeper(thread)
        if refused is not None:
            return refused
        activity = body.get("activity") or {}
        activity_id = self._record("post", thread, activity)
        conversation = f"{thread};messageid={activity_id}"
        self.ops[-1].conversation_id = conversation
        return web.json_response({"id": conversation, "activityId": activity_id}, status=201)

    async def _send(self, request: web.Request) -> web.Response:
        conversation = request.match_info["conv"]
        refused = await self._gatekeeper(conversation.split(";", 1)[0])
        if refused is not None:
            return refused
        activity = await request.json()
        kind = "reply" if ";messageid=" in conversation else "send"
        reply_to = request.match_info.get("aid", "")
        return web.json_response(
            {"id": self._record(kind, conversation, activity, reply_to)}, status=201
        )

    async def _update(self, request: web.Request) -> web.Response:
        conversation = request.match_info["conv"]
        refused = await self._gatekeeper(conversation.split(";", 1)[0])
        if refused is not None:
            return refused
        activity = await request.json()
        activity_id = request.match_info["aid"]
        self.ops.append(Op("update", conversation, activity_id, activity, time.monotonic()))
        return web.json_response({"id": activity_id}, status=200)

    # ---- what happened ----------------------------------------------------------------------

    def cards(self) -> list[dict[str, Any]]:
        """The Adaptive Cards of every accepted post, send, reply and update, in order."""
        return [op.card for op in self.ops if op.card is not None]

    def of_kind(self, kind: str) -> list[Op]:
        return [op for op in self.ops if op.kind == kind]

    def posts_of(self, incident_id: str) -> list[Op]:
        return [op for op in self.of_kind("post") if incident_of(op.card) == incident_id]
