"""Who may use the web app: the Host allow-list, the cross-site check, the admin token and the
dashboard's server-side sessions (with a login throttle).

- **Host allow-list** (`WebGuard`): every request except webhooks (authenticated by their
  signature) and the health probes must name an allowed `Host`, so a DNS-rebinding page that
  resolves its own name to 127.0.0.1 gets 400. The list is `SWITCHBOARD_ALLOWED_HOSTS`, or by
  default the `SWITCHBOARD_PUBLIC_URL` host, the bind address and the loopback names.
- **Cross-site check** (`cross_site_refusal`): a state-changing request that a browser marks as
  cross-site (`Sec-Fetch-Site`) or whose `Origin` is not this server (its validated `Host` or the
  public URL) is refused with 403 — on the admin API here, on the dashboard by its routes (which
  answer with an HTML page). Requests without either header are not from a browser page.
- **Admin token** (`resolve_admin_token`): always required. `SWITCHBOARD_ADMIN_TOKEN`, else one
  generated into `data_dir/admin.token` (0600) at first start and printed once by `serve`.
  `SWITCHBOARD_ADMIN_OPEN_ON_LOOPBACK=true` (development) lifts it for a loopback bind only.
- **Sessions** (`SessionStore`): the dashboard login creates a random session id (a new one at
  every login; the one the browser had is revoked), logout revokes it; the cookie carries only
  that id. Sessions live in this process's memory: a restart signs everybody out, and several web
  processes behind one address need sticky sessions (or the bearer token).
- **Login throttle** (`LoginThrottle`): after `MAX_FAILURES` wrong tokens from one client within
  `WINDOW_S`, logins from it answer 429 until the window has passed.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import secrets
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fastapi import HTTPException, Request
from fastapi.responses import JSONResponse

from switchboard.config import Settings, prepare_data_dir

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
WILDCARD_BINDS = frozenset({"", "0.0.0.0", "::"})
TOKEN_FILE = "admin.token"
SESSION_COOKIE = "sb_dashboard"
SESSION_TTL_S = 12 * 3600
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

#: Paths outside the Host allow-list: webhooks are authenticated by their signature (and a
#: provider posts to the public URL, which a proxy may rewrite); probes come from orchestrators
#: that address the pod or container by IP.
UNGUARDED_PATHS = frozenset({"/healthz", "/readyz"})
UNGUARDED_PREFIXES = ("/webhooks/",)


# ------------------------------------------------------------------------------------- hosts
def host_name(value: str) -> str:
    """The host part of a `Host` header or URL netloc, lower case, brackets removed."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1:].split("]", 1)[0]
    if value.count(":") == 1:
        return value.split(":", 1)[0]
    return value


def is_loopback(host: str) -> bool:
    name = host_name(host)
    if name in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def allowed_hosts(settings: Settings, bind_host: str) -> frozenset[str] | None:
    """The host names the web app answers to; None means any (`SWITCHBOARD_ALLOWED_HOSTS=*`)."""
    if settings.allowed_hosts is not None:
        listed = [host_name(x) for x in settings.allowed_hosts.split(",") if x.strip()]
        return None if "*" in listed else frozenset(listed)
    names = set(LOOPBACK_NAMES)
    public = urlsplit(settings.public_url).hostname
    if public:
        names.add(public.lower())
    if host_name(bind_host) not in WILDCARD_BINDS:
        names.add(host_name(bind_host))
    return frozenset(names)


def cross_site_refusal(headers: Mapping[str, str], own_origins: Iterable[str]) -> str | None:
    """Why a state-changing request must be refused as cross-site, or None. `own_origins` are
    netlocs (`host:port`) this server is reached at: the request's `Host` — only once it passed
    the allow-list — and the public URL's."""
    site = headers.get("sec-fetch-site")
    if site and site not in ("same-origin", "none"):
        return "cross-site requests are refused"
    origin = headers.get("origin")
    if origin is None:
        return None
    if origin == "null":
        return "request from an opaque origin; refused"
    if urlsplit(origin).netloc.lower() not in {o.lower() for o in own_origins if o}:
        return "request from another origin; refused"
    return None


def own_origins(request: Request) -> set[str]:
    public = urlsplit(str(request.app.state.public_url)).netloc
    return {request.headers.get("host", ""), public}


class WebGuard:
    """ASGI middleware: the Host allow-list for everything but webhooks and probes, and the
    cross-site check for state-changing admin API requests (the dashboard does its own, to answer
    with a page)."""

    def __init__(self, app: Any, hosts: frozenset[str] | None, public_url: str) -> None:
        self.app = app
        self.hosts = hosts
        self.public_netloc = urlsplit(public_url).netloc

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if not path or path in UNGUARDED_PATHS or path.startswith(UNGUARDED_PREFIXES):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", [])}
        host = headers.get("host", "")
        if self.hosts is not None and host_name(host) not in self.hosts:
            refusal = JSONResponse(
                {"ok": False, "error": "unknown Host; see SWITCHBOARD_ALLOWED_HOSTS"}, 400
            )
            await refusal(scope, receive, send)
            return
        if scope.get("method", "GET") not in SAFE_METHODS and not path.startswith("/dashboard"):
            why = cross_site_refusal(headers, (host, self.public_netloc))
            if why is not None:
                await JSONResponse({"ok": False, "error": why}, 403)(scope, receive, send)
                return
        await self.app(scope, receive, send)


