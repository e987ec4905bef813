"""Both partnerships' forms, filled from a whole challenge, rendered as PDF and DOCX, turned into images and
read back: the form's own headings and labels, what the parties wrote (Welsh, emoji, markdown taken literally,
text running over pages), the dates of each stage, and nothing lost.

PDF pages are drawn with pypdfium2 and their text read back the same way. The DOCX is read with python-docx
and turned into PDF by LibreOffice (`soffice --headless --convert-to pdf`), then drawn and read too; without
LibreOffice that part skips and says why, except under CI=true, where it must run.
"""

from __future__ import annotations

import dataclasses
import io
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import docx
import pypdfium2 as pdfium
import pytest

from forms import file_name, render
from process.export_form import FormDocument, Records, Ticks, build_document, document_text
from process.policy import load_policy
from tests.cards.scenarios import DIRECTORY, raised
from tests.forms import scenario as s
from tests.support.database import skip_unless_ci
from tests.support.people import INVENTED_CHILD

NOW = datetime(2027, 1, 15, 9, 0, tzinfo=UTC)
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "forms"

#: What each form must show: its own words (from the policy file) and what the record holds.
EXPECTED = {
    "durham": [
        "Compliance Challenge Form",
        "Information",
        "Family name",
        INVENTED_CHILD.name,
        "Date form sent",
        "Date response required",
        "Name of Safeguarding Lead",
        "Identified Issue.",
        "Lack of report",
        "The IRO's concern",
        "Stage 2 - Line Managers Response (3 Working Days)",
        "Quasar-stage2",
        "Long-067",
        "Date of Meeting:",
        "Quasar-meeting3",
        "dŵr, ŷd, Ŵyn a Ŷ",
        "**not bold** _not italic_ # not a heading",
        "Stage 5 - Reasons for escalation to DSCP",
        "Quasar-reasons5",
        "Stage 4 Date Resolved/ Progressed",
        "Stage 5 Date escalated",
        "IRO signature",
        # Rows the form does not have are marked, and the mark explained.
        "Agency Safeguarding Lead's response †",
        "† Not on the partnership's form",
        # Stage 2 started on Tuesday 24 November (the day after raising); its response was due on the 27th.
        "24 November 2026",
        "27 November 2026, 17:00",
    ],
    "rochdale": [
        "Evidence given when the challenge was raised †",
        "† Not on the partnership's form",
        "THIS DOCUMENT MUST BE SENT/STORED SECURELY",
        "APPENDIX 1",
        "RBSCP Resolution Notice",
        "Date of Notification",
        "Name of Child/Young Person",
        INVENTED_CHILD.name,
        "D.O.B",
        "14 March 2019",
        "Agency Reference Number",
        "INV-0001",
        "Professional Challenge Notice Completed by:",
        "Contact Details",
        "Notification has been sent to:",
        "RBSCP admin (RBSB.Admin)",
        "Stage of Challenge",
        "Summary of Challenge",
        "Evidence of Informal Challenge at Stages 1-2 and the Outcome.",
        "Nebula-stage1",
        "ONLY Complete if Stage 3 has not achieved resolution",
        "Nebula-steps3",
        "Nebula-unresolved",
        "Nebula-meeting3",
        "Date Outcome Resolved",
        "Nebula-outcome",
        "Confirmed in writing",
        "Please update RBSB.Admin@Rochdale.gov.uk",
    ],
}


def _squash(text: str) -> str:
    """Text as read back from a page: line breaks and runs of spaces made one space."""
    return " ".join(text.split())


