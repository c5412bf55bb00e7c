"""Structured JSON logging that never prints secrets.

Every event passes through `redact`, which masks values under secret-looking keys and any
registered secret value wherever it appears in a string, so a key that slips into a message or
an exception text is still never written out.
"""

from __future__ import annotations

import contextlib
import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

_SECRET_KEY_PATTERN = re.compile(
    r"(api[_-]?key|token|secret|password|authorization|signature|credential|^key$)", re.I
)
_MASK = "***"
_known_secrets: set[str] = set()


def register_secret(value: str | None) -> None:
    """Mask this exact value wherever it appears in a log line."""
    if value and len(value) >= 6:
        _known_secrets.add(value)


def mask_text(text: str) -> str:
    for secret in _known_secrets:
        if secret in text:
            text = text.replace(secret, _MASK)
    return text


def _scrub(value: Any, key: str | None = None) -> Any:
    if key is not None and _SECRET_KEY_PATTERN.search(key) and value not in (None, ""):
        return _MASK
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, dict):
        return {k: _scrub(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub(v) for v in value]
    return value


def redact(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    for key in list(event_dict):
        event_dict[key] = _scrub(event_dict[key], None if key == "event" else key)
    return event_dict


class _StderrLogger:
    """Writes each line to whatever `sys.stderr` is at that moment (test runners and CLI
    runners swap it), and never lets a closed or broken stream turn a log line into a crash."""

    def msg(self, message: str) -> None:
        with contextlib.suppress(ValueError, OSError):
            print(message, file=sys.stderr, flush=True)

    log = debug = info = warn = warning = error = critical = exception = fatal = msg


def _stderr_logger_factory(*_args: Any) -> _StderrLogger:
    return _StderrLogger()


def configure_logging(level: str = "INFO", fmt: str = "json") -> None:
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            redact,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=_stderr_logger_factory,
        cache_logger_on_first_use=False,
    )


def get_logger(name: str) -> Any:
    return structlog.get_logger(name)
