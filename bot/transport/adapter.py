"""The botbuilder CloudAdapter, adapted: retries, reused connector clients, and safe invoke bodies.

* botbuilder 4.17.1 doesn't retry when the connector answers 429 or 5xx; replies and card updates
  are retried here, within bounds, honouring Retry-After.
* botbuilder builds a new ConnectorClient (and msrest's retry-policy list) on every turn; clients
  are reused per (app, service URL, audience) instead.
* msrest walks a value typed ``object`` (an Adaptive Card's content, ``channelData``, an invoke's
  ``value``) one scalar at a time in Python, which took most of a post's CPU on the event loop
  (an incident card: about 6 ms of the 8 ms a post cost, under the notifications benchmark's
  load); the cached clients serialize plain JSON values as they are (``JsonValueSerializer``).
* ``invoke_body`` passes an already-serialized dict through unchanged, working around the
  ``'dict' object has no attribute 'is_xml_model'`` failure in ``CloudAdapter.process``
  (microsoft/teams-sdk#2547).
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from botbuilder.core import TurnContext, serializer_helper
from botbuilder.integration.aiohttp import CloudAdapter, ConfigurationBotFrameworkAuthentication
from botbuilder.schema import Activity, ResourceResponse
from botframework.connector.aio import ConnectorClient
from botframework.connector.auth import (
    AuthenticateRequestResult,
    BotFrameworkAuthentication,
    ClaimsIdentity,
    ConnectorFactory,
    UserTokenClient,
)
from msrest.exceptions import ClientRequestError, HttpOperationError
from msrest.serialization import Model, Serializer

from bot.config import Settings
from bot.retry import RETRYABLE_STATUS, RetryPolicy, Sleep, parse_retry_after, retry_async

log = logging.getLogger(__name__)

_CACHE_SIZE = 256


class _Config:
    """The attribute bag ConfigurationBotFrameworkAuthentication reads."""

    def __init__(self, settings: Settings) -> None:
        self.APP_ID = settings.app_id
        self.APP_PASSWORD = settings.app_password
        self.APP_TYPE = settings.app_type
        self.APP_TENANTID = settings.app_tenant_id


class _ClientCache:
    def __init__(self, size: int = _CACHE_SIZE) -> None:
        self._items: OrderedDict[tuple[str, ...], Any] = OrderedDict()
        self._size = size
        self._lock = asyncio.Lock()

    async def get(self, key: tuple[str, ...], make: Callable[[], Awaitable[Any]]) -> Any:
        found = self._items.get(key)
        if found is not None:
            self._items.move_to_end(key)
            return found
        async with self._lock:
            found = self._items.get(key)
            if found is None:
                found = await make()
                self._items[key] = found
                while len(self._items) > self._size:
                    self._items.popitem(last=False)
            return found

    async def close(self) -> None:
        """Close every cached client (their HTTP sessions) and forget them."""
        async with self._lock:
            clients = list(self._items.values())
            self._items.clear()
        for client in clients:
            exit_ = getattr(client, "__aexit__", None)
            if exit_ is None:
                continue
            try:
                await exit_(None, None, None)
            except Exception:
                log.warning("could not close a connector client", exc_info=True)


class JsonValueSerializer(Serializer):  # type: ignore[misc]
    """msrest's serializer, except that a dict or list typed ``object`` that is plain JSON (only
    dicts with string keys, lists, strings, numbers, booleans and nulls: what the cards and the
    channel data are) is passed on as it is. msrest would rebuild it value by value with the
    same result; anything else (a model, a date, a circular value) still goes to msrest."""

    def serialize_object(self, attr: Any, **kwargs: Any) -> Any:
        kind = type(attr)
        if kind is dict or kind is list:
            # In C: json refuses what isn't JSON (and a circular value), and the round trip
            # compares equal only if every key was a string, every list a list, no NaN.
            try:
                plain = json.loads(json.dumps(attr)) == attr
            except (TypeError, ValueError):
                plain = False
            if plain:
                return attr
        return super().serialize_object(attr, **kwargs)  # type: ignore[no-untyped-call]


def use_json_values(client: ConnectorClient) -> ConnectorClient:
    """The client's operations serialize with :class:`JsonValueSerializer`."""
    serializer = JsonValueSerializer(client._serialize.dependencies)  # type: ignore[no-untyped-call]
    client._serialize = serializer
    client.conversations._serialize = serializer
    client.attachments._serialize = serializer
    return client


class _ReusingConnectorFactory(ConnectorFactory):  # type: ignore[misc]
    def __init__(self, inner: ConnectorFactory, cache: _ClientCache, app_id: str) -> None:
        self._inner = inner
        self._cache = cache
        self._app_id = app_id

    async def create(self, service_url: str, audience: str | None = None) -> ConnectorClient:
        key = ("connector", self._app_id, service_url, audience or "")
        return await self._cache.get(key, lambda: self._single_attempt(service_url, audience))

    async def _single_attempt(self, service_url: str, audience: str | None) -> ConnectorClient:
        """msrest would re-send a POST after some 5xx on its own; retries are ours alone."""
        client = await self._inner.create(service_url, audience)
        client.config.retry_policy.retries = 0
        return use_json_values(client)


