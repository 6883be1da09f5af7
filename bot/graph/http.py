"""A small JSON client for Microsoft Graph and the Defender for Endpoint API.

* One ``aiohttp.ClientSession`` for the process, created by the app and passed in.
* Retries 429, 503, 504 and connection errors, honouring ``Retry-After`` (up to an hour), with
  capped exponential backoff and full jitter (:mod:`bot.retry`); never other 4xx answers, and
  never a TLS certificate the bot doesn't trust (that won't fix itself). A request that
  creates something is retried only when the service surely did not process it (429, or no
  connection), so that a retry never creates a second team or channel.
* A 401 drops the cached token and tries once more with a new one.
* With a :class:`~bot.graph.pacing.CallPacer` (the Defender for Endpoint API), every attempt
  waits for its slot within the API's rate limits first.
* Follows ``@odata.nextLink``, but only to the same origin, so that a token never leaves it.
* Errors keep Graph's code, message and ``request-id`` (:mod:`bot.graph.errors`).
"""

from __future__ import annotations

import asyncio
import logging
import random
import ssl
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from multidict import CIMultiDictProxy

from bot.config import Settings
from bot.graph.auth import TokenSource
from bot.graph.errors import (
    GraphAuthError,
    GraphCertificateError,
    GraphError,
    GraphUnavailable,
    error_from_response,
)
from bot.graph.pacing import CallPacer
from bot.logsafe import safe
from bot.retry import RetryPolicy, Sleep, parse_retry_after

log = logging.getLogger(__name__)

RETRY_STATUS = frozenset({429, 503, 504})
DEFAULT_POLICY = RetryPolicy(attempts=5, base_delay=1.0, max_delay=32.0, max_retry_after=3600.0)
DEFAULT_TIMEOUT = aiohttp.ClientTimeout(total=60, connect=10, sock_read=45)
MAX_PAGES = 1000

Params = Mapping[str, str | int]


def ssl_context(settings: Settings) -> ssl.SSLContext | None:
    """The TLS trust for outgoing calls: a private CA from SSL_CERT_FILE or REQUESTS_CA_BUNDLE."""
    cafile = settings.ssl_cert_file or settings.requests_ca_bundle
    if cafile is None:
        return None
    return ssl.create_default_context(cafile=str(cafile))


def create_http_session(settings: Settings) -> aiohttp.ClientSession:
    """The process's one client session, with an explicit timeout. The app closes it."""
    context = ssl_context(settings)
    connector = aiohttp.TCPConnector(ssl=context if context is not None else True, limit=64)
    return aiohttp.ClientSession(
        timeout=DEFAULT_TIMEOUT,
        connector=connector,
        headers={"User-Agent": "DefenderExpertsTeamsBot/0.1"},
        raise_for_status=False,
    )


@dataclass(frozen=True)
class ApiResponse:
    status: int
    headers: CIMultiDictProxy[str]
    body: Any

    def json(self) -> dict[str, Any]:
        return self.body if isinstance(self.body, dict) else {}


class _Retry(Exception):
    def __init__(self, error: GraphError, wait: float | None) -> None:
        super().__init__(str(error))
        self.error = error
        self.wait = wait


