"""Who is who: agencies, people, their line managers, escalation contacts and partnership roles.

The engine asks the directory who fills each role of a challenge; the directory never decides anything about
a challenge. Contacts may be people (who can act in Teams) or mailboxes (who can only be told by email).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Contact:
    """Someone the process can reach: a person of the directory, or a mailbox such as a partnership admin."""

    name: str
    email: str | None = None
    person_id: str | None = None
    phone: str | None = None
    note: str | None = None

    @property
    def key(self) -> str:
        """A stable identity for de-duplicating recipients."""
        if self.person_id:
            return f"person:{self.person_id}"
        return f"mailbox:{(self.email or self.name).lower()}"


@dataclass(frozen=True)
class Person:
    """A professional. `job_roles` are the directory's words (e.g. `iro`), used by a policy's `raised_by`."""

    id: str
    name: str
    agency_id: str
    email: str | None = None
    job_title: str | None = None
    job_roles: frozenset[str] = frozenset()
    line_manager_id: str | None = None
    aad_object_id: str | None = None
    tenant_id: str | None = None
    phone: str | None = None
    #: The team or service within the agency (Rochdale's Children's Social Care routes escalations by team).
    team: str | None = None

    def contact(self) -> Contact:
        return Contact(name=self.name, email=self.email, person_id=self.id, phone=self.phone)


@dataclass(frozen=True)
class Agency:
    """A partner agency, with its single points of contact per stage (the Rochdale contact table)."""

    id: str
    name: str
    partnership_id: str
    safeguarding_lead_id: str | None = None
    escalation_contacts: Mapping[int, tuple[Contact, ...]] = field(default_factory=dict)
    escalation_note: str | None = None
    #: Per team or service, its own escalation contacts per stage ("directed to the relevant team").
    team_contacts: Mapping[str, Mapping[int, tuple[Contact, ...]]] = field(default_factory=dict)


@dataclass(frozen=True)
class Directory:
    """An immutable snapshot of the people and agencies, indexed for the engine's questions."""

    people: Mapping[str, Person]
    agencies: Mapping[str, Agency]
    partnership_roles: Mapping[tuple[str, str], tuple[Contact, ...]] = field(default_factory=dict)

    @classmethod
    def build(
        cls,
        people: Iterable[Person],
        agencies: Iterable[Agency],
        partnership_roles: Mapping[tuple[str, str], tuple[Contact, ...]] | None = None,
    ) -> Directory:
        return cls(
            people={p.id: p for p in people},
            agencies={a.id: a for a in agencies},
            partnership_roles=dict(partnership_roles or {}),
        )

    def person(self, person_id: str | None) -> Person | None:
        return self.people.get(person_id) if person_id else None

    def person_by_aad(self, aad_object_id: str) -> Person | None:
        """The person signed in to Teams as `aad_object_id`, if the directory knows them."""
        wanted = aad_object_id.lower()
        return next((p for p in self.people.values() if (p.aad_object_id or "").lower() == wanted), None)

    def person_by_email(self, email: str) -> Person | None:
        wanted = email.strip().lower()
        return next((p for p in self.people.values() if (p.email or "").lower() == wanted), None)

    def agency(self, agency_id: str | None) -> Agency | None:
        return self.agencies.get(agency_id) if agency_id else None

    def line_manager(self, person: Person | None) -> Person | None:
        return self.person(person.line_manager_id) if person else None

    def stage_contacts(
        self, agency_id: str | None, stage: int, team: str | None = None
    ) -> tuple[Contact, ...]:
        """The agency's escalation contacts for `stage`, falling back to its nearest lower stage: those of
        the professional's `team` when the agency routes by team and has contacts for it, else the agency's."""
        agency = self.agency(agency_id)
        if agency is None:
            return ()
        tables = [agency.team_contacts.get(team or "", {}), agency.escalation_contacts]
        for table in tables:
            for number in range(stage, 0, -1):
                if table.get(number):
                    return table[number]
        return ()

    def team_of(self, person_id: str | None) -> str | None:
        person = self.person(person_id)
        return person.team if person else None

    def partnership_contacts(self, partnership_id: str, post: str) -> tuple[Contact, ...]:
        """Who holds the partnership's post (`partnership_business_manager`, `partnership_admin`...)."""
        return self.partnership_roles.get((partnership_id, post), ())

    def agency_post(self, agency_id: str | None, post: str) -> Person | None:
        """The person of an agency whose job roles include `post` (e.g. a school's `head_teacher`)."""
        return next(
            (p for p in self.colleagues(agency_id or "") if post in p.job_roles),
            None,
        )

    def colleagues(self, agency_id: str) -> tuple[Person, ...]:
        """People of one agency, for handing a role over to a colleague."""
        return tuple(
            sorted((p for p in self.people.values() if p.agency_id == agency_id), key=lambda p: p.name)
        )
