"""A rendered note in the format its CRM stores: markdown as rendered, HTML, or plain text.

`render` writes markdown (bold labels, `•` bullets, links, one `_…_` aside); a CRM's registry
record says which format it takes, and the processor converts right before writing, so the
comparison of rendered notes (replace or not) never depends on the CRM.
"""

from __future__ import annotations

import html
import re
from typing import Literal

from switchboard.activity.render import RenderedNote, to_plain_text

NoteFormat = Literal["markdown", "html", "plaintext"]

# One inline token at a time: an escaped character, a link, bold, or an `_aside_`.
_INLINE = re.compile(
    r"\\(?P<esc>[\\`*_{}\[\]()#+\-.!>~|])"
    r"|\[(?P<text>[^\]]*)\]\((?P<url>[^)\s]*)\)"
    r"|\*\*(?P<bold>.+?)\*\*"
    r"|(?<![\w\\])_(?P<em>[^_\n]+?)_(?!\w)"
)


def _inline_html(text: str) -> str:
    out: list[str] = []
    pos = 0
    for m in _INLINE.finditer(text):
        out.append(html.escape(text[pos : m.start()], quote=False))
        pos = m.end()
        if m.group("esc") is not None:
            out.append(html.escape(m.group("esc"), quote=False))
        elif m.group("url") is not None:
            url = m.group("url")
            label = _inline_html(m.group("text") or url)
            if url.lower().startswith(("https://", "http://")):
                out.append(f'<a href="{html.escape(url, quote=True)}">{label}</a>')
            else:  # never emit a javascript: (or any other scheme) link
                out.append(label)
        elif m.group("bold") is not None:
            out.append(f"<strong>{_inline_html(m.group('bold'))}</strong>")
        else:
            out.append(f"<em>{_inline_html(m.group('em'))}</em>")
    out.append(html.escape(text[pos:], quote=False))
    return "".join(out)


def markdown_to_html(markdown: str) -> str:
    """Blocks (blank-line separated) become paragraphs, single newlines `<br>`."""
    blocks = [b for b in markdown.split("\n\n") if b.strip()]
    return "".join(
        "<p>" + "<br>".join(_inline_html(line) for line in block.split("\n")) + "</p>"
        for block in blocks
    )


def in_format(note: RenderedNote, fmt: NoteFormat) -> RenderedNote:
    """The note in `fmt`; titles stay plain text in every format."""
    if fmt == "markdown":
        return note
    plain = to_plain_text(note, strip_emoji=False, newline="\n")
    if fmt == "plaintext":
        return plain
    return RenderedNote(title=plain.title, body=markdown_to_html(note.body))
