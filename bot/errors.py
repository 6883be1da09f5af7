"""The small error hierarchy of the bot."""


class BotError(Exception):
    """Base of every error the bot raises on purpose."""


class ConfigError(BotError):
    """A setting is missing or malformed; the message names the variable."""


class StorageError(BotError):
    """The store failed."""


class ConcurrencyError(StorageError):
    """An optimistic-concurrency check failed: someone else wrote first."""


class ValidationError(BotError):
    """Untrusted input was refused. The message is safe to show to the user."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class DependencyError(BotError):
    """A service the bot depends on (directory, Graph, Defender) refused or failed."""

    def advice(self) -> str:
        """What to tell the user, in plain words: safe to show, no internals."""
        return "A service the bot depends on didn't answer. Try again in a few minutes."


class PortError(DependencyError):
    """What a port (TeamsProvisioner, TenantDirectory, Mailer, ...) raises when the service
    behind it refuses or fails. Adapters translate their library's errors into its subclasses,
    so services handle these and never import an adapter.

    ``status`` is the HTTP status when there was an answer (None otherwise); ``request_id`` is
    what the provider's support asks for; ``service`` names the provider (``graph``,
    ``defender``, ``login``, ...) for messages and logs. ``sent`` is False when the request
    surely never reached the service (no token could be had, an untrusted certificate): a
    create that failed so created nothing.
    """

    retryable = False

    def __init__(
        self,
        message: str = "",
        *,
        status: int | None = None,
        code: str = "",
        request_id: str = "",
        retry_after: float | None = None,
        service: str = "",
        permissions: tuple[str, ...] = (),
        sent: bool = True,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.request_id = request_id
        self.retry_after = retry_after
        self.service = service
        self.permissions = permissions
        self.sent = sent

    def advice(self) -> str:
        return "A Microsoft service the bot depends on refused the request."


class Refused(PortError):
    """The request was refused as malformed or unsupported (400). Not retried."""


class SignInFailed(PortError):
    """The app couldn't sign in (no token) or its token was refused (401): nothing was done."""

    def advice(self) -> str:
        return (
            "The Defender Experts app couldn't sign in to Microsoft. Check its certificate or "
            "secret."
        )


class Untrusted(PortError):
    """The service's TLS certificate isn't trusted: nothing was sent, and trying again won't
    help until the trust store is fixed."""


class Forbidden(PortError):
    """The app lacks a permission, or a tenant policy forbids the operation (403).

    ``permissions`` are the application permissions the answer (or the adapter, which knows
    the call) says are missing; empty when a policy, not a permission, refused it.
    """

    def advice(self) -> str:
        needed = " or ".join(self.permissions) or "a permission listed in docs/graph.md"
        return (
            f"The Defender Experts app is missing the application permission {needed}. An "
            "administrator must grant it and give admin consent."
        )


class NotFound(PortError):
    """The resource doesn't exist, or isn't replicated yet (404)."""


class Conflict(PortError):
    """The resource already exists, or changed meanwhile (409)."""


class Throttled(PortError):
    """The service keeps throttling (429 after the adapter's own retries)."""

    retryable = True

    def advice(self) -> str:
        return "Microsoft is busy right now. Try again in a few minutes."


class Unavailable(PortError):
    """No answer, a connection error, a timeout or a 5xx."""

    retryable = True

    def advice(self) -> str:
        return "A Microsoft service the bot depends on didn't answer. Try again in a few minutes."
