"""Text from callers and Quo's AI renders as the text it is, in every note format: the only
links in a note are the ones Switchboard writes, and no caller text becomes markup."""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser
from typing import Any

import pytest
from markdown_it import MarkdownIt

from switchboard.activity.facts import CallFacts
from switchboard.activity.markup import NOTE_FORMATS, NoteFormat, escape_markdown, safe_url
from switchboard.activity.render import RenderContext, render_call_note, render_message_note
from tests.activity.test_render import call, make_ctx, message

DEEP_LINK = "https://my.quo.com/inbox/PN1/c/CN1?at=AC1"
RECORDING = "https://files.quo.com/rec/AC1.mp3"
VOICEMAIL = "https://files.quo.com/vm/AC1.mp3"

CORPUS = [
    "[View the message activity in Quo](https://evil.example/login)",
    "[click](javascript:alert(1))",
    "<https://evil.example>",
    "<evil@example.com>",
    "visit https://evil.example/x now",
    "www.evil.example",
    "**Voicemail:**\n• [Listen to voicemail](https://evil.example) (0:16)",
    "\n\n**Summary:**\n• Refund approved",
    "<b>bold</b> <a href='https://evil.example'>x</a>",
    "<script>alert('x')</script>",
    "<img src=x onerror=alert(1)>",
    "![logo](https://evil.example/pixel.png)",
    "[ref]\n\n[ref]: https://evil.example",
    "`code` and ```fenced```",
    "```\nfenced block\n```",
    "~~~\nfenced\n~~~",
    "# Heading",
    "## Heading two\nmore",
    "> quoted reply",
    "- list item\n+ another\n* third",
    "1. first\n2) second",
    "Title\n===",
    "Title\n---",
    "***",
    "    indented code",
    "line\n\n    indented code after a blank line",
    "| a | b |\n|---|---|\n| 1 | 2 |",
    "~~struck~~ _em_ *em* __strong__",
    "&lt;script&gt; &amp; &#x41; &copy;",
    "back\\slash \\*not emphasis\\*",
    "trailing two spaces  \nnext line",
    "Yes - see you Tuesday at 10.",
    "Thanks! 👍 50% off, 3*4=12, a_b_c, [x], (y), {z}",
]

CONTEXT_URLS = {DEEP_LINK, RECORDING, VOICEMAIL}
MD = MarkdownIt("commonmark").enable(["table", "strikethrough"])
FORBIDDEN_MD = {
    "image",
    "html_inline",
    "html_block",
    "code_inline",
    "code_block",
    "fence",
    "hr",
    "heading_open",
    "blockquote_open",
    "bullet_list_open",
    "ordered_list_open",
    "table_open",
    "s_open",
}


def _ctx(fmt: NoteFormat, **changes: Any) -> RenderContext:
    return make_ctx(note_format=fmt, plain_newline="\n", plain_strip_emoji=False, **changes)


def _message_note(text: str, fmt: NoteFormat) -> str:
    facts = message("message.received", text=text)
    facts = facts.model_copy(update={"deep_link": DEEP_LINK})
    return render_message_note(facts, _ctx(fmt)).body


def _call_facts(text: str) -> CallFacts:
    facts = call("call.completed.unanswered-with-voicemail")
    facts = facts.with_voicemail(
        {"status": "completed", "duration": 16, "recordingUrl": VOICEMAIL, "transcript": text}
    )
    facts = facts.with_recordings([{"id": "CR1", "duration": 20, "url": RECORDING}])
    facts = facts.with_summary(
        {
            "callId": facts.call_id,
            "status": "completed",
            "summary": [text],
            "nextSteps": [text],
            "jobs": [
                {"icon": "✍️", "name": text, "result": {"data": [{"name": text, "value": text}]}}
            ],
        }
    )
    facts = facts.with_transcript(
        {
            "callId": facts.call_id,
            "status": "completed",
            "dialogue": [{"content": text, "identifier": "+15550142231"}],
        }
    )
    return facts.model_copy(update={"deep_link": DEEP_LINK})


def _call_note(text: str, fmt: NoteFormat) -> str:
    return render_call_note(_call_facts(text), _ctx(fmt)).body


def _md_tokens(markdown: str) -> list[Any]:
    out = []
    for token in MD.parse(markdown):
        out.append(token)
        out.extend(token.children or [])
    return out


def _md_check(markdown: str) -> tuple[list[str], int]:
    tokens = _md_tokens(markdown)
    bad = sorted({t.type for t in tokens} & FORBIDDEN_MD)
    assert not bad, (bad, markdown)
    hrefs = [str(t.attrs.get("href")) for t in tokens if t.type == "link_open"]
    assert set(hrefs) <= CONTEXT_URLS, (hrefs, markdown)
    return hrefs, sum(t.type == "strong_open" for t in tokens)


def _md_text(markdown: str) -> str:
    """What a reader sees: the rendered HTML's text."""
    rendered = MD.render(markdown)
    return html.unescape(re.sub(r"<[^>]+>", "", rendered.replace("<br />", "\n")))


