"""The one exception an API call raises.

    ApiError                 any failed call to a provider (Quo, a CRM, ...)
     └─ (status is None)     the network failed after every retry (no HTTP answer)

It carries what an operator needs — provider, operation, HTTP status, the provider's own error
code and message, and the response body — and never the credential: the client scrubs every
secret it knows from the message and body before raising.
"""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """A provider call that failed for good (after the retry policy gave up or refused to retry).

    Attributes:
        provider: "quo" or the CRM's registry name
        operation: the client's name for the call, e.g. "contacts.create".
        status: HTTP status, or None when no response arrived (network error, timeout).
        code: the provider's error code (Quo: seven digits such as "0800409"), if any.
        message: the provider's message, or a description of the network failure.
        body: the parsed JSON body (dict/list) or the raw text, scrubbed of secrets.
        method, path: the request line (path without host; the query is not included).
        attempts: how many HTTP attempts were made.
        retry_after: the server's Retry-After in seconds, when it sent one.
    """

    def __init__(
        self,
        *,
        provider: str,
        operation: str,
        status: int | None,
        message: str,
        code: str | None = None,
        body: Any = None,
        method: str = "",
        path: str = "",
        attempts: int = 1,
        retry_after: float | None = None,
    ) -> None:
        self.provider = provider
        self.operation = operation
        self.status = status
        self.code = code
        self.message = message
        self.body = body
        self.method = method
        self.path = path
        self.attempts = attempts
        self.retry_after = retry_after
        super().__init__(str(self))

    def __str__(self) -> str:
        status = "network error" if self.status is None else f"HTTP {self.status}"
        code = f" [{self.code}]" if self.code else ""
        where = f" ({self.method} {self.path})" if self.method else ""
        return f"{self.provider} {self.operation}: {status}{code} {self.message}{where}"

    def __reduce__(self) -> Any:
        # Picklable (DBOS stores step exceptions) despite keyword-only construction.
        return (_rebuild, (self.__dict__.copy(),))

    @property
    def is_network(self) -> bool:
        return self.status is None

    @property
    def not_found(self) -> bool:
        return self.status == 404

    @property
    def conflict(self) -> bool:
        return self.status == 409


def _rebuild(state: dict[str, Any]) -> ApiError:
    err = ApiError.__new__(ApiError)
    err.__dict__.update(state)
    Exception.__init__(err, str(err))
    return err
