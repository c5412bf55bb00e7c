"""The Quo event kinds a connection can subscribe to — the one list.

Settings validation (`connections`), the webhook set-up (`setup`) and the activity settings read
it. Each kind is one Quo webhook resource (its create endpoint) and the event types Switchboard
logs from it.
"""

from __future__ import annotations

KIND_EVENTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "calls": ("calls", ("call.completed", "call.recording.completed")),
    "messages": ("messages", ("message.received", "message.delivered")),
    "summaries": ("call-summaries", ("call.summary.completed",)),
    "transcripts": ("call-transcripts", ("call.transcript.completed",)),
}

EVENT_KINDS: tuple[str, ...] = tuple(KIND_EVENTS)
