"""The note a call or message becomes in the CRM (format: shared/reference/activity-notes.md).

Pure functions: facts + an already-resolved `RenderContext` (user names, line info, the contact
number this note is for) in, `RenderedNote(title, body)` out, markdown (`formats` converts it for
CRMs that store HTML or plain text). No I/O, so the same inputs always give byte-identical
notes; the pipeline compares rendered notes to decide whether a CRM note needs replacing.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import JsonValue

from switchboard.activity.facts import CallFacts, MessageFacts, Recording, is_ai_user

AI_AGENT_NAME = "Sona"
UNKNOWN_USER = "Unknown user"
UNKNOWN_CONTACT = "Unknown number"
TRANSCRIPT_MAX_CHARS = 3000
TRANSCRIPT_CUT_NOTE = "_… transcript shortened; the full transcript is in Quo._"


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
    transcripts longer than `transcript_max_chars` are cut at a turn boundary.
    """

    contact_number: str | None
    lines: Mapping[str, LineInfo] = field(default_factory=dict)
    user_names: Mapping[str, str] = field(default_factory=dict)
    ai_agent_name: str = AI_AGENT_NAME
    include_summary: bool = True
    include_transcript: bool = True
    transcript_max_chars: int = TRANSCRIPT_MAX_CHARS

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
        outcome_text(facts, ctx),
        recording_block(facts),
        voicemail_block(facts),
    ]
    if ctx.include_summary:
        blocks.extend(summary_blocks(facts))
    if ctx.include_transcript:
        blocks.append(transcript_block(facts, ctx))
    if facts.deep_link:
        blocks.append(f"[View the call activity in Quo]({facts.deep_link})")
    return RenderedNote(title=title, body="\n\n".join(b for b in blocks if b))


def outcome_text(facts: CallFacts, ctx: RenderContext) -> str:
    """The first line of a call note (the outcome table of activity-notes.md)."""
    outcome = facts.outcome()
    direction = "Outgoing" if outcome.direction == "outgoing" else "Incoming"
    name = ctx.user_name(outcome.user_id)
    by = f" by {name}" if name else ""
    if outcome.kind == "ai":
        return f"Handled by {ctx.ai_agent_name}"
    if outcome.kind == "answered":
        return f"Incoming answered{by}"
    if outcome.kind == "initiated":
        return f"Outgoing initiated{by}"
    if outcome.kind == "missed":
        return "Incoming missed"
    if outcome.kind == "not_answered":
        return f"Outgoing initiated{by} (not answered)"
    if outcome.kind == "forwarded":
        target = outcome.forwarded_to
        if not target:
            return "Incoming forwarded by phone menu"
        shown = ctx.user_name(target) if target.startswith("US") or is_ai_user(target) else target
        return f"Incoming forwarded to {shown}"
    return f"{direction} {outcome.status or 'unknown'}"


def recording_block(facts: CallFacts) -> str:
    recordings = [r for r in facts.recordings if r.url or r.duration]
    if len(recordings) == 1:
        return _recording_link(recordings[0], "▶️ Recording", facts)
    if len(recordings) > 1:
        parts = [_recording_link(r, f"Part {i}", facts) for i, r in enumerate(recordings, 1)]
        return "▶️ Recordings: " + " | ".join(parts)
    call = facts.call
    if facts.was_answered and call is not None and (call.duration or 0) > 0:
        return f"▶️ Recording ({format_duration(call.duration)})"
    return ""


def _recording_link(rec: Recording, label: str, facts: CallFacts) -> str:
    duration = (
        rec.duration if rec.duration is not None else (facts.call.duration if facts.call else None)
    )
    text = f"{label} ({format_duration(duration)})"
    return f"[{text}]({rec.url})" if rec.url else text


def voicemail_block(facts: CallFacts) -> str:
    vm = facts.voicemail
    if vm is None or not vm.has_content:
        return ""
    duration = f" ({format_duration(vm.duration)})" if vm.duration else ""
    lines = ["**Voicemail:**"]
    if vm.url:
        lines.append(f"• [Listen to voicemail]({vm.url}){duration}")
    else:
        lines.append(f"• ➿ Voicemail{duration}")
    if vm.transcript:
        lines.extend(["**Transcript:**", vm.transcript.strip()])
    return "\n".join(lines)


