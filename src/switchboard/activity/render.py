"""The note a call or message becomes in the CRM (format: shared/reference/activity-notes.md).

Pure functions: facts + an already-resolved `RenderContext` (user names, line info, the contact
number this note is for, the note format) in, `RenderedNote(title, body)` out. The body is
Markdown (the default), HTML or plain text, as `RenderContext.note_format` asks (the CRM's
registry record says which); the title is plain text in every format. No I/O, so the same inputs
always give byte-identical notes; the pipeline compares rendered notes to decide whether a CRM
note needs replacing.

The note is built as blocks of `markup.Span`s and serialised by `switchboard.activity.markup`,
the one place that escapes text from callers, Quo's AI and Quo's configuration for each format.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import JsonValue

from switchboard.activity.facts import CallFacts, MessageFacts, Recording, is_ai_user
from switchboard.activity.markup import (
    Block,
    Line,
    NoteFormat,
    Span,
    bold,
    italic,
    link,
    lit,
    serialize,
    strip_emoji,
    text,
)

AI_AGENT_NAME = "Sona"
UNKNOWN_USER = "Unknown user"
UNKNOWN_CONTACT = "Unknown number"
TRANSCRIPT_MAX_CHARS = 3000
TRANSCRIPT_CUT_TEXT = "… transcript shortened; the full transcript is in Quo."
TRANSCRIPT_CUT_NOTE = f"_{TRANSCRIPT_CUT_TEXT}_"  # as it appears in Markdown


class NotRenderable(ValueError):
    """The facts do not yet hold the call or message resource (e.g. only a summary arrived)."""


@dataclass(frozen=True)
class LineInfo:
    """A Quo phone number ("line") as shown in notes: `<symbol> <name> <number>`."""

    id: str
    name: str | None = None
    symbol: str | None = None
    number: str | None = None

    @property
    def label(self) -> str:
        return " ".join(p for p in (self.symbol, self.name, self.number) if p) or self.id

    @classmethod
    def from_quo(cls, resource: Mapping[str, Any]) -> LineInfo:
        """From one item of `GET /v1/phone-numbers` `data`."""
        return cls(
            id=str(resource["id"]),
            name=resource.get("name") or None,
            symbol=resource.get("symbol") or None,
            number=resource.get("number") or None,
        )


def user_names_from_phone_numbers(resources: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """User id → "First Last" from the `users` listed on `GET /v1/phone-numbers` items."""
    names: dict[str, str] = {}
    for line in resources:
        for user in line.get("users") or []:
            name = " ".join(p for p in (user.get("firstName"), user.get("lastName")) if p)
            if user.get("id") and name:
                names[str(user["id"])] = name
    return names


@dataclass(frozen=True)
class RenderContext:
    """What rendering needs beyond the facts, resolved by the caller.

    `contact_number` is the external party this note is for (E.164; a call with several external
    participants gets one note per person). `lines` maps phone number ids to `LineInfo`;
    `user_names` maps Quo user ids to display names (AI agent ids `SY...` always render as
    `ai_agent_name`). `include_summary` / `include_transcript` follow the connection settings;
    transcripts longer than `transcript_max_chars` are cut at a turn boundary. `note_format`
    picks the body's format; `plain_newline` and `plain_strip_emoji` shape plain text (some
    CRMs want `\r\n` and turn emoji into "?").
    """

    contact_number: str | None
    lines: Mapping[str, LineInfo] = field(default_factory=dict)
    user_names: Mapping[str, str] = field(default_factory=dict)
    ai_agent_name: str = AI_AGENT_NAME
    include_summary: bool = True
    include_transcript: bool = True
    transcript_max_chars: int = TRANSCRIPT_MAX_CHARS
    note_format: NoteFormat = "markdown"
    plain_newline: str = "\r\n"
    plain_strip_emoji: bool = True

    def user_name(self, user_id: str | None) -> str | None:
        if not user_id:
            return None
        if is_ai_user(user_id):
            return self.ai_agent_name
        return self.user_names.get(user_id, UNKNOWN_USER)

    def line_label(self, phone_number_id: str | None) -> str:
        line = self.lines.get(phone_number_id or "")
        return line.label if line else (phone_number_id or "Unknown line")

    @property
    def contact(self) -> str:
        return self.contact_number or UNKNOWN_CONTACT


@dataclass(frozen=True)
class RenderedNote:
    title: str
    body: str


def format_duration(seconds: float | None) -> str:
    """`M:SS`, minutes unpadded (0:07, 2:05, 61:05); rounds half up to whole seconds."""
    total = max(0, math.floor((seconds or 0) + 0.5))
    return f"{total // 60}:{total % 60:02d}"


# --- calls -----------------------------------------------------------------------------------


def _note(title: str, blocks: list[Block], ctx: RenderContext) -> RenderedNote:
    body = serialize(
        blocks, ctx.note_format, newline=ctx.plain_newline, drop_emoji=ctx.plain_strip_emoji
    )
    if ctx.note_format == "plain" and ctx.plain_strip_emoji:
        title = strip_emoji(title)
    return RenderedNote(title=title, body=body)


def _block(*lines: Line) -> Block:
    return tuple(line for line in lines if line)


def render_call_note(facts: CallFacts, ctx: RenderContext) -> RenderedNote:
    """The call's note: title, then outcome, recording, voicemail, summary, transcript, link."""
    call = facts.call
    if call is None or call.direction is None:
        raise NotRenderable(f"call {facts.call_id}: call resource not known yet")
    line = ctx.line_label(call.phone_number_id)
    if call.direction == "outgoing":
        title = f"☎️ Call {line} → {ctx.contact}"
    else:
        title = f"☎️ Call {ctx.contact} → {line}"
    blocks = [
        _block(outcome_line(facts, ctx)),
        recording_block(facts),
        voicemail_block(facts),
    ]
    if ctx.include_summary:
        blocks.extend(summary_blocks(facts))
    if ctx.include_transcript:
        blocks.append(transcript_block(facts, ctx))
    if facts.deep_link:
        blocks.append(_block((link("View the call activity in Quo", facts.deep_link),)))
    return _note(title, blocks, ctx)


