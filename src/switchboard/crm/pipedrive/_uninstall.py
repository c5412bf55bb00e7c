"""Pipedrive's uninstall callback: `DELETE <app's uninstall URL>` with HTTP Basic
`client_id:client_secret` (checked by the core) and JSON `{client_id, company_id, user_id}`."""

from __future__ import annotations

import json


def account_of(raw_body: bytes) -> str:
    """The company the app was removed from (ValueError on anything else)."""
    body = json.loads(raw_body)
    if not isinstance(body, dict):
        raise ValueError("uninstall body must be a JSON object")
    company = body.get("company_id")
    if (
        isinstance(company, bool)
        or not isinstance(company, int | str)
        or not str(company).isdigit()
    ):
        raise ValueError("uninstall body without a company_id")
    return str(company)
