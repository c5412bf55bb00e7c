"""Dashboard access: the admin token or the session cookie, the cross-site check for form
posts, and the bounded form reader."""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import parse_qs, urlsplit

from fastapi import Request

from switchboard.web import admin
from switchboard.web.dashboard.render import (
    COOKIE,
    DashboardError,
    _rt,
)

MAX_FORM_BYTES = 64 * 1024


# --------------------------------------------------------------------------------------- auth
def session_value(token: str) -> str:
    """The dashboard cookie value for an admin token (an HMAC; the token itself is not stored)."""
    return hmac.new(token.encode(), b"switchboard-dashboard-session", hashlib.sha256).hexdigest()


def require_dashboard(request: Request) -> None:
    """The admin API's rule (`admin.require_admin`), plus the dashboard's session cookie."""
    token = request.app.state.admin_token
    if token:
        cookie = request.cookies.get(COOKIE)
        if cookie and hmac.compare_digest(cookie.encode(), session_value(token).encode()):
            return
    admin.require_admin(request)


def same_origin(request: Request) -> None:
    """Refuse cross-site form posts (CSRF): Sec-Fetch-Site and Origin must match this host."""
    site = request.headers.get("sec-fetch-site")
    if site and site not in ("same-origin", "none"):
        raise DashboardError(403, "cross-site form posts are refused")
    origin = request.headers.get("origin")
    if origin == "null":
        raise DashboardError(403, "form posted from an opaque origin; refused")
    if origin:
        allowed = {request.headers.get("host", "").lower()}
        forwarded = request.headers.get("x-forwarded-host")
        if forwarded:
            allowed.add(forwarded.split(",")[0].strip().lower())
        public_url = getattr(getattr(_rt(request), "settings", None), "public_url", None)
        if public_url:
            allowed.add(urlsplit(str(public_url)).netloc.lower())
        if urlsplit(origin).netloc.lower() not in allowed:
            raise DashboardError(403, "form posted from another origin; refused")


async def read_form(request: Request) -> dict[str, list[str]]:
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype not in ("application/x-www-form-urlencoded", ""):
        raise DashboardError(415, "send the form as application/x-www-form-urlencoded")
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_FORM_BYTES:
        raise DashboardError(413, f"form larger than {MAX_FORM_BYTES} bytes")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise DashboardError(413, f"form larger than {MAX_FORM_BYTES} bytes")
    try:
        return parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=200)
    except (UnicodeDecodeError, ValueError) as exc:
        raise DashboardError(400, f"malformed form body: {exc}") from exc


def _safe_next(value: str) -> str:
    if value.startswith("/dashboard") and not value.startswith("//") and "\\" not in value:
        return value
    return "/dashboard"
