"""The form as DOCX, with python-docx: the partnership's headings, short values beside their labels in a
two-column table, long ones in a box under the label (Word flows a long row onto the next page), ticked lists
with ☒ and ☐, and the notice ("MUST BE SENT/STORED SECURELY") above the title and in every page's header."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

from docx import Document
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Mm, Pt, RGBColor
from docx.table import _Cell

from forms.text import clean
from process.export_form import FormDocument, Records, Row, Section, Ticks, Value

TICKED, UNTICKED = "☒", "☐"
SHADE, LABEL_SHADE = "E6E6E6", "F5F5F5"


def _shade(cell: _Cell, colour: str) -> None:
    properties = cell._tc.get_or_add_tcPr()
    shading = OxmlElement("w:shd")
    shading.set(qn("w:val"), "clear")
    shading.set(qn("w:color"), "auto")
    shading.set(qn("w:fill"), colour)
    properties.append(shading)


def _write(cell: _Cell, text: str, *, bold: bool = False) -> None:
    """`text` in a cell, one paragraph a line."""
    lines = clean(text).split("\n")
    paragraph = cell.paragraphs[0]
    for i, line in enumerate(lines):
        if i:
            paragraph = cell.add_paragraph()
        run = paragraph.add_run(line)
        run.bold = bold


def _value(cell: _Cell, value: Value) -> None:
    if isinstance(value, Ticks):
        _write(cell, "\n".join(f"{TICKED if ticked else UNTICKED}  {label}" for label, ticked in value.items))
        return
    if isinstance(value, Records):
        first = True
        for record in value.items:
            paragraph = cell.paragraphs[0] if first else cell.add_paragraph()
            if not first:
                paragraph.paragraph_format.space_before = Pt(6)
            first = False
            paragraph.add_run(clean(record.heading)).bold = True
            for name, fact in record.facts:
                line = cell.add_paragraph()
                line.add_run(clean(f"{name}: ")).bold = True
                line.add_run(clean(fact))
            if record.text:
                for text in clean(record.text).split("\n"):
                    cell.add_paragraph(text)
        return
    _write(cell, value)


#: The page's width between its margins, and a label column's share of it.
WIDTH_MM, LABEL_MM = 174, 62


def _table(document: object, widths: Sequence[float]) -> object:
    """A bordered table with columns of `widths` (mm), followed by a little space, so that two tables in a
    row stay two tables (Word joins tables with nothing between them)."""
    table = document.add_table(rows=0, cols=len(widths))  # type: ignore[attr-defined]
    table.style = "Table Grid"
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    table.autofit = False
    for column, width in zip(table.columns, widths, strict=True):
        column.width = Mm(width)
    spacer = document.add_paragraph()  # type: ignore[attr-defined]
    spacer.paragraph_format.space_after = Pt(4)
    spacer.add_run().font.size = Pt(2)
    return table


def _widths(table: object, widths: Sequence[float]) -> list[Any]:
    """A new row of `table`, its cells given the column widths (Word reads a cell's own width)."""
    cells = table.add_row().cells  # type: ignore[attr-defined]
    for cell, width in zip(cells, widths, strict=True):
        cell.width = Mm(width)
    return list(cells)


def _lines(document: object, rows: list[Row]) -> None:
    widths = [LABEL_MM, WIDTH_MM - LABEL_MM]
    table = _table(document, widths)
    for row in rows:
        label, value = _widths(table, widths)
        _write(label, row.label or "", bold=True)
        _shade(label, LABEL_SHADE)
        _value(value, row.value)


def _box(document: object, row: Row) -> None:
    table = _table(document, [WIDTH_MM])
    if row.label:
        (label,) = _widths(table, [WIDTH_MM])
        _write(label, row.label, bold=True)
        _shade(label, LABEL_SHADE)
    (value,) = _widths(table, [WIDTH_MM])
    _value(value, row.value)
    value_is_empty = not row.value if isinstance(row.value, str) else not row.value.items
    if value_is_empty:
        value.add_paragraph()
        value.add_paragraph()


def _grid(document: object, section: Section) -> None:
    n = len(section.columns)
    first, last = 30.0, (90.0 if n > 2 else WIDTH_MM - 30.0)
    widths = [first, *([(WIDTH_MM - first - last) / (n - 2)] * (n - 2)), last] if n > 2 else [first, last]
    table = _table(document, widths)
    for cell, column in zip(_widths(table, widths), section.columns, strict=True):
        _write(cell, column, bold=True)
        _shade(cell, SHADE)
    for row in section.grid:
        cells = _widths(table, widths)
        _write(cells[0], row.label, bold=True)
        _shade(cells[0], LABEL_SHADE)
        for cell, value in zip(cells[1:], row.cells, strict=True):
            _value(cell, value)


def render_docx(document: FormDocument) -> bytes:
    """The filled form as DOCX bytes."""
    doc = Document()
    page = doc.sections[0]
    page.page_width, page.page_height = Mm(210), Mm(297)
    page.left_margin = page.right_margin = Mm(18)
    page.top_margin = page.bottom_margin = Mm(16)
    normal = doc.styles["Normal"]
    normal.font.name = "Arial"
    normal.font.size = Pt(10)
    normal.paragraph_format.space_after = Pt(0)
    doc.core_properties.title = clean(f"{document.title} {document.reference}")
    doc.core_properties.author = "challenge-bot"
    doc.core_properties.created = doc.core_properties.modified = document.exported_at
    doc.core_properties.last_modified_by = "challenge-bot"
    if document.notice:
        # On every page after the first, whose notice stands above the title.
        page.different_first_page_header_footer = True
        header = page.header.paragraphs[0]
        header.add_run(clean(document.notice)).bold = True
        header.alignment = WD_ALIGN_PARAGRAPH.CENTER
    footers = [page.footer, page.first_page_footer] if document.notice else [page.footer]
    for footer_part in footers:
        footer = footer_part.paragraphs[0]
        footer.add_run(clean(f"{document.title} · {document.reference}")).font.size = Pt(8)
        footer.alignment = WD_ALIGN_PARAGRAPH.CENTER
    if document.notice:
        notice = doc.add_paragraph()
        run = notice.add_run(clean(document.notice))
        run.bold = True
        run.font.color.rgb = RGBColor(0xA0, 0, 0)
        notice.alignment = WD_ALIGN_PARAGRAPH.CENTER
    if document.subtitle:
        doc.add_paragraph().add_run(clean(document.subtitle)).bold = True
    doc.add_heading(clean(document.title), level=1)
    byline = doc.add_paragraph().add_run(clean(document.byline))
    byline.font.size = Pt(8)
    byline.font.color.rgb = RGBColor(0x5A, 0x5A, 0x5A)
    for section in document.sections:
        if section.heading:
            doc.add_heading(clean(section.heading), level=2)
        else:
            doc.add_paragraph()
        if section.note:
            doc.add_paragraph().add_run(clean(section.note)).italic = True
        if section.columns:
            _grid(doc, section)
            continue
        pending: list[Row] = []
        for row in section.rows:
            if row.style == "line":
                pending.append(row)
                continue
            if pending:
                _lines(doc, pending)
                pending = []
            _box(doc, row)
        if pending:
            _lines(doc, pending)
    if document.footer:
        doc.add_paragraph()
        doc.add_paragraph(clean(document.footer)).runs[0].font.size = Pt(9)
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()
