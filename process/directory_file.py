"""A partnership's directory written as a YAML file: agencies, people, escalation contacts, partnership roles.

Used for the invented demo directory and for loading a real one; every reference between entries is checked,
so a typo in a line manager's id is refused at load time with the entry it was found in.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from process.directory import Agency, Contact, Directory, Person

DEMO_DIRECTORY = Path(__file__).parent / "directories" / "demo.yaml"


class DirectoryError(ValueError):
    """A directory file that cannot be used; the message says where and why."""


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class _ContactEntry(_Model):
    person: str | None = None
    name: str | None = None
    email: str | None = None
    phone: str | None = None
    note: str | None = None


class _TeamEntry(_Model):
    escalation_contacts: dict[int, list[_ContactEntry]] = {}


class _AgencyEntry(_Model):
    id: Annotated[str, Field(min_length=1)]
    name: Annotated[str, Field(min_length=1)]
    partnership: Annotated[str, Field(min_length=1)]
    safeguarding_lead: str | None = None
    escalation_note: str | None = None
    escalation_contacts: dict[int, list[_ContactEntry]] = {}
    teams: dict[str, _TeamEntry] = {}


class _PersonEntry(_Model):
    id: Annotated[str, Field(min_length=1)]
    name: Annotated[str, Field(min_length=1)]
    agency: Annotated[str, Field(min_length=1)]
    email: str | None = None
    job_title: str | None = None
    job_roles: list[str] = []
    line_manager: str | None = None
    aad_object_id: str | None = None
    tenant_id: str | None = None
    phone: str | None = None
    team: str | None = None


class _DirectoryFile(_Model):
    agencies: list[_AgencyEntry]
    people: list[_PersonEntry]
    partnership_roles: dict[
        str, dict[Annotated[str, Field(pattern=r"^[a-z0-9_]+$")], list[_ContactEntry]]
    ] = {}


def load_directory_file(path: str | Path = DEMO_DIRECTORY) -> Directory:
    """Read and check a directory file; raises `DirectoryError` naming the file and the bad entry."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        parsed = _DirectoryFile.model_validate(raw)
    except (OSError, yaml.YAMLError, ValueError) as exc:  # ValueError: not UTF-8, or a date like 2026-02-30
        raise DirectoryError(f"{path}: {exc}") from exc
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise DirectoryError(f"{path}: {problems}") from exc
    for kind, ids in (("person", [p.id for p in parsed.people]), ("agency", [a.id for a in parsed.agencies])):
        twice = sorted({i for i in ids if ids.count(i) > 1})
        if twice:
            raise DirectoryError(f"{path}: {kind} id {twice[0]!r} is given twice")
    people = {p.id: p for p in parsed.people}
    agencies = {a.id: a for a in parsed.agencies}

    def person_ref(person_id: str | None, where: str) -> str | None:
        if person_id is not None and person_id not in people:
            raise DirectoryError(f"{path}: {where} names person {person_id!r}, who is not in the file")
        return person_id

    def contact(entry: _ContactEntry, where: str) -> Contact:
        if entry.person is not None:
            person_ref(entry.person, where)
            p = people[entry.person]
            return Contact(
                name=p.name, email=p.email, person_id=p.id, phone=entry.phone or p.phone, note=entry.note
            )
        if not entry.name or not entry.email:
            raise DirectoryError(f"{path}: {where}: a mailbox contact needs a name and an email")
        return Contact(name=entry.name, email=entry.email, phone=entry.phone, note=entry.note)

    for p in parsed.people:
        if p.agency not in agencies:
            raise DirectoryError(
                f"{path}: person {p.id!r} works for agency {p.agency!r}, which is not in the file"
            )
        person_ref(p.line_manager, f"person {p.id!r}")
    return Directory.build(
        people=[
            Person(
                id=p.id,
                name=p.name,
                agency_id=p.agency,
                email=p.email,
                job_title=p.job_title,
                job_roles=frozenset(p.job_roles),
                line_manager_id=p.line_manager,
                aad_object_id=p.aad_object_id,
                tenant_id=p.tenant_id,
                phone=p.phone,
                team=p.team,
            )
            for p in parsed.people
        ],
        agencies=[
            Agency(
                id=a.id,
                name=a.name,
                partnership_id=a.partnership,
                safeguarding_lead_id=person_ref(a.safeguarding_lead, f"agency {a.id!r}"),
                escalation_note=a.escalation_note,
                escalation_contacts={
                    stage: tuple(contact(c, f"agency {a.id!r} stage {stage}") for c in contacts)
                    for stage, contacts in a.escalation_contacts.items()
                },
                team_contacts={
                    team: {
                        stage: tuple(
                            contact(c, f"agency {a.id!r} team {team!r} stage {stage}") for c in contacts
                        )
                        for stage, contacts in entry.escalation_contacts.items()
                    }
                    for team, entry in a.teams.items()
                },
            )
            for a in parsed.agencies
        ],
        partnership_roles={
            (partnership, role): tuple(contact(c, f"{partnership} {role}") for c in contacts)
            for partnership, roles in parsed.partnership_roles.items()
            for role, contacts in roles.items()
        },
    )
