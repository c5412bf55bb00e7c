"""Activity end to end over real HTTP: Quo emulator, Attio emulator and Switchboard as processes.

Every kind of call (answered in/out, missed, voicemail, AI-handled, forwarded, outgoing not
answered, group calls, empty participants, unknown callers; with and without recordings,
summaries and transcripts) and texts in both directions, with the Quo emulator delivering every
webhook twice and in shuffled order. Afterwards:

* exactly one note per (call or message, person) — none for unknown callers, whose events are
  recorded `skipped` with the reason;
* each note byte-identical to E4's renderer applied to the call's final state read back over
  Quo's REST API (an independent path from the webhook payloads Switchboard merged);
* the four worked examples of activity-notes.md, literally (the caller `+15550142231` is not a
  number Attio accepts, so Dana's Attio record carries another number and the sync mapping links
  +15550142231 to her — the lookup then takes the mapping path).

Scale: `SB_E2E_ACTIVITY_CALLS` / `SB_E2E_ACTIVITY_MESSAGES` (default 120 / 120, about 1,400
deliveries, to stay within the suite's time budget on a shared 2-core machine; the issue asks for
300 + 300, which passes too: `SB_E2E_ACTIVITY_CALLS=300 SB_E2E_ACTIVITY_MESSAGES=300`).
"""

from __future__ import annotations

import os
import random
import re
from collections import Counter
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from switchboard.activity.facts import CallFacts, MessageFacts
from switchboard.activity.render import (
    LineInfo,
    RenderContext,
    render_note,
    user_names_from_phone_numbers,
)
from switchboard.emulators.quo.webhooks import deep_link
from tests.activity.harness import ActivityStack

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

N_CALLS = int(os.environ.get("SB_E2E_ACTIVITY_CALLS", "120"))
N_MESSAGES = int(os.environ.get("SB_E2E_ACTIVITY_MESSAGES", "120"))
DANA = "+15550142231"  # the worked examples' caller
LINE = "📞 Front Desk +15550100100"
KNOWN = [f"+1650253{n:04d}" for n in range(1, 31)]
UNKNOWN = [f"+1650254{n:04d}" for n in range(1, 6)]
LINK_RE = re.compile(
    r"\[View the (?:call|message) activity in Quo\]\((?P<link>[^)]*at=(?P<id>AC\w+))\)$"
)


def call_scenarios(rng: random.Random, n: int) -> list[dict[str, Any]]:
    kinds = [
        {"direction": "incoming", "outcome": "answered"},
        {"direction": "outgoing", "outcome": "answered"},
        {"direction": "incoming", "outcome": "missed"},
        {"direction": "incoming", "outcome": "voicemail"},
        {"direction": "incoming", "outcome": "ai-handled"},
        {"direction": "incoming", "outcome": "forwarded"},
        {"direction": "outgoing", "outcome": "missed"},
    ]
    out = []
    for i in range(n):
        body: dict[str, Any] = dict(kinds[i % len(kinds)])
        body["duration"] = rng.choice([7, 42, 125, 3665])
        caller = rng.choice(KNOWN if rng.random() < 0.9 else UNKNOWN)
        body["participants"] = [caller]
        if i % 11 == 0:
            body["participants"] = [caller, rng.choice(KNOWN)]  # three parties with the line
        if i % 13 == 0:
            body["emptyParticipants"] = True
        answered = body["outcome"] in ("answered", "ai-handled", "forwarded")
        if answered:
            body["recording"] = rng.choice([False, True, True, 2])
            body["summary"] = rng.random() < 0.6
            body["transcript"] = rng.random() < 0.5
        if body["outcome"] == "voicemail":
            body["voicemail"] = {
                "duration": rng.choice([5, 16, 61]),
                "transcript": rng.choice(["", "Call me back"]),
            }
        out.append(body)
    return out


