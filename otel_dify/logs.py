"""JSON-lines logging on stdout, with secret redaction and rate limiting of repeats.

:func:`configure_logging` installs one handler on the root logger, so records of
every library that logs through :mod:`logging` come out the same way. That
includes the exporter and reader errors of the OpenTelemetry SDK. Each line is one
JSON object with ``timestamp`` (ISO 8601, UTC), ``level``, ``logger``,
``message``, every ``extra`` field, and ``exc_info`` when an exception is
attached.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import threading
import time
from collections import OrderedDict
from datetime import datetime, timezone
from typing import Any, Callable, TextIO

from pythonjsonlogger.json import JsonFormatter

REDACTED = "***"

# Shorter values would mask ordinary words and numbers all over the output.
MIN_SECRET_LENGTH = 4

DEFAULT_RATE_LIMIT_WINDOW_S = 300.0

# Attributes that every LogRecord has. Anything else on a record came from ``extra``.
_RECORD_ATTRIBUTES = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message",
    "asctime",
    "taskName",
}

# Record fields that, together with logger, level and message template, make two records "the same".
_RATE_LIMIT_FIELDS: tuple[str, ...] = ("endpoint", "app_id", "error_type")


class SecretRegistry:
    """Secret values to replace with ``***`` wherever they appear in log output. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._secrets: set[str] = set()
        self._pattern: re.Pattern[str] | None = None

    def register(self, value: str) -> None:
        """Add ``value`` and its JSON-escaped form. Values shorter than 4 characters are ignored."""
        if len(value) < MIN_SECRET_LENGTH:
            return

        # The JSON output escapes quotes, backslashes and non-ASCII characters,
        # so the escaped spelling must be masked too.
        escaped = json.dumps(value)[1:-1]
        with self._lock:
            self._secrets.update({value, escaped})
            # Longest first, so a secret that contains another is masked whole.
            alternatives = sorted(self._secrets, key=len, reverse=True)
            self._pattern = re.compile("|".join(re.escape(secret) for secret in alternatives))

    def clear(self) -> None:
        """Forget every registered secret."""
        with self._lock:
            self._secrets.clear()
            self._pattern = None

    def redact(self, text: str) -> str:
        """Return ``text`` with every registered secret replaced by ``***``."""
        pattern = self._pattern
        if pattern is None:
            return text
        return pattern.sub(REDACTED, text)

    def redact_value(self, value: Any) -> Any:
        """Redact strings inside ``value``, descending into dicts, lists and tuples."""
        if isinstance(value, str):
            return self.redact(value)
        if isinstance(value, dict):
            return {key: self.redact_value(item) for key, item in value.items()}
        if isinstance(value, (list, tuple)):
            return type(value)(self.redact_value(item) for item in value)
        return value


_registry = SecretRegistry()


def register_secret(value: str) -> None:
    """Mask ``value`` in every later log line of this process.

    The CLI registers the password and the admin API key, and the Dify client
    can register session tokens. Values shorter than 4 characters are not
    registered, because masking them would garble ordinary text.
    """
    _registry.register(value)


def clear_secrets() -> None:
    """Forget every registered secret (for tests)."""
    _registry.clear()


class RedactionFilter(logging.Filter):
    """Replace registered secrets in a record's message, arguments and extra fields with ``***``.

    The message is formatted here and stored without arguments, so no later
    formatting step can bring a secret back.
    """

    def __init__(self, registry: SecretRegistry | None = None) -> None:
        super().__init__()
        self._registry = registry or _registry

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            # A template that does not match its arguments: let the handler
            # report it, but still mask what the template itself contains.
            message = str(record.msg)
        record.msg = self._registry.redact(message)
        record.args = None

        for key, value in list(record.__dict__.items()):
            if key not in _RECORD_ATTRIBUTES:
                setattr(record, key, self._registry.redact_value(value))
        return True


