"""Typed errors for Microsoft Graph and the Defender for Endpoint API.

Both answer failures with ``{"error": {"code": ..., "message": ...}}``; the error keeps the code,
the message and the ``request-id`` that Microsoft support asks for. No error ever holds a token.

Each class is also the port error (:mod:`bot.errors`) its status means, so the services that
use these adapters handle ``Forbidden``, ``NotFound``, ``Throttled``... and never import this
module: a 403 carries the permissions Graph names in ``permissions``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from bot.errors import (
    Conflict,
    Forbidden,
    NotFound,
    PortError,
    Refused,
    SignInFailed,
    Throttled,
    Unavailable,
    Untrusted,
)

_REQUIRES_ONE_OF = re.compile(r"requires one of '([^']*)'", re.IGNORECASE)
_REQUIRED_ROLES = re.compile(r"required roles?: (.+?)\.?\s*(?:application roles|$)", re.IGNORECASE)


class GraphError(PortError):
    """A Microsoft Graph or Defender API call failed.

    ``status`` is the HTTP status, or None when no answer came back (connection error, timeout).
    ``service`` is ``"graph"``, ``"defender"`` or ``"login"``.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str = "",
        request_id: str = "",
        client_request_id: str = "",
        retry_after: float | None = None,
        service: str = "graph",
        method: str = "",
        path: str = "",
    ) -> None:
        super().__init__(
            message,
            status=status,
            code=code,
            request_id=request_id,
            retry_after=retry_after,
            service=service,
            permissions=named_permissions(message) if status == 403 else (),
            sent=service != "login" and not isinstance(self, Untrusted),
        )
        self.client_request_id = client_request_id
        self.method = method
        self.path = path

    def __str__(self) -> str:
        where = f"{self.method} {self.path} " if self.method else ""
        status = f"{self.status} " if self.status is not None else ""
        rid = f" [request-id {self.request_id}]" if self.request_id else ""
        code = f"{self.code}: " if self.code else ""
        return f"{self.service} {where}{status}{code}{self.message}{rid}"

    def advice(self) -> str:
        api = (
            "Microsoft Defender for Endpoint"
            if self.service == "defender"
            else ("Microsoft Entra sign-in" if self.service == "login" else "Microsoft Graph")
        )
        if self.status == 403:
            needed = ", ".join(self.permissions) or "a permission in docs/graph.md"
            return (
                f"The Defender Experts app isn't allowed to read this from {api}: it needs "
                f"{needed}. An administrator must grant it and give admin consent."
            )
        if self.status == 401 or self.service == "login":
            return (
                f"The Defender Experts app couldn't sign in to {api}. Check its certificate "
                "or secret."
            )
        return f"{api} didn't answer. Try again in a few minutes."

    def required_permissions(self) -> tuple[str, ...]:
        """The permissions a 403 says the call needs (``permissions``), when it names them."""
        return self.permissions


def named_permissions(message: str) -> tuple[str, ...]:
    """The permissions a 403's message says the call needs, when it names them."""
    for pattern in (_REQUIRES_ONE_OF, _REQUIRED_ROLES):
        found = pattern.search(message)
        if found:
            names = (p.strip().strip(".") for p in found.group(1).split(","))
            return tuple(n for n in names if n)
    return ()


class GraphAuthError(GraphError, SignInFailed):
    """A token could not be obtained, or the API refused it (401)."""


class GraphBadRequest(GraphError, Refused):
    """400: the request was malformed or is not supported."""


class GraphForbidden(GraphError, Forbidden):
    """403: the app lacks a permission, or a tenant policy forbids the operation."""


class GraphNotFound(GraphError, NotFound):
    """404: the resource does not exist (or is not replicated yet)."""


class GraphConflict(GraphError, Conflict):
    """409: the resource already exists or changed."""


class GraphThrottled(GraphError, Throttled):
    """429 after every retry: the service keeps throttling."""


class GraphUnavailable(GraphError, Unavailable):
    """5xx, a connection error or a timeout: the service could not answer."""


class GraphCertificateError(GraphError, Untrusted):
    """The service's TLS certificate isn't trusted: not retried, since trying again won't help.
    A private CA (a TLS-inspecting proxy) is trusted through SSL_CERT_FILE or REQUESTS_CA_BUNDLE.
    """


_BY_STATUS: dict[int, type[GraphError]] = {
    400: GraphBadRequest,
    401: GraphAuthError,
    403: GraphForbidden,
    404: GraphNotFound,
    409: GraphConflict,
    429: GraphThrottled,
}


def error_from_response(
    status: int,
    body: Any,
    headers: Mapping[str, str],
    *,
    service: str,
    method: str,
    path: str,
    retry_after: float | None = None,
) -> GraphError:
    """Map an error answer (``{"error": {"code", "message", "innerError"}}``) to a typed error."""
    error = body.get("error") if isinstance(body, Mapping) else None
    if not isinstance(error, Mapping):
        error = {}
    inner = error.get("innerError") or error.get("innererror") or {}
    if not isinstance(inner, Mapping):
        inner = {}
    code = str(error.get("code") or "")[:128]
    message = str(error.get("message") or "")[:2000] or f"HTTP {status}"
    request_id = str(
        headers.get("request-id") or inner.get("request-id") or headers.get("x-ms-request-id") or ""
    )[:128]
    client_request_id = str(
        headers.get("client-request-id") or inner.get("client-request-id") or ""
    )[:128]
    kind = _BY_STATUS.get(status) or (GraphUnavailable if status >= 500 else GraphError)
    return kind(
        message,
        status=status,
        code=code,
        request_id=request_id,
        client_request_id=client_request_id,
        retry_after=retry_after,
        service=service,
        method=method,
        path=path,
    )
