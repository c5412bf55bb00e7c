"""Dashboard access: the admin token or the session cookie, the cross-site check for form
posts, and the bounded form reader."""

from __future__ import annotations

from urllib.parse import parse_qs

from fastapi import Request

from switchboard.web import security
from switchboard.web.dashboard.render import (
    DashboardError,
)

MAX_FORM_BYTES = 64 * 1024


# --------------------------------------------------------------------------------------- auth
def require_dashboard(request: Request) -> None:
    """The admin API's rule: the admin token or a dashboard session (`security.require_admin`)."""
    security.require_admin(request)


def same_origin(request: Request) -> None:
    """Refuse cross-site form posts (CSRF): Sec-Fetch-Site and Origin must name this server —
    its allow-listed Host or the public URL (`security.cross_site_refusal`)."""
    why = security.cross_site_refusal(request.headers, security.own_origins(request))
    if why is not None:
        raise DashboardError(403, why)


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