def outcome_line(facts: CallFacts, ctx: RenderContext) -> Line:
    """The first line of a call note (the outcome table of activity-notes.md)."""
    outcome = facts.outcome()
    direction = "Outgoing" if outcome.direction == "outgoing" else "Incoming"
    name = ctx.user_name(outcome.user_id)
    by: Line = (lit(" by "), text(name)) if name else ()
    if outcome.kind == "ai":
        return (lit("Handled by "), text(ctx.ai_agent_name))
    if outcome.kind == "answered":
        return (lit("Incoming answered"), *by)
    if outcome.kind == "initiated":
        return (lit("Outgoing initiated"), *by)
    if outcome.kind == "missed":
        return (lit("Incoming missed"),)
    if outcome.kind == "not_answered":
        return (lit("Outgoing initiated"), *by, lit(" (not answered)"))
    if outcome.kind == "forwarded":
        target = outcome.forwarded_to
        if not target:
            return (lit("Incoming forwarded by phone menu"),)
        shown = ctx.user_name(target) if target.startswith("US") or is_ai_user(target) else target
        return (lit("Incoming forwarded to "), text(shown or target))
    return (lit(f"{direction} "), text(outcome.status or "unknown"))


def recording_block(facts: CallFacts) -> Block:
    recordings = [r for r in facts.recordings if r.url or r.duration]
    if len(recordings) == 1:
        return _block((_recording_link(recordings[0], "▶️ Recording", facts),))
    if len(recordings) > 1:
        parts: list[Span] = [lit("▶️ Recordings: ")]
        for i, r in enumerate(recordings, 1):
            if i > 1:
                parts.append(lit(" | "))
            parts.append(_recording_link(r, f"Part {i}", facts))
        return _block(tuple(parts))
    call = facts.call
    if facts.was_answered and call is not None and (call.duration or 0) > 0:
        return _block((lit(f"▶️ Recording ({format_duration(call.duration)})"),))
    return ()


def _recording_link(rec: Recording, label: str, facts: CallFacts) -> Span:
    duration = (
        rec.duration if rec.duration is not None else (facts.call.duration if facts.call else None)
    )
    shown = f"{label} ({format_duration(duration)})"
    return link(shown, rec.url) if rec.url else lit(shown)


def voicemail_block(facts: CallFacts) -> Block:
    vm = facts.voicemail
    if vm is None or not vm.has_content:
        return ()
    duration = f" ({format_duration(vm.duration)})" if vm.duration else ""
    lines: list[Line] = [(bold("Voicemail:"),)]
    if vm.url:
        lines.append((lit("• "), link("Listen to voicemail", vm.url), lit(duration)))
    else:
        lines.append((lit(f"• ➿ Voicemail{duration}"),))
    if vm.transcript and vm.transcript.strip():
        lines.extend([(bold("Transcript:"),), (text(vm.transcript.strip()),)])
    return _block(*lines)