def _pdf_text_and_images(data: bytes, name: str) -> tuple[str, list[Path]]:
    """Every page's text, and each page drawn to a PNG (kept in test-artifacts/forms/ to be looked at)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    document = pdfium.PdfDocument(data)
    texts, images = [], []
    for i in range(len(document)):
        page = document[i]
        texts.append(page.get_textpage().get_text_range())
        image = page.render(scale=1.0).to_pil()
        assert image.size[0] > 500 and image.getextrema() != ((255, 255), (255, 255), (255, 255))
        path = ARTIFACTS / f"{name}-page{i + 1}.png"
        image.save(path)
        images.append(path)
    return "\n".join(texts), images


def _contains_all(text: str, expected: list[str]) -> list[str]:
    """What of `expected` the text lacks, read without whitespace (a page breaks lines where it must)."""
    flat = "".join(text.replace("\ufffe", "-").split())  # pdfium marks a line broken at a hyphen U+FFFE
    return [want for want in expected if "".join(want.split()) not in flat]


@pytest.fixture(scope="module")
def documents() -> dict[str, FormDocument]:
    out: dict[str, FormDocument] = {}
    for partnership in ("durham", "rochdale"):
        policy, challenge, directory = s.full(partnership)
        out[partnership] = build_document(policy, challenge, directory, now=NOW)
    return out


@pytest.mark.parametrize("partnership", ["durham", "rochdale"])
def test_the_pdf_shows_the_form_filled_from_the_record(
    partnership: str, documents: dict[str, FormDocument]
) -> None:
    document = documents[partnership]
    data = render(document, "pdf")
    assert data.startswith(b"%PDF")
    text, images = _pdf_text_and_images(data, f"{partnership}-pdf")
    assert not _contains_all(text, EXPECTED[partnership])
    # The long response runs onto a further page, and nothing of it is cut.
    assert len(images) >= 2
    if partnership == "durham":
        assert "Long-000" in text and "Long-068" in text
        # An emoji the font draws stays itself; one it cannot is named, never dropped.
        assert "😀" in text and "[THUMBS UP SIGN]" in text


@pytest.mark.parametrize("partnership", ["durham", "rochdale"])
def test_the_docx_holds_the_form_filled_from_the_record(
    partnership: str, documents: dict[str, FormDocument]
) -> None:
    data = render(documents[partnership], "docx")
    word = docx.Document(io.BytesIO(data))
    parts = [p.text for p in word.paragraphs]
    for table in word.tables:
        for row in table.rows:
            for cell in row.cells:
                parts.append(cell.text)
    parts += [p.text for p in word.sections[0].header.paragraphs]
    text = "\n".join(parts)
    assert not _contains_all(text, EXPECTED[partnership])
    # Emoji and Welsh are kept as written in the DOCX.
    if partnership == "durham":
        assert "👍 🙂 😀 ✅" in text and "☒  Lack of report" in text and "☐  Other" in text
    else:
        assert "☒  Stage 4" in text and "☐  Stage 3" in text


def _soffice() -> str | None:
    return shutil.which("soffice") or shutil.which("libreoffice")


@pytest.mark.parametrize("partnership", ["durham", "rochdale"])
def test_the_docx_opens_in_an_office_suite_and_reads_the_same(
    partnership: str, documents: dict[str, FormDocument], tmp_path: Path
) -> None:
    soffice = _soffice()
    if soffice is None:
        skip_unless_ci(
            "LibreOffice (libreoffice-writer-nogui) is not installed (scripts/install.sh installs it under CI=true)"
        )
    source = tmp_path / f"{partnership}.docx"
    source.write_bytes(render(documents[partnership], "docx"))
    profile = tmp_path / "profile"
    subprocess.run(
        [
            soffice,
            f"-env:UserInstallation={profile.as_uri()}",
            "--headless",
            "--convert-to",
            "pdf",
            "--outdir",
            str(tmp_path),
            str(source),
        ],
        check=True,
        capture_output=True,
        timeout=170,
    )
    text, images = _pdf_text_and_images((tmp_path / f"{partnership}.pdf").read_bytes(), f"{partnership}-docx")
    assert not _contains_all(text, EXPECTED[partnership])
    assert len(images) >= 2


def test_a_form_with_nothing_yet_recorded_leaves_its_boxes_empty() -> None:
    """A Rochdale challenge just raised: no stage 3 or 4, no evidence, no outcome; the form is whole."""
    walk = raised("rochdale")
    document = build_document(walk.policy, walk.challenge, DIRECTORY, now=NOW)
    rows = {row.label: row.value for section in document.sections for row in section.rows}
    assert rows["Evidence given when the challenge was raised †"] == ""
    assert rows["Steps taken at Stage 3"] == ""
    assert rows["Stage of Challenge"] == Ticks((("Stage 3", False), ("Stage 4", False)))
    grid = next(section for section in document.sections if section.columns)
    assert [cell for row in grid.grid for cell in row.cells] == ["", Records(()), "", Records(())]
    for format in ("pdf", "docx"):
        assert render(document, format)
    text, _ = _pdf_text_and_images(render(document, "pdf"), "rochdale-raised-pdf")
    assert "Date Outcome Resolved" in text and "Nebula" not in text


def test_a_form_whose_words_retention_erased_says_so_rather_than_look_never_filled() -> None:
    policy, challenge, directory = s.full("durham")
    kept = build_document(policy, challenge, directory, now=NOW)
    assert "erased" not in kept.byline
    purged = dataclasses.replace(challenge, purged_at=datetime(2033, 2, 1, 3, 0, tzinfo=UTC))
    document = build_document(policy, purged, directory, now=NOW)
    assert document.byline.endswith(
        " · the child's details and everything written were erased on 1 February 2033 at the end of the "
        "retention period"
    )
    text, _ = _pdf_text_and_images(render(document, "pdf"), "durham-purged-pdf")
    assert "retention period" in _squash(text)


def test_text_no_file_can_hold_is_replaced_not_fatal() -> None:
    """Control characters and a lone surrogate (possible in JSON) neither break the DOCX's XML nor the PDF."""
    walk = raised("durham", urgent_start=None)
    odd = "a\x00b\x07c\ud800d\r\ne\tf"
    challenge = walk.challenge.__class__(**{**walk.challenge.__dict__, "concern": odd})
    document = build_document(walk.policy, challenge, DIRECTORY, now=NOW)
    text, _ = _pdf_text_and_images(render(document, "pdf"), "durham-odd-pdf")
    assert "a\ufffdb\ufffdc\ufffdd" in text
    word = docx.Document(io.BytesIO(render(document, "docx")))
    cells = "\n".join(c.text for t in word.tables for r in t.rows for c in r.cells)
    assert "a\ufffdb\ufffdc\ufffdd" in cells and "e    f" in cells


