"""How long `challenge-bot directory import` takes for a large partnership's file: 5,000 rows (100 agencies,
4,600 people in line-management chains, 300 escalation contacts, a few posts), as CSV and as XLSX, read and
checked, then written to a fresh SQLite file (or `--database`, migrated first), then imported again (nothing to
change). Run from the repository root:

    .venv/bin/python bench/directory_import.py
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.directory_import import import_directory
from process.directory_table import read_csv, write_workbook
from process.policy import load_policy
from storage.db import Database
from storage.migrate import upgrade

HEADER = (
    "kind,id,name,partnership,agency,team,stage,post,person,email,phone,job_title,job_roles,line_manager,"
    "safeguarding_lead,aad_object_id,tenant_id,note"
)


def invented_file(agencies: int = 100, people_per_agency: int = 46) -> str:
    lines = [HEADER]
    for a in range(agencies):
        lines.append(f"agency,ag{a},Agency {a},rochdale,,,,,,,,,,,ag{a}p0,,,")
    for a in range(agencies):
        for p in range(people_per_agency):
            manager = f"ag{a}p{p // 4}" if p else ""
            roles = "head_teacher" if p == 0 else ""
            lines.append(
                f"person,ag{a}p{p},Person {a}-{p},,ag{a},team{p % 3},,,,p{a}.{p}@example.org,0100 000 {p:04d},"
                f"Practitioner,{roles},{manager},,aad-{a}-{p},tenant,"
            )
    for a in range(agencies):
        lines.append(f"contact,,,,ag{a},,1,,ag{a}p1,,,,,,,,,")
        lines.append(f"contact,,Agency {a} inbox,,ag{a},,2,,,inbox{a}@example.org,,,,,,,,Call as well")
        lines.append(f"contact,,,,ag{a},team1,3,,ag{a}p0,,,,,,,,,")
    lines.append("post,,Business Unit,rochdale,,,,partnership_admin,,unit@example.org,,,,,,,,")
    return "\n".join(lines) + "\n"


async def main(database_url: str | None) -> None:
    policies = [load_policy("durham"), load_policy("rochdale")]
    with tempfile.TemporaryDirectory() as folder:
        csv_path = Path(folder) / "directory.csv"
        csv_path.write_text(invented_file(), encoding="utf-8")
        xlsx_path = Path(folder) / "directory.xlsx"
        write_workbook(read_csv(csv_path.read_bytes()), xlsx_path)
        rows = csv_path.read_text().count("\n") - 1
        print(f"{rows} rows; CSV {csv_path.stat().st_size:,} bytes, XLSX {xlsx_path.stat().st_size:,} bytes")
        for path in (csv_path, xlsx_path):
            url = database_url or f"sqlite+aiosqlite:///{Path(folder) / (path.suffix[1:] + '.db')}"
            await upgrade(url)
            database = await Database.connect(url)
            try:
                for label, dry_run in (("dry run", True), ("import", False), ("again", False)):
                    started = time.perf_counter()
                    report = await import_directory(database, policies, path, dry_run=dry_run)
                    took = time.perf_counter() - started
                    assert not report.problems, report.problems[:3]
                    print(f"{path.suffix} {label}: {took:.2f} s")
            finally:
                await database.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database", help="a database URL (default: a fresh SQLite file per run)")
    asyncio.run(main(parser.parse_args().database))
