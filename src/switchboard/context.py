"""The process's started runtime, as the modules *below* `switchboard.runtime` see it.

`switchboard.runtime.Runtime.start` installs itself here; the core modules that need the
database, the secret box, the settings or the API call counter at call time (client factories,
the event workflow's steps, the metrics collector) read them through `current()` instead of
importing `switchboard.runtime`, which imports them — so the core has no import cycle.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from switchboard.config import Settings
    from switchboard.crypto import SecretBox
    from switchboard.store.db import Database


class RuntimeNotStarted(RuntimeError):
    pass


class ProcessContext(Protocol):
    """What a started runtime offers (`switchboard.runtime.Runtime` satisfies it)."""

    settings: Settings
    db: Database
    box: SecretBox
    api_counter: Any


_lock = threading.Lock()
_current: ProcessContext | None = None


def install(ctx: ProcessContext) -> None:
    """Make `ctx` the process's runtime; refuses a second one while the first is installed."""
    global _current
    with _lock:
        if _current is not None and _current is not ctx:
            raise RuntimeError("another Runtime is already started in this process")
        _current = ctx


def uninstall(ctx: ProcessContext) -> None:
    global _current
    with _lock:
        if _current is ctx:
            _current = None


def current() -> ProcessContext:
    """The started runtime of this process (raises RuntimeNotStarted before `start`)."""
    if _current is None:
        raise RuntimeNotStarted("switchboard runtime is not started")
    return _current


def current_or_none() -> ProcessContext | None:
    return _current
