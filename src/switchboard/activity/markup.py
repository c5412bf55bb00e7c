"""Note markup: the one place where note text is escaped, for each note format.

The renderer (`switchboard.activity.render`) builds a note as blocks of lines of `Span`s and
never writes markup itself; `serialize(blocks, fmt)` turns them into Markdown, HTML or plain
text, the note format of the CRM's registry record. Text from outside Switchboard — SMS bodies,
voicemail and call transcripts, AI summaries and their job fields, user, line and caller names,
statuses — goes in `text` spans and is escaped here so that it renders as the text it is: a
caller who sends `[View the message activity in Quo](https://evil.example)`, `**Voicemail:**`,
`<script>`, `![img](...)`, a line starting with `#` or `>` gets exactly those characters on
screen, and the links Switchboard writes (`link` spans, with only http(s) or scheme-less URLs)
stay the only links.

Markdown escaping is minimal so ordinary text keeps its exact bytes: backslash-escape the
characters that start inline markup (`\\ ` * _ [ ] < > ~ |`), `&` only where it would form an
entity, and, at the start of a line, block markers (`#`, `>`, `-`, `+`, `=`, `1.`/`1)`) and the
leading indentation (which would make a code block). A bare `https://...` in caller text stays
plain text in CommonMark; a renderer that linkifies bare URLs shows the destination itself as the
link text, so it cannot disguise where it goes.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from switchboard.crm.base import NoteFormat as NoteFormat

NOTE_FORMATS: tuple[NoteFormat, ...] = ("markdown", "html", "plain")

SpanStyle = Literal["lit", "text", "bold", "italic", "link"]


@dataclass(frozen=True)
class Span:
    """A piece of a line. `lit`: Switchboard's own wording (verbatim except HTML-escaped);
    `text`: anything from outside (escaped per format); `bold`/`italic`: emphasised outside
    text; `link`: a link Switchboard writes (`text` is its label, escaped like outside text)."""

    text: str
    style: SpanStyle = "text"
    url: str | None = None


Line = tuple[Span, ...]
Block = tuple[Line, ...]


def lit(text: str) -> Span:
    return Span(text, "lit")


def text(value: str) -> Span:
    return Span(value, "text")


def _one_line(value: str) -> str:
    # Emphasis and link labels are one line: a blank line or leading space inside `**...**`
    # would leave the markers unmatched and show them as text.
    return " ".join(value.split())


def bold(value: str) -> Span:
    return Span(_one_line(value), "bold")


def italic(value: str) -> Span:
    return Span(_one_line(value), "italic")


def link(label: str, url: str) -> Span:
    return Span(_one_line(label), "link", url)


# --- URLs ------------------------------------------------------------------------------------

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:")
_URL_UNSAFE = re.compile(r"[\s()<>\"'`\\\x00-\x1f\x7f]")


def safe_url(url: str | None) -> str | None:
    """The URL made safe to put in a link, or None when it must not become one (a scheme other
    than http/https, e.g. `javascript:`). Characters that could end the link are %-encoded."""
    if not url:
        return None
    url = url.strip()
    scheme = _SCHEME.match(url)
    if scheme and scheme.group(0).lower() not in ("http:", "https:"):
        return None
    return _URL_UNSAFE.sub(lambda m: "".join(f"%{b:02X}" for b in m.group(0).encode()), url)


# --- Markdown --------------------------------------------------------------------------------

_MD_INLINE = re.compile(r"([\\`*_\[\]<>~|])")
_MD_ENTITY = re.compile(r"&(?=#?[0-9A-Za-z]+;)")
_MD_LEADING_SPACE = re.compile(r"^[ \t]+")
_MD_BLOCK_MARK = re.compile(r"^(?:[#>+\-=]|(\d{1,9})([.)]))")


def escape_markdown(value: str, *, line_start: bool = False) -> str:
    """`value` as Markdown that renders as exactly this text (see the module doc)."""
    lines = value.split("\n")
    out = []
    for i, piece in enumerate(lines):
        piece = _MD_ENTITY.sub("\\\\&", _MD_INLINE.sub(r"\\\1", piece))
        if i > 0 or line_start:
            piece = _MD_LEADING_SPACE.sub("", piece)
            piece = _MD_BLOCK_MARK.sub(
                lambda m: f"{m.group(1)}\\{m.group(2)}" if m.group(1) else "\\" + m.group(0),
                piece,
            )
        out.append(piece)
    return "\n".join(out)


def _markdown_span(span: Span, line_start: bool) -> str:
    if span.style == "lit":
        return span.text
    if span.style == "text":
        return escape_markdown(span.text, line_start=line_start)
    inner = escape_markdown(span.text)
    if span.style == "bold":
        return f"**{inner}**"
    if span.style == "italic":
        return f"_{inner}_"
    url = safe_url(span.url)
    return f"[{inner}]({url})" if url else escape_markdown(span.text, line_start=line_start)


def _markdown_line(line: Line) -> str:
    return "".join(_markdown_span(span, i == 0) for i, span in enumerate(line))


# --- HTML ------------------------------------------------------------------------------------


def escape_html(value: str) -> str:
    """`value` as HTML text (quotes included, newlines as `<br>`)."""
    return html.escape(value, quote=True).replace("\n", "<br>")


def _html_span(span: Span) -> str:
    inner = escape_html(span.text)
    if span.style in ("lit", "text"):
        return inner
    if span.style == "bold":
        return f"<strong>{inner}</strong>"
    if span.style == "italic":
        return f"<em>{inner}</em>"
    url = safe_url(span.url)
    return f'<a href="{html.escape(url, quote=True)}">{inner}</a>' if url else inner


# --- plain text ------------------------------------------------------------------------------

_EMOJI = re.compile(
    "[\U0001f000-\U0001faff\u2600-\u27bf\u2b00-\u2bff\u23e9-\u23fa\u25b6\u25c0]"
    "[\ufe0f\u200d]* ?|[\ufe0f\u200d]"
)


def strip_emoji(value: str) -> str:
    """Drop emoji (and the space after one): some CRMs turn them into "?"."""
    return _EMOJI.sub("", value)


def _plain_span(span: Span) -> str:
    if span.style != "link":
        return span.text
    url = safe_url(span.url) or span.url or ""
    return f"{span.text}: {url}" if span.text else url


# --- serialisation ---------------------------------------------------------------------------


def serialize(
    blocks: Sequence[Block],
    fmt: NoteFormat,
    *,
    newline: str = "\r\n",
    drop_emoji: bool = True,
) -> str:
    """The note body in `fmt`. Blocks are separated by a blank line (Markdown, plain) or are
    paragraphs (HTML); `newline` and `drop_emoji` apply to plain text only."""
    kept = [block for block in blocks if block]
    if fmt == "markdown":
        return "\n\n".join("\n".join(_markdown_line(line) for line in b) for b in kept)
    if fmt == "html":
        return "".join(
            "<p>" + "<br>".join("".join(_html_span(s) for s in line) for line in b) + "</p>"
            for b in kept
        )
    if fmt == "plain":
        body = "\n\n".join("\n".join("".join(_plain_span(s) for s in ln) for ln in b) for b in kept)
        if drop_emoji:
            body = strip_emoji(body)
        return body.replace("\r\n", "\n").replace("\n", newline)
    raise ValueError(f"unknown note format {fmt!r}")