def expected_call_note(
    sb: ActivityStack, sim: dict[str, Any], phone: str, ctx: dict[str, Any]
) -> tuple[str, str]:
    cid = sim["callId"]
    call = sim["call"]  # GET /v1/calls/{id} refuses calls with more than two participants
    facts = CallFacts.empty(cid).with_call(
        call, deep_link=deep_link(call["phoneNumberId"], sim["conversationId"], cid)
    )
    facts = facts.with_recordings(sb.quo_api(f"/v1/call-recordings/{cid}") or [])
    voicemail = sb.quo_api(f"/v1/call-voicemails/{cid}")
    if voicemail is not None:
        facts = facts.with_voicemail(voicemail)
    summary = sb.quo_api(f"/v1/call-summaries/{cid}")
    if summary is not None:
        facts = facts.with_summary(summary)
    transcript = sb.quo_api(f"/v1/call-transcripts/{cid}")
    if transcript is not None:
        facts = facts.with_transcript(transcript)
    note = render_note(facts, RenderContext(contact_number=phone, **ctx))
    return note.title, note.body


def expected_message_note(
    sb: ActivityStack, mid: str, link: str, phone: str, ctx: dict[str, Any]
) -> tuple[str, str]:
    message = sb.quo_api(f"/v1/messages/{mid}")
    facts = MessageFacts.empty(mid).with_message(message, deep_link=link)
    note = render_note(facts, RenderContext(contact_number=phone, **ctx))
    return note.title, note.body