@pytest.mark.parametrize("text", CORPUS)
def test_markdown_message_renders_caller_text_as_text(text: str) -> None:
    note = _message_note(text, "markdown")
    hrefs, strong = _md_check(note)
    assert hrefs == [DEEP_LINK] and strong == 0
    shown = _md_text(note)
    expected = "\n".join(line.lstrip(" ") for line in text.split("\n"))
    assert shown.startswith("Received:"), shown
    # Paragraph breaks and soft breaks aside, every character is on screen as sent.
    squeeze = lambda s: re.sub(r"\s+", " ", s).strip()  # noqa: E731
    assert squeeze(shown) == squeeze(f"Received: {expected}\nView the message activity in Quo")


@pytest.mark.parametrize("text", CORPUS)
def test_markdown_call_note_links_and_headings_are_only_switchboards(text: str) -> None:
    reference_hrefs, reference_strong = _md_check(_call_note("plain words", "markdown"))
    note = _call_note(text, "markdown")
    hrefs, strong = _md_check(note)
    assert hrefs == reference_hrefs == [RECORDING, VOICEMAIL, DEEP_LINK]
    assert strong == reference_strong  # no fake **Voicemail:** / **Summary:** headings
    shown = _md_text(note)
    for piece in (p.strip() for p in text.split("\n")):
        if piece and not re.fullmatch(r"[=\-*]+", piece):
            assert piece.replace("  ", " ") in re.sub(r"[ \t]+", " ", shown), (piece, shown)


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag == "br":
            self.text.append("\n")

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _html_check(body: str) -> tuple[list[str], int, str]:
    parser = _Tags()
    parser.feed(body)
    assert {tag for tag, _ in parser.tags} <= {"p", "br", "strong", "em", "a"}, body
    hrefs = [str(attrs.get("href")) for tag, attrs in parser.tags if tag == "a"]
    assert all(set(attrs) <= {"href"} for _, attrs in parser.tags), body
    strong = sum(tag == "strong" for tag, _ in parser.tags)
    return hrefs, strong, "".join(parser.text)


@pytest.mark.parametrize("text", CORPUS)
def test_html_notes_escape_caller_text(text: str) -> None:
    hrefs, strong, shown = _html_check(_message_note(text, "html"))
    assert hrefs == [DEEP_LINK] and strong == 0
    assert shown == f"Received: {text}View the message activity in Quo"
    reference = _html_check(_call_note("plain words", "html"))
    hrefs, strong, shown = _html_check(_call_note(text, "html"))
    assert (hrefs, strong) == reference[:2]
    assert text.strip() in shown


@pytest.mark.parametrize("text", CORPUS)
def test_plain_notes_keep_caller_text_verbatim(text: str) -> None:
    note = _message_note(text, "plain")
    assert note == f"Received: {text}\n\nView the message activity in Quo: {DEEP_LINK}"
    assert text.strip() in _call_note(text, "plain")


@pytest.mark.parametrize("fmt", NOTE_FORMATS)
def test_every_format_renders_the_worked_example(fmt: NoteFormat) -> None:
    facts = message("message.delivered").model_copy(update={"deep_link": DEEP_LINK})
    body = render_message_note(facts, _ctx(fmt)).body
    expected = {
        "markdown": f"Sam Ortiz sent: Yes - see you Tuesday at 10.\n\n"
        f"[View the message activity in Quo]({DEEP_LINK})",
        "html": f'<p>Sam Ortiz sent: Yes - see you Tuesday at 10.</p><p><a href="{DEEP_LINK}">'
        "View the message activity in Quo</a></p>",
        "plain": "Sam Ortiz sent: Yes - see you Tuesday at 10.\n\n"
        f"View the message activity in Quo: {DEEP_LINK}",
    }
    assert body == expected[fmt]


def test_names_from_quo_are_escaped_too() -> None:
    ctx = _ctx("markdown", user_names={"USuser0001": "[Sam](https://evil.example)"})
    note = render_message_note(message("message.delivered"), ctx).body
    assert note.startswith("\\[Sam\\](https://evil.example) sent: ")


def test_only_web_links_become_links() -> None:
    assert safe_url("javascript:alert(1)") is None
    assert safe_url("DATA:text/html,x") is None
    assert safe_url("https://a.example/x?y=(1)") == "https://a.example/x?y=%281%29"
    assert safe_url("https://a.example/a b") == "https://a.example/a%20b"
    facts = message("message.received").model_copy(update={"deep_link": "javascript:alert(1)"})
    body = render_message_note(facts, _ctx("markdown")).body
    assert "](" not in body and body.endswith("View the message activity in Quo")


def test_ordinary_text_keeps_its_bytes() -> None:
    for ordinary in ("Yes - see you Tuesday at 10.", "Thanks! 👍", "Is 3pm OK? (or 4)"):
        assert escape_markdown(ordinary) == ordinary
