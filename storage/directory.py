"""The directory in the database: agencies, people, escalation contacts and partnership role holders.

The engine works on an immutable `process.directory.Directory` snapshot; this module loads one, and
replaces the stored directory wholesale from one (a directory file, the demo data, a test's people).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Row, Table, delete, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from process.directory import Agency, Contact, Directory, Person
from storage.codec import contact_columns, contact_from_row
from storage.db import Database, upsert
from storage.schema import (
    agencies,
    agency_escalation_contacts,
    agency_team_contacts,
    challenge_parties,
    challenges,
    directory_generation,
    partnership_role_contacts,
    people,
)


class DirectoryChanged(Exception):
    """The stored directory changed between reading it and writing a replacement prepared from it."""


class DirectoryStore:
    """Loads and replaces the stored directory."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def load(self) -> Directory:
        """The whole stored directory as one snapshot."""
        async with self.db.reading() as conn:
            contacts: dict[str, dict[int, list[Contact]]] = defaultdict(lambda: defaultdict(list))
            for row in await conn.execute(
                select(agency_escalation_contacts).order_by(
                    agency_escalation_contacts.c.agency_id,
                    agency_escalation_contacts.c.stage,
                    agency_escalation_contacts.c.position,
                )
            ):
                contacts[row.agency_id][row.stage].append(contact_from_row(row))
            teams: dict[str, dict[str, dict[int, list[Contact]]]] = defaultdict(
                lambda: defaultdict(lambda: defaultdict(list))
            )
            for row in await conn.execute(
                select(agency_team_contacts).order_by(
                    agency_team_contacts.c.agency_id,
                    agency_team_contacts.c.team,
                    agency_team_contacts.c.stage,
                    agency_team_contacts.c.position,
                )
            ):
                teams[row.agency_id][row.team][row.stage].append(contact_from_row(row))
            agency_list = [
                Agency(
                    id=row.id,
                    name=row.name,
                    partnership_id=row.partnership_id,
                    safeguarding_lead_id=row.safeguarding_lead_id,
                    escalation_contacts={
                        stage: tuple(found) for stage, found in contacts.get(row.id, {}).items()
                    },
                    escalation_note=row.escalation_note,
                    team_contacts={
                        team: {stage: tuple(found) for stage, found in stages.items()}
                        for team, stages in teams.get(row.id, {}).items()
                    },
                )
                for row in await conn.execute(select(agencies).order_by(agencies.c.id))
            ]
            person_list = [_person(row) for row in await conn.execute(select(people).order_by(people.c.id))]
            roles: dict[tuple[str, str], list[Contact]] = defaultdict(list)
            for row in await conn.execute(
                select(partnership_role_contacts).order_by(
                    partnership_role_contacts.c.partnership_id,
                    partnership_role_contacts.c.role,
                    partnership_role_contacts.c.position,
                )
            ):
                roles[(row.partnership_id, row.role)].append(contact_from_row(row))
        return Directory.build(person_list, agency_list, {key: tuple(found) for key, found in roles.items()})

    async def generation(self) -> int:
        """How many times the stored directory has been replaced (0: never); one indexed read of one row."""
        async with self.db.reading() as conn:
            found = await conn.scalar(
                select(directory_generation.c.generation).where(directory_generation.c.id == 1)
            )
        return int(found or 0)

    async def file_digest(self) -> str | None:
        """The digest of the DIRECTORY_FILE last loaded (None if none ever was)."""
        async with self.db.reading() as conn:
            found = await conn.scalar(
                select(directory_generation.c.file_digest).where(directory_generation.c.id == 1)
            )
        return str(found) if found is not None else None

    async def open_parts(self) -> dict[str, list[tuple[str, str]]]:
        """Who holds a part in an open challenge: person id to (reference, role) pairs, the raiser included."""
        held: dict[str, list[tuple[str, str]]] = defaultdict(list)
        is_open = challenges.c.status == "open"
        async with self.db.reading() as conn:
            for row in await conn.execute(
                select(challenge_parties.c.person_id, challenges.c.reference, challenge_parties.c.role)
                .join(challenges, challenges.c.id == challenge_parties.c.challenge_id)
                .where(is_open, challenge_parties.c.person_id.is_not(None))
            ):
                held[row.person_id].append((row.reference, row.role))
            for raised in await conn.execute(
                select(challenges.c.raised_by, challenges.c.reference).where(is_open)
            ):
                if not any(ref == raised.reference for ref, _ in held.get(raised.raised_by, [])):
                    held[raised.raised_by].append((raised.reference, "raiser"))
        return {person: sorted(parts) for person, parts in held.items()}

    async def open_challenges_by_agency(self) -> dict[str, list[str]]:
        """The references of open challenges, by each agency they involve (raiser's or challenged)."""
        found: dict[str, set[str]] = defaultdict(set)
        async with self.db.reading() as conn:
            for row in await conn.execute(
                select(
                    challenges.c.reference, challenges.c.raiser_agency_id, challenges.c.challenged_agency_id
                ).where(challenges.c.status == "open")
            ):
                found[row.raiser_agency_id].add(row.reference)
                found[row.challenged_agency_id].add(row.reference)
        return {agency: sorted(refs) for agency, refs in found.items()}

    async def replace_all(
        self,
        directory: Directory,
        *,
        now: datetime | None = None,
        expected_generation: int | None = None,
        file_digest: str | None = None,
    ) -> int:
        """Make the stored directory exactly `directory`, in one transaction, and count one more generation
        of it (returned), so running bots reload it. With `expected_generation`, `DirectoryChanged` (and
        nothing written) when the stored directory was changed since that generation was read. With
        `file_digest`, it came from the DIRECTORY_FILE of that digest (`file_digest()` then gives it)."""
        async with self.db.transaction() as conn:
            changed_at = now or datetime.now(UTC)
            marks: dict[str, object] = {"changed_at": changed_at}
            if file_digest is not None:
                marks["file_digest"] = file_digest
            # One statement that creates or bumps the row and holds it to the end: two replacements at once
            # (bots started together on a new database, each loading DIRECTORY_FILE) take turns, where an
            # update finding no row and then an insert let both insert, and one fail.
            await conn.execute(
                upsert(conn, directory_generation)
                .values(id=1, generation=1, **marks)
                .on_conflict_do_update(
                    index_elements=[directory_generation.c.id],
                    set_={"generation": directory_generation.c.generation + 1, **marks},
                )
            )
            generation = int(
                await conn.scalar(
                    select(directory_generation.c.generation).where(directory_generation.c.id == 1)
                )
                or 0
            )
            if expected_generation is not None and generation != expected_generation + 1:
                raise DirectoryChanged(
                    "the stored directory was changed while this was prepared (by another import or a start "
                    "with DIRECTORY_FILE); nothing was written: run it again"
                )
            for table in (
                agency_escalation_contacts,
                agency_team_contacts,
                partnership_role_contacts,
                people,
                agencies,
            ):
                await conn.execute(delete(table))
            await _insert(
                conn,
                agencies,
                [
                    {
                        "id": a.id,
                        "name": a.name,
                        "partnership_id": a.partnership_id,
                        "safeguarding_lead_id": a.safeguarding_lead_id,
                        "escalation_note": a.escalation_note,
                    }
                    for a in directory.agencies.values()
                ],
            )
            await _insert(
                conn,
                agency_escalation_contacts,
                [
                    {"agency_id": a.id, "stage": stage, "position": position, **contact_columns(contact)}
                    for a in directory.agencies.values()
                    for stage, found in a.escalation_contacts.items()
                    for position, contact in enumerate(found)
                ],
            )
            await _insert(
                conn,
                agency_team_contacts,
                [
                    {
                        "agency_id": a.id,
                        "team": team,
                        "stage": stage,
                        "position": position,
                        **contact_columns(contact),
                    }
                    for a in directory.agencies.values()
                    for team, stages in a.team_contacts.items()
                    for stage, found in stages.items()
                    for position, contact in enumerate(found)
                ],
            )
            await _insert(
                conn,
                people,
                [
                    {
                        "id": p.id,
                        "name": p.name,
                        "email": p.email,
                        "agency_id": p.agency_id,
                        "job_title": p.job_title,
                        "job_roles": sorted(p.job_roles),
                        "line_manager_id": p.line_manager_id,
                        "aad_object_id": p.aad_object_id,
                        "tenant_id": p.tenant_id,
                        "phone": p.phone,
                        "team": p.team,
                    }
                    for p in directory.people.values()
                ],
            )
            await _insert(
                conn,
                partnership_role_contacts,
                [
                    {
                        "partnership_id": partnership_id,
                        "role": role,
                        "position": position,
                        **contact_columns(contact),
                    }
                    for (partnership_id, role), found in directory.partnership_roles.items()
                    for position, contact in enumerate(found)
                ],
            )
        return generation

    async def person_by_aad(self, aad_object_id: str) -> Person | None:
        """The person signed in to Teams as `aad_object_id` (any letter case), if the directory knows them."""
        async with self.db.reading() as conn:
            row = (
                await conn.execute(
                    select(people).where(func.lower(people.c.aad_object_id) == aad_object_id.strip().lower())
                )
            ).first()
        return _person(row) if row is not None else None


async def _insert(conn: AsyncConnection, table: Table, rows: list[dict[str, Any]]) -> None:
    if rows:
        await conn.execute(table.insert(), rows)


def _person(row: Row[Any]) -> Person:
    return Person(
        id=row.id,
        name=row.name,
        agency_id=row.agency_id,
        email=row.email,
        job_title=row.job_title,
        job_roles=frozenset(row.job_roles),
        line_manager_id=row.line_manager_id,
        aad_object_id=row.aad_object_id,
        tenant_id=row.tenant_id,
        phone=row.phone,
        team=row.team,
    )