class RateLimitFilter(logging.Filter):
    """Drop repeats of a record within a time window and count them.

    Two records repeat each other when logger, level, message template and
    the ``endpoint``, ``app_id`` and ``error_type`` extra fields are equal. The
    first record of a window passes; later ones are dropped until
    ``window_s`` seconds of ``clock`` have passed. The next record after that
    passes with ``suppressed=N``, the number dropped meanwhile. Records below
    ``min_level`` always pass, so periodic INFO lines such as poll summaries
    are never dropped. Thread-safe.
    """

    def __init__(
        self,
        window_s: float = DEFAULT_RATE_LIMIT_WINDOW_S,
        *,
        min_level: int = logging.WARNING,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 10_000,
    ) -> None:
        super().__init__()
        self._window_s = window_s
        self._min_level = min_level
        self._clock = clock
        self._max_keys = max_keys
        self._lock = threading.Lock()
        # key -> [window start, records dropped in this window]
        self._windows: OrderedDict[tuple[object, ...], list[float]] = OrderedDict()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < self._min_level:
            return True

        key = (
            record.name,
            record.levelno,
            str(record.msg),
            *(getattr(record, field, None) for field in _RATE_LIMIT_FIELDS),
        )
        now = self._clock()

        with self._lock:
            window = self._windows.get(key)
            if window is not None and now - window[0] < self._window_s:
                window[1] += 1
                return False

            if window is not None and window[1]:
                record.suppressed = int(window[1])
            self._windows[key] = [now, 0]
            self._windows.move_to_end(key)
            self._forget_oldest()
        return True

    def _forget_oldest(self) -> None:
        # NOTE: a key dropped here loses its count of suppressed records. This
        # happens only with more distinct repeating records than max_keys.
        while len(self._windows) > self._max_keys:
            self._windows.popitem(last=False)


class _JsonLinesFormatter(JsonFormatter):
    """JSON formatter with a fixed leading field order and a last redaction pass."""

    def __init__(self, registry: SecretRegistry) -> None:
        super().__init__(
            "{levelname}{name}{message}",
            style="{",
            rename_fields={"levelname": "level", "name": "logger"},
        )
        self._registry = registry

    def add_fields(self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]) -> None:
        super().add_fields(log_data, record, message_dict)

        # Put timestamp, level, logger and message first, so lines read well unparsed.
        fields = dict(log_data)
        log_data.clear()
        log_data["timestamp"] = (
            datetime.fromtimestamp(record.created, tz=timezone.utc).isoformat(timespec="milliseconds")
        ).replace("+00:00", "Z")
        for leading in ("level", "logger", "message"):
            log_data[leading] = fields.pop(leading, None)
        log_data.update(fields)

    def format(self, record: logging.LogRecord) -> str:
        # Exception text and stack traces bypass RedactionFilter, so mask the
        # finished line as well.
        return self._registry.redact(super().format(record))


class _OwnHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Marks the handler that configure_logging installed, so a second call replaces it."""


def configure_logging(
    level: str,
    stream: TextIO | None = None,
    *,
    rate_limit_window_s: float = DEFAULT_RATE_LIMIT_WINDOW_S,
    clock: Callable[[], float] = time.monotonic,
) -> logging.Handler:
    """Send every log record as one JSON line to ``stream`` (default: ``sys.stdout`` at call time).

    ``level`` is DEBUG, INFO, WARNING or ERROR and applies to the root logger.
    A second call replaces the handler of the first one. Plain stream handlers
    that others put on the root logger (``logging.basicConfig``) are removed, so
    no line is written twice. Other handlers, such as pytest's capture, stay.
    Python warnings are routed to logging too. Returns the installed handler.

    Raises ValueError for an unknown level.
    """
    level_number = logging.getLevelNamesMapping().get(level.strip().upper())
    if level_number is None:
        raise ValueError(f"invalid log level {level!r} (expected DEBUG, INFO, WARNING or ERROR)")

    handler = _OwnHandler(stream if stream is not None else sys.stdout)
    handler.setFormatter(_JsonLinesFormatter(_registry))
    # Rate limiting runs first because it keys on the message template,
    # which redaction replaces with the formatted message.
    handler.addFilter(RateLimitFilter(rate_limit_window_s, clock=clock))
    handler.addFilter(RedactionFilter(_registry))

    root = logging.getLogger()
    for existing in list(root.handlers):
        if isinstance(existing, _OwnHandler) or type(existing) is logging.StreamHandler:
            root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level_number)

    logging.captureWarnings(True)
    return handler
