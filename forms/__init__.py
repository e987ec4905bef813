"""The partnership's own form as a file: the document model of `process.export_form` rendered as DOCX
(python-docx) and PDF (fpdf2, with an embedded Unicode TrueType font). Pure: a document in, bytes out.

The renderers (`forms.docx.render_docx`, `forms.pdf.render_pdf`) are imported by `render` when a file is first
made, not with this package: fpdf2 (with fontTools, Pillow and numpy) and python-docx (with lxml) add some
38 MB to a bot process, which a bot that never exports should not carry. The first export in a process
pays for the import (a few tenths of a second)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from process.export_form import FormDocument

Format = Literal["docx", "pdf"]

FORMATS: tuple[Format, ...] = ("docx", "pdf")

MEDIA_TYPES: dict[Format, str] = {
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "pdf": "application/pdf",
}


def render(document: FormDocument, format: Format) -> bytes:
    """The document as a file of `format`."""
    if format == "docx":
        from forms.docx import render_docx

        return render_docx(document)
    from forms.pdf import render_pdf

    return render_pdf(document)


def file_name(document: FormDocument, format: Format) -> str:
    """The file's name: the form's title and the challenge's reference, never the child's name."""
    title = "".join(ch if ch.isalnum() else "-" for ch in document.title).strip("-")
    while "--" in title:
        title = title.replace("--", "-")
    return f"{document.reference}-{title or 'form'}.{format}"


__all__ = ["FORMATS", "MEDIA_TYPES", "Format", "file_name", "render"]
