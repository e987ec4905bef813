"""How long exporting a challenge as its partnership's form takes: building the document from the record, then
rendering it as PDF (fpdf2) and as DOCX (python-docx), for Durham's Compliance Challenge Form and Rochdale's
Resolution Notice, each filled from a challenge walked through every stage (`tests/forms/scenario.py`: responses,
meetings, a 3,900-character response, Welsh and emoji). Also writes the first page of each PDF to
docs/forms/ with --images. Run from the repository root:

    .venv/bin/python bench/export_forms.py --runs 30 [--images]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from forms import render
from process.export_form import build_document
from tests.forms.scenario import full

DOCS = Path(__file__).resolve().parents[1] / "docs" / "forms"
NOW = datetime(2027, 1, 15, 9, 0, tzinfo=UTC)


def _ms(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return f"{statistics.median(ordered) * 1000:.1f} / {p95 * 1000:.1f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--images", action="store_true", help="write docs/forms/<partnership>.png")
    args = parser.parse_args()
    print("| form | build ms (median / p95) | PDF ms | PDF size | DOCX ms | DOCX size |")
    print("| --- | --- | --- | --- | --- | --- |")
    for partnership in ("durham", "rochdale"):
        policy, challenge, directory = full(partnership)
        render(build_document(policy, challenge, directory, now=NOW), "pdf")  # warm: fonts parsed once
        build, pdf, word = [], [], []
        for _ in range(args.runs):
            start = time.perf_counter()
            document = build_document(policy, challenge, directory, now=NOW)
            built = time.perf_counter()
            pdf_bytes = render(document, "pdf")
            rendered = time.perf_counter()
            docx_bytes = render(document, "docx")
            done = time.perf_counter()
            build.append(built - start)
            pdf.append(rendered - built)
            word.append(done - rendered)
        title = policy.export_form.title if policy.export_form else policy.form.title
        print(
            f"| {title} | {_ms(build)} | {_ms(pdf)} | {len(pdf_bytes) // 1024} KiB | {_ms(word)} | "
            f"{len(docx_bytes) // 1024} KiB |"
        )
        if args.images:
            import pypdfium2 as pdfium

            DOCS.mkdir(parents=True, exist_ok=True)
            page = pdfium.PdfDocument(pdf_bytes)[0]
            image = page.render(scale=1.0).to_pil().quantize(colors=32)
            image.save(DOCS / f"{partnership}.png", optimize=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
