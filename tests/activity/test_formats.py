"""Rendered notes in each CRM note format: markdown as is, HTML, plain text."""

from __future__ import annotations

from switchboard.activity.formats import in_format, markdown_to_html
from switchboard.activity.render import RenderedNote

NOTE = RenderedNote(
    title="📞 Call with Ada",
    body=(
        "**Summary:**\n• Asked to <move> the appointment & more\n\n"
        "[View the call activity in Quo](https://my.quo.com/inbox/1?a=1&b=2)\n\n"
        "_… transcript shortened; the full transcript is in Quo._"
    ),
)


def test_markdown_is_unchanged() -> None:
    assert in_format(NOTE, "markdown") == NOTE


def test_html_escapes_text_and_keeps_structure() -> None:
    out = in_format(NOTE, "html")
    assert out.title == "📞 Call with Ada"
    assert out.body == (
        "<p><strong>Summary:</strong><br>• Asked to &lt;move&gt; the appointment &amp; more</p>"
        '<p><a href="https://my.quo.com/inbox/1?a=1&amp;b=2">View the call activity in Quo</a></p>'
        "<p><em>… transcript shortened; the full transcript is in Quo.</em></p>"
    )


def test_html_never_links_other_schemes_and_honours_escapes() -> None:
    assert markdown_to_html("[x](javascript:alert)") == "<p>x</p>"
    assert markdown_to_html(r"a \*\*not bold\*\* \_x\_") == "<p>a **not bold** _x_</p>"


def test_plaintext_drops_markup() -> None:
    out = in_format(NOTE, "plaintext")
    assert "**" not in out.body and "<" in out.body
    assert "View the call activity in Quo: https://my.quo.com/inbox/1?a=1&b=2" in out.body
