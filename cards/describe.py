"""A challenge put into the procedures' words: its stage, its status, who is involved and whose move it is.

Shared by the challenge card, the list of a person's challenges and the notifications, so all three say the
same thing the same way. Nothing here names the child: these are the reference-level facts.
"""

from __future__ import annotations

from collections.abc import Iterable

from process.challenge import Challenge, Side, Status
from process.directory import Contact
from process.policy import ROLE_TITLES, Policy, Role


def stage_title(policy: Policy, number: int) -> str:
    """ "Stage 2 of 5 — Line Manager"."""
    return f"Stage {number} of {len(policy.stages)} — {policy.stage(number).name}"


def status_text(challenge: Challenge) -> str:
    """The status as a person would say it, with the stage it ended at."""
    if challenge.status is Status.OPEN:
        return "Open, urgent" if challenge.urgent else "Open"
    if challenge.status is Status.RESOLVED:
        return f"Resolved at stage {challenge.stage}: outcome agreed by both sides"
    if challenge.status is Status.WITHDRAWN:
        return f"Withdrawn at stage {challenge.stage}"
    return f"Closed at stage {challenge.stage}"


def role_title(role: Role) -> str:
    return ROLE_TITLES[role]


def roles_text(roles: Iterable[Role]) -> str:
    """ "Raiser and Business Manager for QRT"."""
    names = [ROLE_TITLES[r] for r in roles]
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


def side_contacts(challenge: Challenge, policy: Policy, side: Side) -> tuple[tuple[Role, Contact], ...]:
    """Who acts for `side` at the challenge's current stage, one line per person (first role they hold)."""
    stage = policy.stage(challenge.stage)
    roles = stage.raiser_side if side is Side.RAISER else stage.challenged_side
    seen: set[str] = set()
    found: list[tuple[Role, Contact]] = []
    for role in roles:
        contact = challenge.parties.get(role)
        if contact is not None and contact.key not in seen:
            seen.add(contact.key)
            found.append((role, contact))
    return tuple(found)


def awaited(challenge: Challenge, policy: Policy) -> tuple[tuple[Role, Contact], ...]:
    """The people whose move it is: the awaited side's parties at the current stage (none once it ended)."""
    if not challenge.is_open or challenge.awaiting is None:
        return ()
    return side_contacts(challenge, policy, challenge.awaiting)


def awaited_task(challenge: Challenge, policy: Policy) -> str:
    """What the awaited side is expected to do next."""
    if challenge.proposal is not None:
        return "to confirm the proposed agreed outcome"
    if challenge.awaiting is Side.CHALLENGED:
        return "to respond"
    if policy.stage(challenge.stage).final:
        return "to agree the outcome"
    return "to agree the outcome or escalate"


def whose_move(challenge: Challenge, policy: Policy) -> str:
    """ "Morgan Challengedline (Professional's line manager), to respond"; "Nobody: ..." once it has ended."""
    if not challenge.is_open:
        return f"Nobody: the challenge is {challenge.status.value}"
    people = awaited(challenge, policy)
    if not people:
        side = challenge.awaiting or Side.CHALLENGED
        stage = policy.stage(challenge.stage)
        roles = stage.raiser_side if side is Side.RAISER else stage.challenged_side
        return f"The {roles_text(roles).lower()}, {awaited_task(challenge, policy)}"
    names = " or ".join(f"{contact.name} ({role_title(role)})" for role, contact in people)
    return f"{names}, {awaited_task(challenge, policy)}"


def is_awaited(challenge: Challenge, policy: Policy, person_id: str) -> bool:
    """Whether `person_id` is one of the people whose move it is."""
    return any(contact.person_id == person_id for _, contact in awaited(challenge, policy))


def contact_text(contact: Contact) -> str:
    """A name with the ways to reach them: "Health Safeguarding Team (health@example.org, 0100 000 0003)"."""
    ways = [w for w in (contact.email, contact.phone) if w]
    text = f"{contact.name} ({', '.join(ways)})" if ways else contact.name
    return f"{text}: {contact.note}" if contact.note else text