class ReusingAuthentication(BotFrameworkAuthentication):  # type: ignore[misc]
    """Delegates to botbuilder's authentication, but reuses connector and token clients."""

    def __init__(self, inner: BotFrameworkAuthentication) -> None:
        self._inner = inner
        self._cache = _ClientCache()

    async def close(self) -> None:
        """Close the cached connector and token clients."""
        await self._cache.close()

    @staticmethod
    def _app_id(identity: ClaimsIdentity | None) -> str:
        claims = getattr(identity, "claims", None) or {}
        return str(claims.get("aud") or claims.get("appid") or claims.get("azp") or "")

    async def authenticate_request(
        self, activity: Activity, auth_header: str
    ) -> AuthenticateRequestResult:
        result = await self._inner.authenticate_request(activity, auth_header)
        if result.connector_factory is not None:
            result.connector_factory = _ReusingConnectorFactory(
                result.connector_factory, self._cache, self._app_id(result.claims_identity)
            )
        return result

    async def authenticate_streaming_request(
        self, auth_header: str, channel_id_header: str
    ) -> AuthenticateRequestResult:
        return await self._inner.authenticate_streaming_request(auth_header, channel_id_header)

    def create_connector_factory(self, claims_identity: ClaimsIdentity) -> ConnectorFactory:
        return _ReusingConnectorFactory(
            self._inner.create_connector_factory(claims_identity),
            self._cache,
            self._app_id(claims_identity),
        )

    async def create_user_token_client(self, claims_identity: ClaimsIdentity) -> UserTokenClient:
        key = ("token", self._app_id(claims_identity))
        return await self._cache.get(
            key, lambda: self._inner.create_user_token_client(claims_identity)
        )

    def create_bot_framework_client(self) -> Any:
        return self._inner.create_bot_framework_client()

    def get_originating_audience(self) -> str:
        return str(self._inner.get_originating_audience())

    async def authenticate_channel_request(self, auth_header: str) -> ClaimsIdentity:
        return await self._inner.authenticate_channel_request(auth_header)


CONNECTION_ERRORS = (ClientRequestError, aiohttp.ClientError, TimeoutError)
"""What the connector client raises when no answer came back."""


def connector_answer(exc: HttpOperationError) -> tuple[int | None, float | None]:
    """The HTTP status of a connector error answer and the Retry-After it asked for, if any."""
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None)
    headers = getattr(response, "headers", None) or {}
    return (
        status if isinstance(status, int) else None,
        parse_retry_after(headers.get("Retry-After")),
    )


def classify_connector_error(exc: BaseException) -> bool | float:
    """False: don't retry. True: retry with backoff. A number: wait that long (Retry-After)."""
    if isinstance(exc, HttpOperationError):
        status, after = connector_answer(exc)
        if status not in RETRYABLE_STATUS:
            return False
        return True if after is None else after
    return isinstance(exc, ClientRequestError | aiohttp.ClientConnectionError | TimeoutError)


class RetryingCloudAdapter(CloudAdapter):  # type: ignore[misc]
    """CloudAdapter whose sends and updates retry 412/429/5xx and connection errors."""

    def __init__(
        self,
        auth: BotFrameworkAuthentication,
        policy: RetryPolicy,
        *,
        sleep: Sleep = asyncio.sleep,
        rand: Callable[[], float] = random.random,
    ) -> None:
        super().__init__(auth)
        self._policy = policy
        self._sleep = sleep
        self._rand = rand

    async def _retry(self, op: Callable[[], Awaitable[Any]]) -> Any:
        return await retry_async(
            op, classify_connector_error, self._policy, sleep=self._sleep, rand=self._rand
        )

    async def send_activities(
        self, context: TurnContext, activities: list[Activity]
    ) -> list[ResourceResponse]:
        send_one = super().send_activities
        responses: list[ResourceResponse] = []
        for activity in activities:

            def attempt(one: Activity = activity) -> Awaitable[list[ResourceResponse]]:
                return send_one(context, [one])  # type: ignore[no-any-return]

            responses.extend(await self._retry(attempt))
        return responses

    async def update_activity(self, context: TurnContext, activity: Activity) -> Any:
        update = super().update_activity
        return await self._retry(lambda: update(context, activity))

    async def close(self) -> None:
        """Close the connector clients this adapter cached."""
        auth = self.bot_framework_authentication
        if isinstance(auth, ReusingAuthentication):
            await auth.close()


def build_adapter(settings: Settings, *, sleep: Sleep = asyncio.sleep) -> RetryingCloudAdapter:
    auth = ReusingAuthentication(ConfigurationBotFrameworkAuthentication(_Config(settings)))
    policy = RetryPolicy(attempts=settings.connector_retry_attempts)
    return RetryingCloudAdapter(auth, policy, sleep=sleep)


def invoke_body(body: Any) -> Any:
    """The JSON of an invoke response body: msrest models are serialized, plain data passes."""
    if body is None or isinstance(body, dict | list | str | int | float | bool):
        return body
    if isinstance(body, Model):
        return serializer_helper(body)
    raise TypeError(f"unsupported invoke body type {type(body).__name__}")