# ------------------------------------------------------------------------------------- token
def resolve_admin_token(settings: Settings, bind_host: str) -> tuple[str | None, Path | None]:
    """The admin token and, when it was generated just now, the file it was written to (so the
    caller can print it once). None only in the explicit loopback development mode."""
    if settings.admin_token is not None and settings.admin_token.get_secret_value():
        return settings.admin_token.get_secret_value(), None
    if settings.admin_open_on_loopback and is_loopback(bind_host):
        return None, None
    data_dir = Path(settings.data_dir)
    prepare_data_dir(data_dir)
    path = data_dir / TOKEN_FILE
    if path.exists():
        return path.read_text().strip(), None
    # Written whole to a private temporary file, then linked into place: a process starting at
    # the same time either wins the link or reads the complete token, never a half-written one.
    token = secrets.token_urlsafe(32)
    fd, tmp = tempfile.mkstemp(dir=data_dir, prefix=".admin-token-")  # mkstemp: mode 0600
    try:
        with os.fdopen(fd, "w") as f:
            f.write(token + "\n")
        os.link(tmp, path)
    except FileExistsError:
        return path.read_text().strip(), None
    finally:
        os.unlink(tmp)
    return token, path


def presented_token(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return request.headers.get("x-admin-token")


def token_matches(given: str | None, token: str) -> bool:
    return bool(given) and hmac.compare_digest(str(given).encode(), token.encode())


def require_admin(request: Request) -> None:
    """The admin token (`Authorization: Bearer`, `X-Admin-Token`) or a dashboard session."""
    state = request.app.state
    token: str | None = state.admin_token
    if token is None:
        return  # the explicit loopback development mode (resolve_admin_token)
    if token_matches(presented_token(request), token):
        return
    if state.sessions.valid(request.cookies.get(SESSION_COOKIE)):
        return
    raise HTTPException(401, "admin token required (Authorization: Bearer <token>)")


def require_metrics(request: Request) -> None:
    """The metrics token or the admin token (give a scraper the former: it reads nothing else)."""
    metrics_token: str | None = request.app.state.metrics_token
    if metrics_token is not None and token_matches(presented_token(request), metrics_token):
        return
    require_admin(request)


# ---------------------------------------------------------------------------------- sessions
class SessionStore:
    """Dashboard sessions: random ids with an expiry, in this process's memory."""

    def __init__(self, ttl_s: float = SESSION_TTL_S, clock: Callable[[], float] = time.monotonic):
        self.ttl_s = ttl_s
        self.clock = clock
        self._expires: dict[str, float] = {}
        self._lock = threading.Lock()

    def create(self, replacing: str | None = None) -> str:
        sid = secrets.token_urlsafe(32)
        now = self.clock()
        with self._lock:
            if replacing:
                self._expires.pop(replacing, None)
            for old in [k for k, t in self._expires.items() if t <= now]:
                del self._expires[old]
            self._expires[sid] = now + self.ttl_s
        return sid

    def valid(self, sid: str | None) -> bool:
        if not sid:
            return False
        with self._lock:
            expires = self._expires.get(sid)
            if expires is None:
                return False
            if expires <= self.clock():
                del self._expires[sid]
                return False
            return True

    def revoke(self, sid: str | None) -> None:
        if sid:
            with self._lock:
                self._expires.pop(sid, None)


class LoginThrottle:
    """At most `max_failures` wrong tokens per client within `window_s`."""

    MAX_FAILURES = 5
    WINDOW_S = 300.0

    def __init__(
        self,
        max_failures: int = MAX_FAILURES,
        window_s: float = WINDOW_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self.clock = clock
        self._failures: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    def retry_after(self, client: str) -> float:
        """Seconds until `client` may try again; 0 when it may now."""
        now = self.clock()
        with self._lock:
            recent = [t for t in self._failures.get(client, []) if t > now - self.window_s]
            self._failures[client] = recent
            if len(recent) < self.max_failures:
                return 0.0
            return max(1.0, recent[0] + self.window_s - now)

    def failed(self, client: str) -> None:
        with self._lock:
            if len(self._failures) > 10_000:  # bound the memory an address sweep can take
                horizon = self.clock() - self.window_s
                self._failures = {k: v for k, v in self._failures.items() if v and v[-1] > horizon}
            self._failures.setdefault(client, []).append(self.clock())

    def succeeded(self, client: str) -> None:
        with self._lock:
            self._failures.pop(client, None)
