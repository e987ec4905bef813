"""Making text safe to put in a TextBlock.

Teams renders a markdown subset in TextBlocks and fact values, so text a person typed (a concern, a response,
a name) could otherwise turn itself into a link, a heading or bold type on someone else's screen. Every piece
of text that did not come from this package goes through `plain` before it is shown.
"""

from __future__ import annotations

import re

# Characters that start markdown anywhere in a line: links and images ([ ] ( ) !), emphasis (* _), code (`),
# raw HTML and autolinks (<), and the backslash itself so an escape cannot be undone by the text.
_INLINE = re.compile(r"([\\\[\]()*_`<>#])")
# Block markers that only count at the start of a line: lists (- + * 1.), quotes (>), headings (#).
_LINE_START_LIST = re.compile(r"^(\s*)([-+])(?=\s|$)", re.MULTILINE)
_LINE_START_NUMBER = re.compile(r"^(\s*\d+)([.)])(?=\s|$)", re.MULTILINE)

# Control characters other than tab and newline: invisible on screen, but they can garble what follows.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def plain(text: str) -> str:
    """`text` escaped so that it shows exactly as typed: no links, emphasis, headings, lists or HTML."""
    cleaned = _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    escaped = _INLINE.sub(r"\\\1", cleaned)
    escaped = _LINE_START_LIST.sub(r"\1\\\2", escaped)
    return _LINE_START_NUMBER.sub(r"\1\\\2", escaped)


def shorten(text: str, limit: int) -> str:
    """`text` cut to at most `limit` characters, ending with an ellipsis when something was cut."""
    if len(text) <= limit:
        return text
    return text[: max(limit - 1, 0)].rstrip() + "…"
