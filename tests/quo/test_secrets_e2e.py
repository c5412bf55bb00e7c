"""The Quo key never shows up in logs, exception texts or error bodies (real HTTP)."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest

from switchboard.http import ApiError, RetryPolicy
from switchboard.logs import configure_logging
from switchboard.quo.client import QuoClient
from tests.quo.conftest import Control, contact


async def test_key_never_in_logs_or_errors(
    control: Control,
    quo_key: str,
    make_quo: Callable[..., QuoClient],
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    configure_logging("DEBUG")
    caplog.set_level(logging.DEBUG)
    texts: list[str] = []
    quo = make_quo(quo_key, retry=RetryPolicy(max_attempts=2, base_delay=0.01))
    control.faults(
        errors={"createContact_v1": {"status": 500}, "listContacts_v1": {"status": 429}},
        drop={"rate": 1.0, "operations": ["getContactById_v1"]},
    )
    for call in (
        lambda: quo.create_contact(contact(1)),
        lambda: quo.list_contacts(),
        lambda: quo.get_contact("CTx"),
        lambda: quo.delete_webhook("WHnope", missing_ok=False),
        lambda: quo.bulk_upsert_contacts([contact(2)], verify_deadline=0.5),
    ):
        try:
            result = await call()
            texts.append(repr(result))
        except ApiError as exc:
            texts += [str(exc), repr(exc), repr(exc.body), repr(exc.__dict__)]
    # A wrong key: the 401 error must not echo it either.
    wrong = make_quo(quo_key + "-wrong")
    with pytest.raises(ApiError) as info:
        await wrong.list_phone_numbers()
    assert info.value.status == 401
    texts += [str(info.value), repr(info.value.__dict__)]
    out = capsys.readouterr()
    texts += [out.out, out.err, caplog.text]
    assert "http.retry" in out.err  # the retries were logged...
    blob = "\n".join(texts)
    assert quo_key not in blob  # ...and the key appears nowhere
    assert len(blob) > 500
    configure_logging("INFO")
