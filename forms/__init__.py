"""The partnership's own form as a file: the document model of `process.export_form` rendered as DOCX
(python-docx) and PDF (fpdf2, with an embedded Unicode TrueType font). Pure: a document in, bytes out."""

from __future__ import annotations

from typing import Literal

from forms.docx import render_docx
from forms.pdf import render_pdf
from process.export_form import FormDocument

Format = Literal["docx", "pdf"]

FORMATS: tuple[Format, ...] = ("docx", "pdf")

MEDIA_TYPES: dict[Format, str] = {
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "pdf": "application/pdf",
}


def render(document: FormDocument, format: Format) -> bytes:
    """The document as a file of `format`."""
    return render_docx(document) if format == "docx" else render_pdf(document)


def file_name(document: FormDocument, format: Format) -> str:
    """The file's name: the form's title and the challenge's reference, never the child's name."""
    title = "".join(ch if ch.isalnum() else "-" for ch in document.title).strip("-")
    while "--" in title:
        title = title.replace("--", "-")
    return f"{document.reference}-{title or 'form'}.{format}"


__all__ = ["FORMATS", "MEDIA_TYPES", "Format", "file_name", "render", "render_docx", "render_pdf"]
