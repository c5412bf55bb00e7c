"""Zoho's error shapes: `{code, details, message, status: "error"}`, raised as `ZohoError`.

Messages are the ones Zoho's documents list for the code (the `API_Exception.message` enum of
`record.json`) wherever the documents give one.
"""

from __future__ import annotations

from typing import Any


class ZohoError(Exception):
    """An error answer. `wrap` names the list key the documents put errors in for some
    operations (e.g. `watch` for the notification API); None means a bare error object."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: dict[str, Any] | None = None,
        *,
        wrap: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details or {}
        self.wrap = wrap

    def item(self) -> dict[str, Any]:
        return error_item(self.code, self.message, self.details)

    def body(self) -> dict[str, Any]:
        if self.wrap:
            return {self.wrap: [self.item()]}
        return self.item()


def error_item(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"code": code, "details": details or {}, "message": message, "status": "error"}


def invalid_token() -> ZohoError:
    return ZohoError(401, "INVALID_TOKEN", "invalid oauth token")


def authentication_failure() -> ZohoError:
    return ZohoError(401, "AUTHENTICATION_FAILURE", "Authentication failed")


def invalid_module(index: int = 2) -> ZohoError:
    return ZohoError(
        400,
        "INVALID_MODULE",
        "The module name given seems to be invalid",
        {"resource_path_index": index},
    )


def invalid_url() -> ZohoError:
    return ZohoError(
        404,
        "INVALID_URL_PATTERN",
        "Please check if the URL trying to access is a correct one",
    )


def param_missing(param: str) -> ZohoError:
    return ZohoError(
        400,
        "REQUIRED_PARAM_MISSING",
        "One of the expected parameter is missing",
        {"param_name": param, "param": param},
    )


def invalid_param(param: str, message: str = "invalid data") -> ZohoError:
    return ZohoError(400, "INVALID_DATA", message, {"param_name": param, "param": param})


def invalid_body(message: str = "body", path: str = "$") -> ZohoError:
    return ZohoError(400, "INVALID_DATA", message, {"api_name": "data", "json_path": path})


def too_many_requests(message: str) -> ZohoError:
    return ZohoError(429, "TOO_MANY_REQUESTS", message)


def generic_error(status: int, message: str | None) -> dict[str, Any]:
    """The body of an injected fault (the common middleware's error_body)."""
    if status == 429:
        return error_item("TOO_MANY_REQUESTS", message or "API credits exhausted")
    if status == 401:
        return error_item("INVALID_TOKEN", message or "invalid oauth token")
    if status >= 500:
        return error_item("INTERNAL_ERROR", message or "Internal server error occurred.")
    return error_item("INVALID_DATA", message or "invalid data")
