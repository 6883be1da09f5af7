"""Bounded logging: untrusted values cut short, tracebacks bounded and once, repeats rate-limited.

* :func:`safe` renders an untrusted value on one short, escaped line.
* :class:`RateLimitedLog` lets ``burst`` lines per key through each ``period`` and then one
  summary line saying how many were dropped; keys are fixed strings (never request values), so
  a flood of bad requests writes a bounded number of lines.
* :class:`BoundedFormatter` caps every record: the message, each line of a traceback, the
  exception's own text (which may quote a request value) and the whole traceback.
* :func:`log_failure` logs an unexpected failure with its traceback once per correlation id.
* :class:`RepeatFilter` rate-limits every repeated message template on the root handler.
* :func:`bot.logcontext.configure_logging` installs both on the root logger (``python -m bot``).
"""

from __future__ import annotations

import logging
import time
import traceback
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

MAX_MESSAGE_CHARS = 2_000
MAX_TRACEBACK_CHARS = 6_000
MAX_EXCEPTION_TEXT_CHARS = 200
MAX_TRACEBACK_FRAMES = 12


def safe(value: Any, limit: int = 80) -> str:
    """A single-line, bounded, escaped rendering of an untrusted value."""
    text = "" if value is None else str(value)[: limit * 4]
    text = text.encode("unicode_escape", "backslashreplace").decode("ascii")
    return text if len(text) <= limit else text[:limit] + "…"


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + f"… [{len(text) - limit} chars cut]"


def bounded_traceback(exc: BaseException) -> str:
    """The traceback with at most ``MAX_TRACEBACK_FRAMES`` frames per exception, each
    exception's text cut to ``MAX_EXCEPTION_TEXT_CHARS`` and no frame's local values."""
    out: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    chain: list[BaseException] = []
    while current is not None and id(current) not in seen and len(chain) < 5:
        seen.add(id(current))
        chain.append(current)
        current = current.__cause__ or current.__context__
    for position, item in enumerate(reversed(chain)):
        if position:
            out.append("\nThe above exception led to:\n")
        frames = traceback.extract_tb(item.__traceback__)[-MAX_TRACEBACK_FRAMES:]
        out.append("Traceback (most recent call last):\n")
        out.extend(traceback.format_list(frames))
        text = _cut(str(item).replace("\n", " "), MAX_EXCEPTION_TEXT_CHARS)
        out.append(f"{type(item).__module__}.{type(item).__qualname__}: {safe(text, 400)}\n")
    return _cut("".join(out).rstrip("\n"), MAX_TRACEBACK_CHARS)


class BoundedFormatter(logging.Formatter):
    """A formatter whose every record is bounded in length, traceback included."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        return _cut(super().formatMessage(record), MAX_MESSAGE_CHARS)

    def formatException(self, ei: Any) -> str:
        exc = ei[1] if isinstance(ei, tuple) else None
        if isinstance(exc, BaseException):
            return bounded_traceback(exc)
        return _cut(super().formatException(ei), MAX_TRACEBACK_CHARS)


class RepeatFilter(logging.Filter):
    """Rate-limits repeated lines: at most ``burst`` records per message template (logger,
    level and format string, not the values) each ``period`` seconds. The first line let
    through in the next period says how many were dropped. Templates are finite (they are in
    the code), so a flood of bad requests writes a bounded amount of log per second."""

    def __init__(
        self,
        *,
        burst: int = 20,
        period: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 2048,
    ) -> None:
        super().__init__()
        self._burst = burst
        self._period = period
        self._clock = clock
        self._max_keys = max_keys
        self._windows: OrderedDict[tuple[str, int, str], list[float]] = OrderedDict()

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.name, record.levelno, str(record.msg)[:200])
        now = self._clock()
        window = self._windows.get(key)
        dropped = 0
        if window is None or now - window[0] >= self._period:
            dropped = int(window[2]) if window is not None else 0
            window = [now, 0, 0]
            self._windows[key] = window
            self._windows.move_to_end(key)
            while len(self._windows) > self._max_keys:
                self._windows.popitem(last=False)
        if window[1] >= self._burst:
            window[2] += 1
            return False
        window[1] += 1
        if dropped:
            record.msg = f"[{dropped} similar lines dropped] {record.msg}"
        return True


class RateLimitedLog:
    """At most ``burst`` lines per key each ``period`` seconds; the rest are counted and
    reported in one line when the key's next period starts."""

    def __init__(
        self,
        logger: logging.Logger,
        *,
        burst: int = 5,
        period: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 256,
    ) -> None:
        self._logger = logger
        self._burst = burst
        self._period = period
        self._clock = clock
        self._max_keys = max_keys
        self._windows: OrderedDict[str, list[float]] = OrderedDict()  # start, count, dropped

    def allow(self, key: str) -> bool:
        """True when a line for ``key`` may be written now."""
        now = self._clock()
        window = self._windows.get(key)
        if window is None or now - window[0] >= self._period:
            if window is not None and window[2]:
                self._logger.warning(
                    "%d more %r log lines were dropped in the last %.0f s",
                    int(window[2]),
                    key,
                    self._period,
                )
            window = [now, 0, 0]
            self._windows[key] = window
            self._windows.move_to_end(key)
            while len(self._windows) > self._max_keys:
                self._windows.popitem(last=False)
        if window[1] < self._burst:
            window[1] += 1
            return True
        window[2] += 1
        return False

    def log(self, level: int, key: str, msg: str, *args: Any, **kwargs: Any) -> None:
        if self.allow(key):
            self._logger.log(level, msg, *args, **kwargs)

    def warning(self, key: str, msg: str, *args: Any, **kwargs: Any) -> None:
        self.log(logging.WARNING, key, msg, *args, **kwargs)

    def error(self, key: str, msg: str, *args: Any, **kwargs: Any) -> None:
        self.log(logging.ERROR, key, msg, *args, **kwargs)


class FailureLog:
    """Unexpected failures: the traceback once per correlation id, and at most ``burst``
    tracebacks per kind of failure (type and place) a period; beyond that one short line."""

    def __init__(self, logger: logging.Logger, *, limiter: RateLimitedLog | None = None) -> None:
        self._logger = logger
        self._limiter = limiter or RateLimitedLog(logger)
        self._seen: OrderedDict[str, None] = OrderedDict()

    def failure(self, correlation_id: str, what: str, exc: BaseException) -> None:
        if correlation_id in self._seen:
            return
        self._seen[correlation_id] = None
        while len(self._seen) > 1024:
            self._seen.popitem(last=False)
        frames = traceback.extract_tb(exc.__traceback__)
        place = f"{frames[-1].filename}:{frames[-1].lineno}" if frames else "?"
        key = f"{type(exc).__qualname__}@{place}"
        if self._limiter.allow(key):
            self._logger.error("%s failed [%s]:\n%s", what, correlation_id, bounded_traceback(exc))
        elif self._limiter.allow("failure-summary"):
            self._logger.error("%s failed [%s]: %s", what, correlation_id, type(exc).__name__)