def test_every_call_and_message_once_on_the_right_person(tmp_path: Path) -> None:
    rng = random.Random(6)
    with ExitStack() as stack:
        sb = ActivityStack.start(stack, tmp_path)
        dana = sb.create_person("Dana Whitfield", "+16502539999")
        sb.add_mapping(dana, DANA)
        for n, phone in enumerate(KNOWN):
            sb.create_person(f"Person {n}", phone)
        sb.quo_control(
            "PUT", "/faults", json={"webhook_duplicate_rate": 1.0, "webhook_reorder_jitter_s": 0.5}
        )

        # The four worked examples, on Dana.
        ex1 = sb.simulate_call(
            direction="incoming",
            outcome="answered",
            duration=125,
            participants=[DANA],
            ringing=False,
        )
        ex2 = sb.simulate_call(
            direction="incoming",
            outcome="answered",
            duration=125,
            participants=[DANA],
            recording=True,
            summary={"summary": ["A", "B"], "nextSteps": ["C"], "jobs": []},
        )
        ex3 = sb.simulate_call(
            direction="incoming",
            outcome="voicemail",
            duration=18,
            participants=[DANA],
            voicemail={"duration": 16, "transcript": "T"},
        )
        ex4 = sb.simulate_message(
            direction="outgoing", participant=DANA, text="Yes - see you Tuesday at 10."
        )

        calls = [sb.simulate_call(**body) for body in call_scenarios(rng, N_CALLS)]
        messages = []
        for i in range(N_MESSAGES):
            phone = rng.choice(KNOWN if i % 10 else UNKNOWN)
            direction = "incoming" if i % 2 else "outgoing"
            text = rng.choice(["Is Tuesday still OK?", "", "Thanks! 👍", "Line one\nline two"])
            messages.append(
                (phone, sb.simulate_message(direction=direction, participant=phone, text=text))
            )

        sb.wait_settled(timeout=300)

        # ---- the four worked examples, literally
        def only_note(resource_id: str) -> dict[str, Any]:
            found = [
                n
                for n in sb.notes_for(dana)
                if n["content_markdown"].endswith(f"at={resource_id})")
            ]
            assert len(found) == 1, (resource_id, found)
            return found[0]

        def link(sim: dict[str, Any], rid: str) -> str:
            return deep_link(sim["call"]["phoneNumberId"], sim["conversationId"], rid)

        n1 = only_note(ex1["callId"])
        assert n1["title"] == f"☎️ Call {DANA} → {LINE}"
        assert n1["content_markdown"] == (
            "Incoming answered by Sam Ortiz\n\n▶️ Recording (2:05)\n\n"
            f"[View the call activity in Quo]({link(ex1, ex1['callId'])})"
        )
        n2 = only_note(ex2["callId"])
        recording_url = f"https://files.example.test/recordings/{ex2['callId']}-1.mp3"
        assert n2["content_markdown"] == (
            f"Incoming answered by Sam Ortiz\n\n[▶️ Recording (2:01)]({recording_url})\n\n"
            "**Summary:**\n• A\n• B\n\n**Next Steps:**\n• C\n\n"
            f"[View the call activity in Quo]({link(ex2, ex2['callId'])})"
        )
        n3 = only_note(ex3["callId"])
        voicemail_url = f"https://files.example.test/voicemails/{ex3['callId']}.mp3"
        assert n3["content_markdown"] == (
            f"Incoming missed\n\n**Voicemail:**\n• [Listen to voicemail]({voicemail_url}) (0:16)\n"
            f"**Transcript:**\nT\n\n[View the call activity in Quo]({link(ex3, ex3['callId'])})"
        )
        n4 = only_note(ex4["messageId"])
        assert n4["title"] == f"💬 Message {LINE} → {DANA}"
        m4 = LINK_RE.search(n4["content_markdown"])
        assert m4 is not None and m4["link"].startswith(
            f"https://my.quo.com/inbox/{ex4['message']['phoneNumberId']}/c/CN"
        )
        assert n4["content_markdown"] == (
            "Sam Ortiz sent: Yes - see you Tuesday at 10.\n\n"
            f"[View the message activity in Quo]({m4['link']})"
        )

        # ---- every note: one per (resource, person), byte-identical to the renderer
        sb.quo_control("PATCH", "/settings", json={"rateLimit": 0})  # fast read-back
        lines = sb.quo_api("/v1/phone-numbers")
        ctx = {
            "lines": {pn["id"]: LineInfo.from_quo(pn) for pn in lines},
            "user_names": user_names_from_phone_numbers(lines),
        }
        person_of = {phone: pid for phone, pid in sb.people.items()}
        notes_by_key: Counter[tuple[str, str]] = Counter()
        actual: dict[tuple[str, str], dict[str, Any]] = {}
        for pid in set(person_of.values()):
            for note in sb.notes_for(pid):
                m = LINK_RE.search(note["content_markdown"])
                assert m is not None, note
                notes_by_key[(m["id"], pid)] += 1
                actual[(m["id"], pid)] = {**note, "link": m["link"]}
        duplicates = [k for k, v in notes_by_key.items() if v > 1]
        assert duplicates == []

        expected_keys = set()
        mismatches = []
        for sim in [ex1, ex2, ex3, *calls]:
            cid = sim["callId"]
            externals = [p for p in sim["call"]["participants"] if p != "+15550100100"]
            for phone in externals:
                pid = person_of.get(phone)
                if pid is None:
                    continue
                expected_keys.add((cid, pid))
                got = actual.get((cid, pid))
                if got is None:
                    mismatches.append(("missing", cid, phone))
                    continue
                title, body = expected_call_note(sb, sim, phone, ctx)
                if (got["title"], got["content_markdown"]) != (title, body):
                    mismatches.append(
                        ("differs", cid, title, body, got["title"], got["content_markdown"])
                    )
        for phone, sim in [(DANA, ex4), *messages]:
            mid, pid = sim["messageId"], person_of.get(phone)
            if pid is None:
                continue
            expected_keys.add((mid, pid))
            got = actual.get((mid, pid))
            if got is None:
                mismatches.append(("missing", mid, phone))
                continue
            title, body = expected_message_note(sb, mid, got["link"], phone, ctx)
            if (got["title"], got["content_markdown"]) != (title, body):
                mismatches.append(
                    ("differs", mid, title, body, got["title"], got["content_markdown"])
                )
        events = sb.events()
        explain = [
            (m, [(e.event_type, e.status, e.reason) for e in events if e.resource_id == m[1]])
            for m in mismatches
        ]
        assert mismatches == [], explain
        assert set(actual) == expected_keys  # nothing extra either

        # ---- the ledger explains what was not logged
        events = sb.events()
        statuses = Counter(e.status for e in events)
        assert statuses["failed"] == 0, [e.reason for e in events if e.status == "failed"][:5]
        unknown = [
            e
            for e in events
            if e.status == "skipped" and (e.reason or "").startswith("unknown caller")
        ]
        assert unknown, statuses
        assert all(e.detail["lookups"] for e in unknown)
        ringing = [e for e in events if e.event_type == "call.ringing"]
        assert ringing and all(e.status == "ignored" for e in ringing)