class ApiClient:
    """Authenticated JSON calls to one API root (``https://graph.microsoft.com/v1.0``)."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        tokens: TokenSource,
        base_url: str,
        scope: str,
        *,
        service: str = "graph",
        policy: RetryPolicy = DEFAULT_POLICY,
        sleep: Sleep = asyncio.sleep,
        rand: Callable[[], float] = random.random,
        pacer: CallPacer | None = None,
    ) -> None:
        self._session = session
        self._pacer = pacer
        self._tokens = tokens
        self.base_url = base_url.rstrip("/")
        self._origin = _origin(self.base_url)
        self.scope = scope
        self.service = service
        self._policy = policy
        self._sleep = sleep
        self._rand = rand

    def url(self, path_or_url: str) -> str:
        """An absolute URL on this API's origin; paths are relative to the API root."""
        if path_or_url.startswith(("https://", "http://")):
            if _origin(path_or_url) != self._origin:
                raise GraphError(
                    "refused to follow a link to another host",
                    service=self.service,
                    path=urlsplit(path_or_url).path,
                )
            return path_or_url
        return f"{self.base_url}/{path_or_url.lstrip('/')}"

    async def request(
        self,
        method: str,
        path_or_url: str,
        *,
        params: Params | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        creates: bool = False,
    ) -> ApiResponse:
        """Send one call with retries. ``creates=True`` marks a call that must not be repeated
        unless the service surely did not process it (429, or no connection was made)."""
        url = self.url(path_or_url)
        path = urlsplit(url).path
        attempt = 1
        refreshed = False
        while True:
            try:
                return await self._once(method, url, path, params, json, headers, creates)
            except asyncio.CancelledError:
                raise
            except GraphAuthError as exc:
                if exc.status == 401 and not refreshed:
                    refreshed = True
                    self._tokens.invalidate(self.scope)
                    continue
                raise
            except _Retry as retry:
                if attempt >= self._policy.attempts:
                    raise retry.error from None
                delay = self._policy.delay(attempt, retry.wait, self._rand)
                log.info(
                    "%s %s %s: %s, retry %d in %.1fs",
                    self.service,
                    method,
                    safe(path),
                    retry.error.status or "no connection",
                    attempt,
                    delay,
                )
                await self._sleep(delay)
                attempt += 1

    async def _once(
        self,
        method: str,
        url: str,
        path: str,
        params: Params | None,
        json: Any,
        headers: Mapping[str, str] | None,
        creates: bool,
    ) -> ApiResponse:
        try:
            token = await self._tokens.token(self.scope)
        except GraphUnavailable as exc:
            raise _Retry(exc, None) from exc
        if self._pacer is not None:
            await self._pacer.acquire()
        request_id = str(uuid.uuid4())
        sent_headers = {
            "Authorization": f"Bearer {token}",
            "Accept": "application/json",
            "client-request-id": request_id,
            "return-client-request-id": "true",
            **(headers or {}),
        }
        try:
            async with self._session.request(
                method,
                url,
                params=dict(params) if params else None,
                json=json,
                headers=sent_headers,
            ) as response:
                body = await _body(response)
                status = response.status
                response_headers = response.headers
        except aiohttp.ClientConnectorCertificateError as exc:
            raise GraphCertificateError(
                f"the TLS certificate of {urlsplit(url).hostname} is not trusted: check "
                "SSL_CERT_FILE / REQUESTS_CA_BUNDLE",
                service=self.service,
                method=method,
                path=path,
                client_request_id=request_id,
            ) from exc
        except aiohttp.ClientConnectorError as exc:
            error = GraphUnavailable(
                f"cannot connect: {type(exc).__name__}",
                service=self.service,
                method=method,
                path=path,
                client_request_id=request_id,
            )
            raise _Retry(error, None) from exc
        except (aiohttp.ClientError, TimeoutError) as exc:
            error = GraphUnavailable(
                f"no answer: {type(exc).__name__}",
                service=self.service,
                method=method,
                path=path,
                client_request_id=request_id,
            )
            if creates:
                raise error from exc
            raise _Retry(error, None) from exc
        if status < 400:
            return ApiResponse(status, response_headers, body)
        retry_after = parse_retry_after(response_headers.get("Retry-After"))
        failure = error_from_response(
            status,
            body,
            response_headers,
            service=self.service,
            method=method,
            path=path,
            retry_after=retry_after,
        )
        if status in RETRY_STATUS and (status == 429 or not creates):
            raise _Retry(failure, retry_after)
        raise failure

    async def get(
        self,
        path_or_url: str,
        *,
        params: Params | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        return (await self.request("GET", path_or_url, params=params, headers=headers)).json()

    async def pages(
        self,
        path_or_url: str,
        *,
        params: Params | None = None,
        headers: Mapping[str, str] | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[dict[str, Any]]:
        """Every item of a collection, following ``@odata.nextLink``; at most ``limit`` items."""
        url: str | None = path_or_url
        query: Params | None = params
        seen = 0
        for _ in range(MAX_PAGES):
            if url is None:
                return
            page = await self.get(url, params=query, headers=headers)
            for item in page.get("value") or []:
                if isinstance(item, dict):
                    yield item
                    seen += 1
                    if limit is not None and seen >= limit:
                        return
            next_link = page.get("@odata.nextLink")
            url = next_link if isinstance(next_link, str) and next_link else None
            query = None
        raise GraphError("too many pages", service=self.service, path=path_or_url[:200])


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


async def _body(response: aiohttp.ClientResponse) -> Any:
    raw = await response.read()
    if not raw:
        return None
    try:
        return await response.json(content_type=None)
    except ValueError:
        return {"error": {"code": "", "message": raw[:300].decode("utf-8", "replace")}}
