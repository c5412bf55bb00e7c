"""Attio's error shape: `{"status_code", "type", "code", "message"}`, raised anywhere in the
emulator and turned into a JSON response by the app."""

from __future__ import annotations

import json
from typing import Any


class AttioError(Exception):
    """An error Attio would answer with. `headers` are added to the response (e.g. Retry-After)."""

    def __init__(
        self,
        status_code: int,
        code: str,
        message: str,
        *,
        type_: str = "invalid_request_error",
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.code = code
        self.message = message
        self.type = type_
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {
            "status_code": self.status_code,
            "type": self.type,
            "code": self.code,
            "message": self.message,
        }


def parse_json(raw: bytes) -> Any:
    """A request body as JSON, or 400 `validation_type`: malformed JSON, and strings holding
    lone surrogates (valid JSON escapes that no UTF-8 response could ever echo back)."""
    try:
        body = json.loads(raw)
        if b"\\ud" in raw.lower():
            json.dumps(body, ensure_ascii=False).encode("utf-8")
    except (ValueError, UnicodeError) as exc:
        raise validation_type(f"Request body is not valid JSON: {exc}") from exc
    return body


def not_found(message: str) -> AttioError:
    return AttioError(404, "not_found", message)


def filter_error(message: str) -> AttioError:
    return AttioError(400, "filter_error", message)


def validation_type(message: str) -> AttioError:
    return AttioError(400, "validation_type", message)


def missing_value(message: str) -> AttioError:
    return AttioError(400, "missing_value", message)


def value_not_found(message: str) -> AttioError:
    return AttioError(400, "value_not_found", message)


def uniqueness_conflict(message: str) -> AttioError:
    return AttioError(400, "uniqueness_conflict", message)


def multiple_match_results(message: str) -> AttioError:
    return AttioError(400, "multiple_match_results", message)


def slug_conflict(message: str) -> AttioError:
    return AttioError(409, "slug_conflict", message)


def unauthorized(
    message: str = "Authentication failed: missing or invalid bearer token.",
) -> AttioError:
    return AttioError(401, "unauthorized", message, type_="auth_error")