def summary_blocks(facts: CallFacts) -> list[Block]:
    """`**Summary:**`, `**Next Steps:**` and one block per AI job, each only with content."""
    summary = facts.summary
    if summary is None:
        return []
    blocks: list[Block] = []
    points = [p.strip() for p in summary.summary if p.strip()]
    if points:
        blocks.append(_block((bold("Summary:"),), *((lit("• "), text(p)) for p in points)))
    steps = [s.strip() for s in summary.next_steps if s.strip()]
    if steps:
        blocks.append(_block((bold("Next Steps:"),), *((lit("• "), text(s)) for s in steps)))
    for job in summary.jobs:
        fields = job.fields()
        if not fields:
            continue
        heading = " ".join(p for p in (job.icon, job.name) if p) or "Result"
        lines: list[Line] = [(bold(f"{heading}:"),)]
        for name, value in fields:
            if name:
                lines.append((lit("• "), bold(f"{name}:"), lit(" "), text(format_value(value))))
            else:
                lines.append((lit("• "), text(format_value(value))))
        blocks.append(_block(*lines))
    return blocks


def format_value(value: JsonValue) -> str:
    """A job field value as readable text: lists joined with ", ", objects as `key: value`
    pairs joined with "; ", booleans Yes/No, missing as "—" (never `[object Object]`)."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, list):
        return ", ".join(format_value(v) for v in value) or "—"
    if isinstance(value, dict):
        if set(value) >= {"name", "value"} and len(value) == 2:
            return f"{value['name']}: {format_value(value['value'])}"
        return "; ".join(f"{k}: {format_value(v)}" for k, v in value.items()) or "—"
    shown = str(value).strip()
    return shown or "—"


def transcript_block(facts: CallFacts, ctx: RenderContext) -> Block:
    transcript = facts.transcript
    if transcript is None:
        return ()
    turns = [t for t in transcript.dialogue if t.content.strip()]
    if not turns:
        return ()
    lines: list[Line] = []
    used = 0
    cut = False
    limit = max(ctx.transcript_max_chars, 0)
    for turn in turns:
        speaker = ctx.user_name(turn.user_id) or turn.identifier or "Unknown speaker"
        content = _one_line(turn.content)
        size = len(speaker) + len(content) + 6  # as "**<speaker>:** <content>"
        if used + size > ctx.transcript_max_chars:
            if not lines:
                room = max(limit - len(speaker) - 6, 0)
                lines.append((bold(f"{speaker}:"), lit(" "), text(content[:room].rstrip() + "…")))
            cut = True
            break
        lines.append((bold(f"{speaker}:"), lit(" "), text(content)))
        used += size + 1
    if cut:
        lines.append((italic(TRANSCRIPT_CUT_TEXT),))
    return _block((bold("Transcript:"),), *lines)


def _one_line(value: str) -> str:
    return re.sub(r"\s*\n\s*", " ", value.strip())


# --- messages --------------------------------------------------------------------------------


FAILED_TEXT = "⚠️ Not delivered: Quo reported this text as failed."


def render_message_note(facts: MessageFacts, ctx: RenderContext) -> RenderedNote:
    message = facts.message
    if message is None or message.direction is None:
        raise NotRenderable(f"message {facts.message_id}: message resource not known yet")
    line = ctx.line_label(message.phone_number_id)
    has_text = bool(message.text and message.text.strip())
    said = text(message.text or "") if has_text else lit("(no text)")
    if message.direction == "outgoing":
        title = f"💬 Message {line} → {ctx.contact}"
        name = ctx.user_name(message.user_id)
        first: Line = (text(name), lit(" sent: "), said) if name else (lit("Sent: "), said)
    else:
        title = f"💬 Message {ctx.contact} → {line}"
        first = (lit("Received: "), said)
    blocks = [_block(first)]
    if message.direction == "outgoing" and message.status == "failed":
        # Quo's message.failed (dated webhooks) or the REST status.
        blocks.append(_block((lit(FAILED_TEXT),)))
    if facts.deep_link:
        blocks.append(_block((link("View the message activity in Quo", facts.deep_link),)))
    return _note(title, blocks, ctx)


def render_note(facts: CallFacts | MessageFacts, ctx: RenderContext) -> RenderedNote:
    """`render_call_note` or `render_message_note`, by the kind of facts."""
    if isinstance(facts, MessageFacts):
        return render_message_note(facts, ctx)
    return render_call_note(facts, ctx)
