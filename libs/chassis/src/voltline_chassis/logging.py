"""Structured JSON logging shared by every service.

One configuration for structlog *and* stdlib loggers (uvicorn, aiokafka, sqlalchemy) so that every
line on stdout is a single JSON object with the same keys, and request/station context bound with
:func:`bind_context` shows up on lines emitted by library code too.
"""

from __future__ import annotations

import json as _json
import logging
import re
import sys
from collections.abc import Mapping
from contextvars import Token
from types import TracebackType
from typing import Any, TextIO

import structlog
from structlog.types import EventDict, Processor, WrappedLogger
from voltline_bus.logcontext import merge_event_context

from voltline_chassis.tracing import add_trace_ids

REDACTED = "[REDACTED]"

# Matched anywhere in a key name, case-insensitively: "db_password", "X-Api-Key", "refresh_token"...
_SENSITIVE_KEY = re.compile(
    r"passw(or)?d|passwd|pwd|token|secret|authori[sz]ation|api[-_]?key|cookie|credential", re.IGNORECASE
)
# Secrets inside free text (messages, tracebacks): bearer headers, key=value pairs, DSN passwords.
_BEARER = re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/=-]+")
_URL_PASSWORD = re.compile(r"([a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s]+:)[^@\s]+@")
# Bounded name parts: with `[\w-]*` a long run of letters (a 10,000-character path) made every log line
# cost seconds of backtracking.
_INLINE_SECRET = re.compile(
    r"(?i)([\w-]{0,64}(?:passw(?:or)?d|passwd|pwd|secret|token|api[-_]?key)[\w-]{0,64})(\s*[=:]\s*)[^\s,;&'\"]+"
)
# Longer strings are cut: whatever a client sends, a log line stays small (and cheap to scrub).
MAX_LOGGED_CHARS = 2000
MAX_TRACEBACK_CHARS = 8000
_TRACEBACK_KEYS = frozenset({"exception", "stack"})
# Library loggers that may have been given their own handlers (e.g. by uvicorn's default config).
_ROUTED_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi", "aiokafka", "sqlalchemy")


def scrub_secrets(text: str) -> str:
    """Mask bearer tokens, ``password=...`` pairs and URL passwords inside free text."""
    text = _BEARER.sub(rf"\1 {REDACTED}", text)
    text = _INLINE_SECRET.sub(rf"\1\2{REDACTED}", text)
    return _URL_PASSWORD.sub(rf"\1{REDACTED}@", text)


def _cut(text: str, key: object) -> str:
    if key in _TRACEBACK_KEYS:  # the end of a traceback says what went wrong: keep that
        if len(text) > MAX_TRACEBACK_CHARS:
            return f"[{len(text) - MAX_TRACEBACK_CHARS} characters left out]...{text[-MAX_TRACEBACK_CHARS:]}"
        return text
    if len(text) > MAX_LOGGED_CHARS:
        return f"{text[:MAX_LOGGED_CHARS]}...[{len(text) - MAX_LOGGED_CHARS} more characters]"
    return text


def _redact(value: Any, key: object = None) -> Any:
    if isinstance(value, str):
        return scrub_secrets(_cut(value, key))
    if isinstance(value, Mapping):
        return {
            k: REDACTED if isinstance(k, str) and _SENSITIVE_KEY.search(k) else _redact(v, k) for k, v in value.items()
        }
    if isinstance(value, list | tuple | set | frozenset):
        return [_redact(v) for v in value]
    return value


def redact_secrets(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """Last line of defence: a stray ``password=`` or bearer header must never reach log storage."""
    redacted: EventDict = _redact(event_dict)
    return redacted


def _add_service(service: str) -> Processor:
    def add_service(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
        # setdefault: a request handled by another in-process app binds its own service name.
        event_dict.setdefault("service", service)
        return event_dict

    return add_service


class _StdoutHandler(logging.StreamHandler[TextIO]):
    """Resolve ``sys.stdout`` per record so redirected/captured stdout (tests, supervisors) works."""

    _voltline = True

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stdout
        super().emit(record)


def configure_logging(service: str, level: str = "INFO", json: bool = True) -> None:
    """Configure structlog and the stdlib root logger; safe to call more than once."""
    numeric_level = logging.getLevelName(level.strip().upper())
    if not isinstance(numeric_level, int):
        raise ValueError(f"unknown log level {level!r}")

    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        merge_event_context,  # the ids of the event a consumer's handler is handling (voltline_bus.logcontext)
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True, key="timestamp"),
        _add_service(service),
        add_trace_ids,
    ]
    renderer: Processor = (
        structlog.processors.JSONRenderer(serializer=_json.dumps, default=str)
        if json
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            redact_secrets,
            renderer,
        ],
    )
    handler = _StdoutHandler(sys.stdout)
    handler.setFormatter(formatter)

    root = logging.getLogger()
    for existing in root.handlers[:]:
        # Replace our previous handler and basicConfig-style ones; leave pytest's capture handlers.
        if getattr(existing, "_voltline", False) or type(existing) is logging.StreamHandler:
            root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(numeric_level)
    for name in _ROUTED_LOGGERS:
        lib_logger = logging.getLogger(name)
        lib_logger.handlers.clear()
        lib_logger.propagate = True
        # uvicorn.Config(log_level=...) sets its loggers' levels: an earlier server in this process (a test's)
        # would otherwise keep filtering what the root level lets through.
        lib_logger.setLevel(logging.NOTSET)
    # SQLAlchemy logs every statement and its parameters (password hashes among them) when its logger lets INFO
    # through; it sets WARNING itself at import, which the reset above undid. An engine's `echo` still works.
    logging.getLogger("sqlalchemy").setLevel(logging.WARNING)

    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        # Module-level loggers are created at import, before configure_logging runs; caching
        # would freeze them on the default config.
        cache_logger_on_first_use=False,
    )


def get_logger(name: str | None = None, **initial: Any) -> structlog.stdlib.BoundLogger:
    """Typed shortcut for ``structlog.get_logger``."""
    return structlog.stdlib.get_logger(name, **initial)


class bind_context:  # lower-case: reads as a function at call sites
    """Bind keys (``station_id``, ``session_id``, ``message_id``...) to every log line in this task.

    Called plainly it binds for the rest of the current asyncio task (contextvars are copied per
    task, so other tasks are unaffected). Used as ``with bind_context(...)`` it restores the previous
    values on exit. ``None`` values are skipped so callers can pass optional ids unconditionally.
    """

    def __init__(self, **values: Any) -> None:
        self._tokens: Mapping[str, Token[Any]] = structlog.contextvars.bind_contextvars(
            **{k: v for k, v in values.items() if v is not None}
        )

    def __enter__(self) -> bind_context:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        structlog.contextvars.reset_contextvars(**self._tokens)
