"""Builds the Graph and Defender API clients of one app registration."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

import aiohttp

from bot.config import Settings
from bot.graph.auth import ClientCredentials, MsalTokenSource, TokenSource
from bot.graph.errors import GraphError
from bot.graph.http import ApiClient, create_http_session
from bot.graph.pacing import DEFENDER_LIMITS, CallPacer
from bot.retry import Sleep

GRAPH_VERSION = "v1.0"
DEFENDER_RESOURCE = "https://api.securitycenter.microsoft.com"


def graph_scope(endpoint: str) -> str:
    """``https://graph.microsoft.com/.default``, or the sovereign cloud's equivalent."""
    return f"{endpoint.rstrip('/')}/.default"


def defender_scope(endpoint: str) -> str:
    """The Defender for Endpoint API accepts tokens for ``api.securitycenter.microsoft.com``
    on its commercial hosts (``api.security.microsoft.com`` and the regional ones)."""
    host = (urlsplit(endpoint).hostname or "").lower()
    if host.endswith(".security.microsoft.com") or host.endswith(".securitycenter.microsoft.com"):
        return f"{DEFENDER_RESOURCE}/.default"
    return f"{endpoint.rstrip('/')}/.default"


@dataclass
class MicrosoftApis:
    """The clients of one app registration: Graph and the Defender for Endpoint API."""

    tokens: TokenSource
    graph: ApiClient
    defender: ApiClient

    def close(self) -> None:
        self.tokens.close()


def build_apis(
    settings: Settings,
    session: aiohttp.ClientSession,
    *,
    tokens: TokenSource | None = None,
    sleep: Sleep = asyncio.sleep,
    rand: Callable[[], float] = random.random,
    clock: Callable[[], float] = time.monotonic,
) -> MicrosoftApis:
    """Graph and Defender clients; Defender's calls are paced within its rate limits (100 a
    minute, 1,500 an hour), on ``clock`` and ``sleep``."""
    tokens = tokens or MsalTokenSource(ClientCredentials.from_settings(settings))
    graph = ApiClient(
        session,
        tokens,
        f"{settings.graph_endpoint}/{GRAPH_VERSION}",
        graph_scope(settings.graph_endpoint),
        service="graph",
        sleep=sleep,
        rand=rand,
    )
    defender = ApiClient(
        session,
        tokens,
        settings.security_api_endpoint,
        defender_scope(settings.security_api_endpoint),
        service="defender",
        sleep=sleep,
        rand=rand,
        pacer=CallPacer(DEFENDER_LIMITS, clock=clock, sleep=sleep),
    )
    return MicrosoftApis(tokens=tokens, graph=graph, defender=defender)


__all__ = [
    "ApiClient",
    "GraphError",
    "MicrosoftApis",
    "build_apis",
    "create_http_session",
    "defender_scope",
    "graph_scope",
]
