"""The TrueType font the PDF embeds: DejaVu Sans (regular and bold).

DejaVu's licence (the Bitstream Vera licence, with DejaVu's changes in the public domain) lets it be embedded
and redistributed. It is found where Debian's `fonts-dejavu-core` puts it, or where `FORM_FONT_DIR` says
(a folder holding DejaVuSans.ttf and DejaVuSans-Bold.ttf).
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

REGULAR, BOLD = "DejaVuSans.ttf", "DejaVuSans-Bold.ttf"

#: Where the font is looked for, in order, after FORM_FONT_DIR.
FOLDERS = (
    Path("/usr/share/fonts/truetype/dejavu"),  # Debian and Ubuntu: fonts-dejavu-core
    Path("/usr/share/fonts/dejavu-sans-fonts"),  # Fedora
    Path("/usr/share/fonts/TTF"),  # Arch
    Path("/usr/local/share/fonts/dejavu"),
)


class FontMissing(RuntimeError):
    """No DejaVu Sans where it is looked for; the message says how to install it."""


@cache
def font_files() -> tuple[Path, Path]:
    """The regular and bold DejaVu Sans files; `FontMissing` when they cannot be found."""
    configured = os.environ.get("FORM_FONT_DIR")
    folders = ((Path(configured),) if configured else ()) + FOLDERS
    for folder in folders:
        regular, bold = folder / REGULAR, folder / BOLD
        if regular.is_file() and bold.is_file():
            return regular, bold
    raise FontMissing(
        "the PDF form needs the DejaVu Sans font (DejaVuSans.ttf and DejaVuSans-Bold.ttf): install Debian's "
        "fonts-dejavu-core, or set FORM_FONT_DIR to a folder holding both; looked in "
        + ", ".join(str(f) for f in folders)
    )
