"""Pipedrive's error bodies, raised anywhere in the emulator and rendered by the app.

v1 documents `{"success": false, "error", "error_info", "data": null, "additional_data": null}`;
401 adds `errorCode`. v2 error bodies are not documented: the emulator answers the v1 shape there
too. Webhook validation errors use the `{"success": false, "status": "error", "errors"}` shape the
webhooks document describes (with `error` as well, so clients reading `error` see a message).
"""

from __future__ import annotations

import json
from typing import Any

ERROR_INFO = "Please check developers.pipedrive.com for more information about Pipedrive API."


class PipedriveError(Exception):
    """An error answer. `extra` fields are merged into the body; `headers` into the response."""

    def __init__(
        self,
        status_code: int,
        message: str,
        *,
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message
        self.extra = extra or {}
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return error_body(self.status_code, self.message) | self.extra


def error_body(status: int, message: str | None = None) -> dict[str, Any]:
    """The body Pipedrive answers for `status` (also used for injected faults)."""
    if status == 401:
        return {
            "success": False,
            "error": message or "unauthorized access",
            "errorCode": 401,
            "error_info": ERROR_INFO,
        }
    if status == 403:
        return {
            "success": False,
            "error": message or "You don't have permission to access the resource.",
            "errorCode": 403,
            "error_info": ERROR_INFO,
            "data": None,
            "additional_data": None,
        }
    default = {
        400: "Bad request",
        404: "Not found",
        410: "Gone",
        429: "Request over limit",
    }.get(status, "Internal server error" if status >= 500 else "Error")
    return {
        "success": False,
        "error": message or default,
        "error_info": ERROR_INFO,
        "data": None,
        "additional_data": None,
    }


def bad_request(message: str) -> PipedriveError:
    return PipedriveError(400, message)


def not_found(message: str = "Not found") -> PipedriveError:
    return PipedriveError(404, message)


def unauthorized(message: str = "unauthorized access") -> PipedriveError:
    return PipedriveError(401, message)


def forbidden(message: str) -> PipedriveError:
    return PipedriveError(403, message)


def webhook_invalid(errors: dict[str, str]) -> PipedriveError:
    first = next(iter(errors.values()), "Invalid webhook")
    return PipedriveError(400, first, extra={"status": "error", "errors": errors})


def parse_json(raw: bytes) -> Any:
    """A request body as JSON, or 400 (malformed JSON, lone surrogates no response can echo)."""
    try:
        body = json.loads(raw)
        if b"\\ud" in raw.lower():
            json.dumps(body, ensure_ascii=False).encode("utf-8")
    except (ValueError, UnicodeError) as exc:
        raise bad_request(f"Request body is not valid JSON: {exc}") from exc
    return body
