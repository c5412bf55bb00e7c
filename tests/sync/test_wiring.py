"""QuoContactsAdapter: the delay before bulk-created contacts are read back adapts to Quo."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from switchboard.quo.client import QuoClient
from switchboard.quo.contacts import BulkUpsertReport
from switchboard.quo.models import ContactInput
from switchboard.sync.wiring import QuoContactsAdapter


class ScriptedQuo:
    """`bulk_upsert_contacts` answering the next scripted report; records `first_check`."""

    def __init__(self, reports: list[BulkUpsertReport]) -> None:
        self.reports = reports
        self.first_checks: list[float] = []

    async def bulk_upsert_contacts(
        self, contacts: Sequence[ContactInput], **options: Any
    ) -> BulkUpsertReport:
        self.first_checks.append(float(options["first_check"]))
        return self.reports.pop(0)


async def test_source_read_back_waits_longer_only_when_quo_was_seen_not_to_show() -> None:
    """Found 4 s after the POST only because the read chain came then (under latency it lags):
    no reason to read later. A read that reached the end of the listing 3 s after a POST and
    found none of its contacts: Quo takes longer than that, so the next call waits past it."""
    quo = ScriptedQuo(
        [
            BulkUpsertReport(results=[], listed=True, visibility_s=[4.0, 4.5]),
            BulkUpsertReport(results=[], listed=True, visibility_s=[4.0], unseen_s=3.0),
            BulkUpsertReport(results=[], listed=True, unseen_s=9.0),
            BulkUpsertReport(results=[], listed=True),
        ]
    )
    adapter = QuoContactsAdapter(cast(QuoClient, quo))
    for _ in range(4):
        await adapter.create_many([])
    assert quo.first_checks[:3] == [2.5, 2.5, 3.1]
    assert quo.first_checks[3] == 5.0  # never more than 5 s
