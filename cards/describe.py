"""A challenge put into the procedures' words: its stage, its status, who is involved and whose move it is.

Shared by the challenge card, the list of a person's challenges and the notifications, so all three say the
same thing the same way. Nothing here names the child: these are the reference-level facts.
"""

from __future__ import annotations

from collections.abc import Iterable

from cards.text import and_list
from process.challenge import Challenge, Side, Status
from process.directory import Contact
from process.parties import actors
from process.policy import Policy, RoleId


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


def role_title(role: RoleId, policy: Policy) -> str:
    return policy.role_title(role)


def roles_text(roles: Iterable[RoleId], policy: Policy) -> str:
    """ "Raiser and Business Manager for QRT"."""
    return and_list([policy.role_title(r) for r in roles])


def side_contacts(challenge: Challenge, policy: Policy, side: Side) -> tuple[tuple[RoleId, Contact], ...]:
    """The people who act for `side` now, one line per person (the engine's rule: never a mailbox, and those
    who acted before standing in for a part nobody holds)."""
    return tuple((a.role, a.contact) for a in actors(policy, challenge, side))


def awaited(challenge: Challenge, policy: Policy) -> tuple[tuple[RoleId, Contact], ...]:
    """The people whose move it is (none once it ended)."""
    if not challenge.is_open or challenge.awaiting is None:
        return ()
    return side_contacts(challenge, policy, challenge.awaiting)


def awaited_task(challenge: Challenge, policy: Policy) -> str:
    """What the awaited side is expected to do next."""
    if challenge.proposal is not None:
        return "to confirm the proposed agreed outcome"
    if challenge.timescale_proposal is not None:
        return "to confirm the proposed timescale"
    stage = policy.stage(challenge.stage)
    if challenge.current.steps_done < len(stage.steps):
        return f"to complete: {stage.steps[challenge.current.steps_done].name}"
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
        return f"Nobody yet: no person holds the part of {roles_text(roles, policy).lower()}"
    names = " or ".join(f"{contact.name} ({role_title(role, policy)})" for role, contact in people)
    return f"{names}, {awaited_task(challenge, policy)}"


def is_awaited(challenge: Challenge, policy: Policy, person_id: str) -> bool:
    """Whether `person_id` is one of the people whose move it is."""
    return any(contact.person_id == person_id for _, contact in awaited(challenge, policy))


def contact_text(contact: Contact) -> str:
    """A name with the ways to reach them: "Health Safeguarding Team (health@example.org, 0100 000 0003)"."""
    ways = [w for w in (contact.email, contact.phone) if w]
    text = f"{contact.name} ({', '.join(ways)})" if ways else contact.name
    return f"{text}: {contact.note}" if contact.note else text
