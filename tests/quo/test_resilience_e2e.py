"""Retry policy over real HTTP: 429 + Retry-After, 5xx and dropped connections (emulator faults)."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from switchboard.http import ApiError, RequestInfo, RetryPolicy
from switchboard.quo.client import QuoClient
from tests.quo.conftest import Control, contact


async def test_429_with_retry_after_is_waited_out(
    control: Control, quo_key: str, make_quo: Callable[..., QuoClient]
) -> None:
    seen: list[RequestInfo] = []
    quo = make_quo(quo_key, hook=seen.append)
    control.faults(errors={"listContacts_v1": {"status": 429, "retry_after": 1, "count": 2}})
    t0 = time.monotonic()
    page = await quo.list_contacts()
    assert page.data == []
    assert [i.status for i in seen] == [429, 429, 200]
    assert time.monotonic() - t0 >= 2.0  # honoured Retry-After: 1 twice
    assert {i.operation for i in seen} == {"contacts.list"} and seen[0].provider == "quo"

    control.faults(storm_429={"duration_s": 1.0, "retry_after": 1})
    await quo.list_phone_numbers()
    statuses = [r["status"] for r in control.requests(quo_key, "listPhoneNumbers_v1")]
    assert statuses[-1] == 200 and 429 in statuses and len(statuses) <= 3


async def test_5xx_and_dropped_connections_are_retried(
    control: Control, quo_key: str, make_quo: Callable[..., QuoClient]
) -> None:
    seen: list[RequestInfo] = []
    quo = make_quo(quo_key, hook=seen.append, retry=RetryPolicy(base_delay=0.05))
    control.faults(
        errors={"createContact_v1": {"status": 503, "count": 1}},
        drop={"rate": 1.0, "operations": ["createContact_v1"], "count": 2},
    )
    created = await quo.create_contact(contact(1))
    log = control.requests(quo_key, "createContact_v1")
    assert [r["status"] for r in log] == [None, None, 503, 201]
    assert [i.status for i in seen] == [None, None, 503, 201]
    assert seen[0].error and seen[0].duration_s >= 0
    assert [c["id"] for c in control.contacts(quo_key)] == [created.id]

    control.faults(errors={"getContactById_v1": {"status": 500}})
    with pytest.raises(ApiError) as info:
        await quo.get_contact(created.id)
    err = info.value
    assert err.status == 500 and err.attempts == quo.api.retry.max_attempts
    assert err.code and err.code.endswith("500") and err.provider == "quo"


async def test_non_retryable_4xx_fails_fast(
    control: Control, quo_key: str, make_quo: Callable[..., QuoClient]
) -> None:
    quo = make_quo(quo_key)
    with pytest.raises(ApiError) as info:
        await quo.get_contact("CTdoesnotexist")
    assert info.value.status == 404 and info.value.attempts == 1
    assert len(control.requests(quo_key, "getContactById_v1")) == 1


async def test_fresh_key_401_is_retried_within_grace(
    control: Control, quo_server: object, make_quo: Callable[..., QuoClient]
) -> None:
    key = control.workspace(keyPropagationS=2.0)
    quo = make_quo(key, retry=RetryPolicy(unauthorized_grace=20, base_delay=0.5, max_attempts=10))
    assert await quo.list_phone_numbers()
    statuses = [r["status"] for r in control.requests(key)]
    assert statuses[0] == 401 and statuses[-1] == 200


async def test_ai_agent_user_ids_need_no_request(
    control: Control, quo_key: str, make_quo: Callable[..., QuoClient]
) -> None:
    quo = make_quo(quo_key)
    assert await quo.get_user("SYabc123") is None
    numbers = await quo.list_phone_numbers()
    user = await quo.get_user(numbers[0].users[0].id)
    assert user is not None and user.id.startswith("US")
    assert len(control.requests(quo_key, "getUserById_v1")) == 1  # none for the SY id
