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
