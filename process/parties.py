"""Who plays which part in a challenge, and who can act for each side now.

A policy's roles say how each part is found in the directory (`process.policy.FindBy`). A person acts; a
mailbox is only told. So for a part that must act, the ways a role lists are tried for a person first, and a
mailbox found for it is kept only to be told. When no person holds any of a side's parts at a stage, the
people who last acted for that side go on acting for it (the raiser, at least), until someone takes the part
or it is handed over: a side is never left with nobody who can act.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from process.challenge import Challenge, Side
from process.directory import Contact, Directory, Person
from process.policy import FindBy, Policy, RoleId, RoleSpec, Stage


@dataclass(frozen=True)
class Actor:
    """A person who can act for a side at a stage: in a part of their own, or standing in for a vacant one."""

    role: RoleId
    contact: Contact
    standing_in: bool = False


def resolve_parties(
    policy: Policy,
    directory: Directory,
    raiser: Person,
    challenged: Contact,
    challenged_agency_id: str,
    named: Mapping[RoleId, Contact] | None = None,
) -> dict[RoleId, Contact]:
    """Fill every declared role of a new challenge from the directory (a person where one is found), and the
    `named` roles from whom the raiser named."""
    bases: dict[str, Person | None] = {
        "raiser": raiser,
        "challenged": directory.person(challenged.person_id),
    }
    agencies = {"raiser": raiser.agency_id, "challenged": challenged_agency_id}
    parties: dict[RoleId, Contact] = {}
    for spec in policy.roles:
        if spec.id in (named or {}) and any(w.who == "named" for w in spec.found):
            parties[spec.id] = (named or {})[spec.id]
            continue
        found = _find(policy, directory, spec, bases, agencies, raiser, challenged)
        if found is not None:
            parties[spec.id] = found
    return parties


def _find(
    policy: Policy,
    directory: Directory,
    spec: RoleSpec,
    bases: Mapping[str, Person | None],
    agencies: Mapping[str, str],
    raiser: Person,
    challenged: Contact,
) -> Contact | None:
    mailbox: Contact | None = None
    for way in spec.found:
        own = bases[spec.side] if spec.side in bases and way.who not in ("raiser", "challenged") else None
        for contact in _candidates(policy, directory, way, spec, bases, agencies, raiser, challenged):
            if own is not None and contact.person_id == own.id:
                continue  # nobody is their own line manager or lead in a challenge
            if contact.person_id is not None:
                return contact
            mailbox = mailbox or contact
    return mailbox


def _candidates(
    policy: Policy,
    directory: Directory,
    way: FindBy,
    spec: RoleSpec,
    bases: Mapping[str, Person | None],
    agencies: Mapping[str, str],
    raiser: Person,
    challenged: Contact,
) -> tuple[Contact, ...]:
    if way.who == "named":
        return ()  # filled from the form, above
    if way.who == "raiser":
        return (raiser.contact(),)
    if way.who == "challenged":
        return (challenged,)
    if way.who == "partnership_post":
        return directory.partnership_contacts(policy.id, way.post or spec.id)
    whose = way.of or "raiser"
    base = bases[whose]
    agency_id = agencies[whose]
    if way.who == "line_manager":
        person = base
        for _ in range(way.levels):
            person = directory.line_manager(person)
        return (person.contact(),) if person is not None and person is not base else ()
    if way.who == "safeguarding_lead":
        agency = directory.agency(agency_id)
        lead = directory.person(agency.safeguarding_lead_id if agency else None)
        return (lead.contact(),) if lead is not None else ()
    if way.who == "agency_post":
        holder = directory.agency_post(agency_id, way.post or "")
        return (holder.contact(),) if holder is not None else ()
    return directory.stage_contacts(agency_id, way.stage or 1, team=base.team if base else None)


def side_roles(stage: Stage, side: Side) -> tuple[RoleId, ...]:
    return stage.raiser_side if side is Side.RAISER else stage.challenged_side


def side_in(stage: Stage, role: RoleId) -> Side:
    """The side a part of `stage` is on (a part not on the raiser's side is on the challenged side)."""
    return Side.RAISER if role in stage.raiser_side else Side.CHALLENGED


def holders(challenge: Challenge, roles: Iterable[RoleId]) -> list[tuple[RoleId, Contact]]:
    """The contacts holding `roles`, one line per contact (the first role they hold)."""
    seen: set[str] = set()
    out: list[tuple[RoleId, Contact]] = []
    for role in roles:
        contact = challenge.parties.get(role)
        if contact is not None and contact.key not in seen:
            seen.add(contact.key)
            out.append((role, contact))
    return out


def actors(
    policy: Policy, challenge: Challenge, side: Side, stage_number: int | None = None
) -> tuple[Actor, ...]:
    """The people who can act for `side` at a stage (the current one by default).

    The people holding the side's parts at that stage; when none of them is a person, the people who acted for
    the side at the nearest earlier stage stand in, and at the first stage the raiser or the professional.
    """
    number = stage_number or challenge.stage
    own = [
        Actor(role, contact)
        for role, contact in holders(challenge, side_roles(policy.stage(number), side))
        if contact.person_id is not None
    ]
    if own:
        return tuple(own)
    for earlier in range(number - 1, 0, -1):
        found = [
            Actor(role, contact, standing_in=True)
            for role, contact in holders(challenge, side_roles(policy.stage(earlier), side))
            if contact.person_id is not None
        ]
        if found:
            return tuple(found)
    base = policy.raiser_role if side is Side.RAISER else policy.challenged_role
    contact = challenge.parties.get(base)
    if contact is not None and contact.person_id is not None:
        return (Actor(base, contact, standing_in=True),)
    return ()


def vacancies(policy: Policy, challenge: Challenge, stage_number: int | None = None) -> tuple[RoleId, ...]:
    """Parts that act at a stage (either side) but that no person holds: nobody found, or only a mailbox."""
    stage = policy.stage(stage_number or challenge.stage)
    out = []
    for role in (*stage.raiser_side, *stage.challenged_side):
        contact = challenge.parties.get(role)
        if contact is None or contact.person_id is None:
            out.append(role)
    return tuple(out)


def side_agency(policy: Policy, challenge: Challenge, role: RoleId) -> str | None:
    """The agency a role belongs to: the raiser's or the challenged one; None for a partnership role."""
    side = policy.role(role).side
    if side == "raiser":
        return challenge.raiser_agency_id
    if side == "challenged":
        return challenge.challenged_agency_id
    return None


def may_take(
    policy: Policy, directory: Directory, challenge: Challenge, role: RoleId, person_id: str
) -> bool:
    """Whether `person_id` may take a part no person holds: someone of that side's agency whom the role's own
    ways of finding would point to (a manager up the chain, the safeguarding lead, the agency's post holder)."""
    agency_id = side_agency(policy, challenge, role)
    person = directory.person(person_id)
    if agency_id is None or person is None or person.agency_id != agency_id:
        return False
    holder = challenge.parties.get(role)
    if holder is not None and holder.person_id is not None:
        return False
    return pointed_to(policy, directory, challenge, role, person)


#: How far up a line-management chain a manager may still take a part (or see the challenge).
MANAGEMENT_LEVELS = 6


def pointed_to(
    policy: Policy, directory: Directory, challenge: Challenge, role: RoleId, person: Person
) -> bool:
    """Whether the role's ways of finding could point to `person` in this challenge: its side's agency's
    safeguarding lead, the agency's post holder the role names, or a manager up the raiser's or the
    professional's line (a partnership role points to nobody here: its post holders are the directory's)."""
    agency_id = side_agency(policy, challenge, role)
    if agency_id is None or person.agency_id != agency_id:
        return False
    spec = policy.role(role)
    agency = directory.agency(agency_id)
    if agency is not None and agency.safeguarding_lead_id == person.id:
        return True
    if any(way.who == "agency_post" and way.post in person.job_roles for way in spec.found):
        return True
    base_role = policy.raiser_role if spec.side == "raiser" else policy.challenged_role
    chain = directory.person((challenge.parties.get(base_role) or Contact(name="")).person_id)
    for _ in range(MANAGEMENT_LEVELS):
        chain = directory.line_manager(chain)
        if chain is None:
            break
        if chain.id == person.id:
            return True
    return False