def summary_blocks(facts: CallFacts) -> list[str]:
    """`**Summary:**`, `**Next Steps:**` and one block per AI job, each only with content."""
    summary = facts.summary
    if summary is None:
        return []
    blocks: list[str] = []
    points = [p.strip() for p in summary.summary if p.strip()]
    if points:
        blocks.append("\n".join(["**Summary:**", *(f"• {p}" for p in points)]))
    steps = [s.strip() for s in summary.next_steps if s.strip()]
    if steps:
        blocks.append("\n".join(["**Next Steps:**", *(f"• {s}" for s in steps)]))
    for job in summary.jobs:
        fields = job.fields()
        if not fields:
            continue
        heading = " ".join(p for p in (job.icon, job.name) if p) or "Result"
        lines = [f"**{heading}:**"]
        for name, value in fields:
            lines.append(
                f"• **{name}:** {format_value(value)}" if name else f"• {format_value(value)}"
            )
        blocks.append("\n".join(lines))
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
    text = str(value).strip()
    return text or "—"


def transcript_block(facts: CallFacts, ctx: RenderContext) -> str:
    transcript = facts.transcript
    if transcript is None:
        return ""
    turns = [t for t in transcript.dialogue if t.content.strip()]
    if not turns:
        return ""
    lines: list[str] = []
    used = 0
    cut = False
    for turn in turns:
        speaker = ctx.user_name(turn.user_id) or turn.identifier or "Unknown speaker"
        line = f"**{speaker}:** {_one_line(turn.content)}"
        if used + len(line) > ctx.transcript_max_chars:
            if not lines:
                lines.append(line[: max(ctx.transcript_max_chars, 0)].rstrip() + "…")
            cut = True
            break
        lines.append(line)
        used += len(line) + 1
    if cut:
        lines.append(TRANSCRIPT_CUT_NOTE)
    return "\n".join(["**Transcript:**", *lines])


def _one_line(text: str) -> str:
    return re.sub(r"\s*\n\s*", " ", text.strip())


# --- messages --------------------------------------------------------------------------------


def render_message_note(facts: MessageFacts, ctx: RenderContext) -> RenderedNote:
    message = facts.message
    if message is None or message.direction is None:
        raise NotRenderable(f"message {facts.message_id}: message resource not known yet")
    line = ctx.line_label(message.phone_number_id)
    text = message.text if message.text and message.text.strip() else "(no text)"
    if message.direction == "outgoing":
        title = f"💬 Message {line} → {ctx.contact}"
        name = ctx.user_name(message.user_id)
        body = f"{name} sent: {text}" if name else f"Sent: {text}"
    else:
        title = f"💬 Message {ctx.contact} → {line}"
        body = f"Received: {text}"
    if facts.deep_link:
        body += f"\n\n[View the message activity in Quo]({facts.deep_link})"
    return RenderedNote(title=title, body=body)


_EMOJI = re.compile(
    "[\U0001f000-\U0001faff\u2600-\u27bf\u2b00-\u2bff\u23e9-\u23fa\u25b6\u25c0]"
    "[\ufe0f\u200d]* ?|[\ufe0f\u200d]"
)
_LINK = re.compile(r"\[([^\]]*)\]\(([^)\s]*)\)")


def to_plain_text(
    note: RenderedNote, *, strip_emoji: bool = True, newline: str = "\r\n"
) -> RenderedNote:
    """The same note as plain text, for CRMs without markdown: links become `text: url`,
    emphasis markers go, lines end with `newline`, emoji are dropped (some CRMs turn them
    into "?")."""

    def plain(text: str) -> str:
        text = _LINK.sub(
            lambda m: f"{m.group(1)}: {m.group(2)}" if m.group(1) else m.group(2), text
        )
        text = text.replace(TRANSCRIPT_CUT_NOTE, TRANSCRIPT_CUT_NOTE.strip("_"))
        text = text.replace("**", "")
        if strip_emoji:
            text = _EMOJI.sub("", text)
        return text

    body = newline.join(plain(line) for line in note.body.split("\n"))
    return RenderedNote(title=plain(note.title), body=body)


def render_note(facts: CallFacts | MessageFacts, ctx: RenderContext) -> RenderedNote:
    """`render_call_note` or `render_message_note`, by the kind of facts."""
    if isinstance(facts, MessageFacts):
        return render_message_note(facts, ctx)
    return render_call_note(facts, ctx)
