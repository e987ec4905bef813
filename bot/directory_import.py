"""`challenge-bot directory import FILE [--dry-run]`: the stored directory replaced from a spreadsheet.

The file is read and checked (`process.directory_table`); a person or an agency the import would remove who
still holds a part in an open challenge stops it (their part must be handed over first: challenges keep their
parties' contact copies, but nobody could then sign in as them to act or to see the challenge). With no
problem, the directory is written in one transaction that also counts a new generation of it, which a running
bot notices (`ChallengeService.directory`) and reloads without a restart.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from process.directory_table import Changes, DirectoryFileError, changes, plan_import, read_table
from process.policy import Policy
from storage.db import Database
from storage.directory import DirectoryChanged, DirectoryStore


@dataclass
class ImportReport:
    """What an import found and did."""

    problems: list[str] = field(default_factory=list)
    changes: Changes | None = None
    partnerships: tuple[str, ...] = ()
    written: bool = False
    generation: int | None = None

    def lines(self, *, dry_run: bool) -> list[str]:
        if self.problems:
            count = len(self.problems)
            return [
                *self.problems,
                f"{count} problem{'s' if count != 1 else ''}: nothing was written",
            ]
        assert self.changes is not None
        scope = ", ".join(self.partnerships)
        if self.changes.none:
            return [f"the directory of {scope} is already as the file says: nothing to change"]
        head = (
            f"dry run: these changes to the directory of {scope} would be made (nothing was written):"
            if dry_run
            else f"the directory of {scope} was changed (generation {self.generation}):"
        )
        return [head, *(f"  {line}" for line in self.changes.lines())]


async def import_directory(
    database: Database,
    policies: Sequence[Policy],
    path: str | Path,
    *,
    dry_run: bool = False,
    now: datetime | None = None,
) -> ImportReport:
    """Check `path` and, unless `dry_run` or a problem was found, replace the directory of the partnerships
    it names. Importing the same file again changes nothing."""
    report = ImportReport()
    try:
        table = read_table(path)
    except DirectoryFileError as error:
        report.problems.append(str(error))
        return report
    store = DirectoryStore(database)
    generation = await store.generation()
    stored = await store.load()
    plan = plan_import(table, stored, policies)
    report.problems.extend(plan.problems)
    report.partnerships = tuple(sorted(plan.partnerships))
    if not plan.partnerships and not plan.problems:
        report.problems.append("the file names no partnership: it needs agency or post rows")
    if report.problems:
        return report
    parts = await store.open_parts()
    open_by_agency = await store.open_challenges_by_agency()
    for person_id in sorted(set(stored.people) - set(plan.directory.people)):
        held = parts.get(person_id)
        if held:
            roles_by_reference: dict[str, list[str]] = {}
            for reference, role in held:
                roles_by_reference.setdefault(reference, []).append(role.replace("_", " "))
            what = ", ".join(
                f"{reference} ({', '.join(roles)})" for reference, roles in roles_by_reference.items()
            )
            report.problems.append(
                f"person {person_id!r} ({stored.people[person_id].name}) is not in the file but holds a part "
                f"in open challenges: {what}; hand their part over first, or keep them in the file"
            )
    for agency_id in sorted(set(stored.agencies) - set(plan.directory.agencies)):
        references = open_by_agency.get(agency_id)
        if references:
            report.problems.append(
                f"agency {agency_id!r} ({stored.agencies[agency_id].name}) is not in the file but open "
                f"challenges involve it: {', '.join(references)}; keep it in the file until they end"
            )
    if report.problems:
        return report
    report.changes = changes(stored, plan.directory, plan.partnerships)
    if dry_run or report.changes.none:
        return report
    try:
        report.generation = await store.replace_all(plan.directory, now=now, expected_generation=generation)
    except DirectoryChanged as error:
        report.problems.append(str(error))
        report.changes = None
        return report
    report.written = True
    return report
