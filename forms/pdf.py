"""The form as PDF, with fpdf2: A4, the partnership's headings as shaded bars, short values on their label's
line in a two-column table, long ones in a box under the label, flowing onto further pages as long as they are.

Text is set in DejaVu Sans, embedded (subset), which covers Welsh (ŵ, ŷ) and the other Latin, Greek and
Cyrillic letters, and many symbols. A character it has no glyph for (most emoji) is written as its Unicode name
in brackets, "[SMILING FACE WITH SUNGLASSES]", so nothing written in the record disappears from the file.
"""

from __future__ import annotations

import unicodedata
from functools import cache
from pathlib import Path
from typing import Any

from fontTools.ttLib import TTFont
from fpdf import FPDF
from fpdf.fonts import FontFace

from forms.fonts import font_files
from forms.text import clean
from process.export_form import FormDocument, Records, Row, Section, Ticks, Value

FONT = "DejaVuSans"
SIZE = 10
LINE = 5.0  # mm per line of 10 pt text
SHADE = (230, 230, 230)
LABEL_SHADE = (245, 245, 245)
TICKED, UNTICKED = "☒", "☐"
PLAIN = FontFace(fill_color=(255, 255, 255))


@cache
def _covered(path: Path) -> frozenset[int]:
    return frozenset(TTFont(str(path), lazy=True).getBestCmap())


class _Pdf(FPDF):
    def __init__(self, document: FormDocument) -> None:
        super().__init__(orientation="portrait", unit="mm", format="A4")
        self.document = document
        regular, bold = font_files()
        self.add_font(FONT, "", str(regular))
        self.add_font(FONT, "B", str(bold))
        self.covered = _covered(regular) & _covered(bold)
        self.set_margins(18, 16, 18)
        self.set_auto_page_break(auto=True, margin=18)
        self.set_title(self.safe(f"{document.title} {document.reference}"))
        self.set_creator("challenge-bot")
        self.set_creation_date(document.exported_at)
        self.alias_nb_pages()

    def safe(self, text: str) -> str:
        """Text the font can draw: a character it has no glyph for becomes its name in brackets."""
        out = []
        for ch in clean(text):
            if ch == "\n" or ord(ch) in self.covered:
                out.append(ch)
            elif unicodedata.category(ch) in ("Mn", "Me", "Cf"):
                continue  # a variation selector or joiner of an emoji: nothing to draw
            else:
                out.append(f"[{unicodedata.name(ch, f'U+{ord(ch):04X}')}]")
        return "".join(out)

    def header(self) -> None:
        if self.document.notice and self.page_no() > 1:
            self.set_font(FONT, "B", 8)
            self.cell(0, 5, self.safe(self.document.notice), align="C", new_x="LMARGIN", new_y="NEXT")
            self.ln(2)

    def footer(self) -> None:
        self.set_y(-13)
        self.set_font(FONT, "", 8)
        self.set_text_color(90, 90, 90)
        words = f"{self.document.title} · {self.document.reference} · page {self.page_no()} of {{nb}}"
        self.cell(0, 5, self.safe(words), align="C")
        self.set_text_color(0, 0, 0)

    # ----- pieces ----------------------------------------------------------------------------------------

    def para(self, text: str, *, bold: bool = False, size: int = SIZE, **more: Any) -> None:
        self.set_font(FONT, "B" if bold else "", size)
        more.setdefault("align", "L")
        self.multi_cell(0, LINE * size / SIZE, self.safe(text), new_x="LMARGIN", new_y="NEXT", **more)

    def lines_of(self, width: float, text: str) -> int:
        """How many lines `text` takes in a column `width` mm wide."""
        lines = self.multi_cell(width, LINE, self.safe(text), dry_run=True, output="LINES")
        assert isinstance(lines, list)
        return len(lines)

    def heading(self, text: str) -> None:
        if self.will_page_break(4 * LINE):
            self.add_page()
        self.ln(3)
        self.set_fill_color(*SHADE)
        self.para(text, bold=True, size=11, fill=True, border=1, padding=(1.2, 1.5))

    def boxed(self, label: str | None, value: Value) -> None:
        if label:
            if self.will_page_break(3 * LINE):
                self.add_page()
            self.set_fill_color(*LABEL_SHADE)
            self.para(label, bold=True, fill=True, border=1, padding=(0.8, 1.5))
        if isinstance(value, Records):
            if not value.items:
                self.para("\n", border=1, padding=(0.8, 1.5))
            for record in value.items:
                self.para(record.heading, bold=True, border="LTR", padding=(0.8, 1.5))
                for name, fact in record.facts:
                    self.para(f"{name}: {fact}" if fact else f"{name}:", border="LR", padding=(0.3, 1.5))
                self.para(record.text, border="LRB", padding=(0.8, 1.5))
            return
        text = _flat(value)
        self.para(text or "\n\n", border=1, padding=(0.8, 1.5))

    def lines(self, rows: list[Row]) -> None:
        """Rows on their label's line: a two-column table, label shaded."""
        self.set_font(FONT, "", SIZE)
        label_style = FontFace(emphasis="BOLD", fill_color=LABEL_SHADE)
        with self.table(
            col_widths=(38, 62),
            first_row_as_headings=False,
            cell_fill_mode="NONE",
            line_height=LINE,
            text_align="LEFT",
            padding=(1.2, 1.5),
        ) as table:
            for row in rows:
                cells = table.row()
                cells.cell(self.safe(row.label or ""), style=label_style)
                cells.cell(self.safe(_flat(row.value)), style=PLAIN)

    def grid(self, section: Section) -> None:
        """A table with column headings; a row too tall for one page is set out under its label instead."""
        n = len(section.columns)
        widths = (18.0, *([32.0 / (n - 2)] * (n - 2)), 50.0) if n > 2 else (30.0, 70.0)
        usable = self.epw
        fits = []
        for row in section.grid:
            tallest = max(
                self.lines_of(usable * w / 100 - 3, _flat(v))
                for w, v in zip(widths[1:], row.cells, strict=True)
            )
            fits.append(tallest * LINE + 6 < self.eph - 3 * LINE)
        head = FontFace(emphasis="BOLD", fill_color=SHADE)
        self.set_font(FONT, "", SIZE)
        if all(fits):
            with self.table(
                col_widths=widths,
                cell_fill_mode="NONE",
                line_height=LINE,
                text_align="LEFT",
                padding=(1.2, 1.5),
                headings_style=head,
            ) as table:
                cells = table.row()
                for column in section.columns:
                    cells.cell(self.safe(column))
                for row in section.grid:
                    cells = table.row()
                    cells.cell(self.safe(row.label), style=FontFace(emphasis="BOLD", fill_color=LABEL_SHADE))
                    for value in row.cells:
                        cells.cell(self.safe(_flat(value)), style=PLAIN)
            return
        for row in section.grid:
            self.set_fill_color(*SHADE)
            self.para(
                f"{section.columns[0]}: {row.label}", bold=True, fill=True, border=1, padding=(0.8, 1.5)
            )
            for column, value in zip(section.columns[1:], row.cells, strict=True):
                self.boxed(column, value)


