"""Making text safe to put in a TextBlock.

Teams renders a markdown subset in TextBlocks and fact values, so text a person typed (a concern, a response,
a name) could otherwise turn itself into a link, a heading or bold type on someone else's screen. Every piece
of text that did not come from this package goes through `plain` before it is shown.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

# Characters that start markdown anywhere in a line: links and images ([ ] ( ) !), emphasis (* _), code (`),
# raw HTML and autolinks (< >), headings (#), and the backslash itself so an escape cannot be undone by the
# text. Control characters other than tab and newline are dropped: unseen, but they can garble what follows.
_ESCAPES: dict[int, str | None] = {ord(c): "\\" + c for c in "\\[]()*_`<>#"}
_ESCAPES.update({code: None for code in (*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F)})
# Block markers that only count at the start of a line: lists (- + 1.); "1)" is already escaped above.
_LINE_START_LIST = re.compile(r"^(\s*)([-+])(?=\s|$)", re.MULTILINE)
_LINE_START_NUMBER = re.compile(r"^(\s*\d+)(\.)(?=\s|$)", re.MULTILINE)


def plain(text: str) -> str:
    """`text` escaped so that it shows exactly as typed: no links, emphasis, headings, lists or HTML."""
    escaped = text.replace("\r\n", "\n").replace("\r", "\n").translate(_ESCAPES)
    if "-" in escaped or "+" in escaped:
        escaped = _LINE_START_LIST.sub(r"\1\\\2", escaped)
    if "." in escaped:
        escaped = _LINE_START_NUMBER.sub(r"\1\\\2", escaped)
    return escaped


def and_list(names: Sequence[str]) -> str:
    """ "A, B and C": names as a sentence lists them (one name alone; nothing for none)."""
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


def shorten(text: str, limit: int) -> str:
    """`text` cut to at most `limit` characters, ending with an ellipsis when something was cut."""
    if len(text) <= limit:
        return text
    return text[: max(limit - 1, 0)].rstrip() + "…"
