"""Text made safe for a file: no control characters or lone surrogates (which neither XML nor a PDF string
can hold), line ends as one newline, tabs as spaces."""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff]")


def clean(text: str) -> str:
    """`text` with its line ends made `\\n`, tabs made spaces, and characters no file may hold made U+FFFD."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\t", "    ")
    return _CONTROL.sub("\ufffd", text)