def test_the_file_name_carries_the_reference_never_the_child(documents: dict[str, FormDocument]) -> None:
    for document in documents.values():
        for format in ("pdf", "docx"):
            name = file_name(document, format)
            assert name.startswith(document.reference) and name.endswith(f".{format}")
            assert "Testchild" not in name and "Jordan" not in name
    assert file_name(documents["durham"], "pdf") == "DUR-2026-0042-Compliance-Challenge-Form.pdf"


@pytest.mark.parametrize("name", ["eastbrook", "westmere"])
def test_a_policy_without_an_export_form_gets_one_from_its_words_and_stages(name: str) -> None:
    """The invented partnerships' files describe no export form: theirs is made from the raising form's words
    and their stages, and renders in both formats."""
    policy = load_policy(
        Path(__file__).resolve().parents[2] / "docs" / "examples" / "policies" / f"{name}.yaml"
    )
    assert policy.export_form is None
    walk = raised("durham")
    # The challenge's record, read under the other procedure's form (its stages and labels).
    document = build_document(policy, walk.challenge, DIRECTORY, now=NOW)
    text = document_text(document)
    assert policy.form.title in text and policy.form.concern_label in text
    for stage in policy.stages:
        assert f"Stage {stage.number}: {stage.name}" in text
    pdf_text, _ = _pdf_text_and_images(render(document, "pdf"), f"{name}-default-pdf")
    assert _squash(policy.form.concern_label) in _squash(pdf_text)
    assert render(document, "docx")


def test_a_table_row_too_tall_for_a_page_is_set_out_under_its_label_whole() -> None:
    """Rochdale's outcome table with an agreed outcome of 3,900 characters: the row cannot fit on one page
    as a table row, so the PDF sets it out under its label, and every word of it is there."""
    walk = s.rochdale_walk()
    long_outcome = " ".join(f"Outcome-{i:03d} agreed in writing by both agencies." for i in range(90))[:3900]
    challenge = walk.challenge.__class__(
        **{
            **walk.challenge.__dict__,
            "entries": tuple(
                e.__class__(**{**e.__dict__, "text": long_outcome})
                if e.kind in ("proposed_outcome", "confirmed_outcome")
                else e
                for e in walk.challenge.entries
            ),
        }
    )
    document = build_document(walk.policy, challenge, DIRECTORY, now=NOW)
    text, images = _pdf_text_and_images(render(document, "pdf"), "rochdale-long-outcome-pdf")
    assert not _contains_all(text, ["Outcome-000", "Outcome-070", "Date Outcome Resolved", "Stage: Stage 4"])
    assert len(images) >= 3
    word = docx.Document(io.BytesIO(render(document, "docx")))
    cells = "\n".join(c.text for t in word.tables for r in t.rows for c in r.cells)
    assert "Outcome-000" in cells and "Outcome-070" in cells


def test_an_invented_partnerships_own_export_form_is_used() -> None:
    """Northshire's file describes its own form: its headings and labels are the ones exported."""
    policy = load_policy(
        Path(__file__).resolve().parents[2] / "docs" / "examples" / "policies" / "northshire.yaml"
    )
    assert policy.export_form is not None
    walk = raised("durham")
    document = build_document(policy, walk.challenge, DIRECTORY, now=NOW)
    text, _ = _pdf_text_and_images(render(document, "pdf"), "northshire-own-pdf")
    assert not _contains_all(
        text,
        [
            "Escalation of Concern Form",
            "About the child and the escalation",
            "Stage 3 - Practice lead's decision",
        ],
    )
