"""The external parties of a call or message: its numbers minus the workspace's own.

Participants come from the merged facts: a call's `participants` (order not fixed, the line's
own number among them), a message's `from` and `to`. Numbers the workspace owns are dropped using
the cached line list (`Directory`). When the event's line is unknown, or none of the numbers is
one of ours although one should be (the line list predates a new line), the list is refreshed
once (rate-limited per connection) and the split redone. A call with more than two participants
yields every external number; each is logged on its own person. An empty result for a call whose
payload listed nobody means "fetch the call" (`CallFacts.needs_participants`), decided by the
processor.
"""

from __future__ import annotations

from switchboard import phones
from switchboard.activity.directory import Directory
from switchboard.activity.facts import CallFacts, MessageFacts


def all_numbers(facts: CallFacts | MessageFacts, region: str | None = "US") -> list[str]:
    if isinstance(facts, CallFacts):
        return phones.normalise_all(facts.participants, region)
    sender = facts.message.from_ if facts.message else None
    return phones.normalise_all([sender, *facts.to], region)


async def external_participants(
    directory: Directory, facts: CallFacts | MessageFacts, region: str | None = "US"
) -> list[str]:
    """External E.164 numbers of the call or message (empty when the facts list none)."""
    numbers = all_numbers(facts, region)
    if not numbers:
        return []
    line_id = facts.phone_number_id
    line = await directory.line(line_id)
    external = facts.external_numbers(await directory.own_numbers(), region)
    suspicious = (line is None and line_id) or len(external) == len(numbers)
    if suspicious and await directory.refresh_if_stale():
        external = facts.external_numbers(await directory.own_numbers(), region)
    return external