def _flat(value: Value) -> str:
    """A value as lines of text: a ticked list with its boxes, records with their headings and facts."""
    if isinstance(value, Ticks):
        return "\n".join(f"{TICKED if ticked else UNTICKED}  {label}" for label, ticked in value.items)
    if isinstance(value, Records):
        parts = []
        for record in value.items:
            lines = [record.heading, *(f"{k}: {v}" for k, v in record.facts)]
            if record.text:
                lines.append(record.text)
            parts.append("\n".join(lines))
        return "\n\n".join(parts)
    return value


def render_pdf(document: FormDocument) -> bytes:
    """The filled form as PDF bytes."""
    pdf = _Pdf(document)
    pdf.add_page()
    if document.notice:
        pdf.set_draw_color(160, 0, 0)
        pdf.set_text_color(160, 0, 0)
        pdf.para(document.notice, bold=True, size=11, border=1, align="C", padding=1.5)
        pdf.set_text_color(0, 0, 0)
        pdf.set_draw_color(0, 0, 0)
        pdf.ln(3)
    if document.subtitle:
        pdf.para(document.subtitle, bold=True, size=11)
    pdf.para(document.title, bold=True, size=16)
    pdf.set_text_color(90, 90, 90)
    pdf.para(document.byline, size=8)
    pdf.set_text_color(0, 0, 0)
    for section in document.sections:
        if section.heading:
            pdf.heading(section.heading)
        else:
            pdf.ln(3)
        if section.note:
            pdf.para(section.note, size=9)
        if section.columns:
            pdf.grid(section)
            continue
        pending: list[Row] = []
        for row in section.rows:
            if row.style == "line" and len(_flat(row.value)) <= 600:
                pending.append(row)
                continue
            if pending:
                pdf.lines(pending)
                pending = []
            pdf.boxed(row.label, row.value)
        if pending:
            pdf.lines(pending)
    if document.footer:
        pdf.ln(4)
        pdf.para(document.footer, size=9)
    return bytes(pdf.output())
