"""Which card a person sees for a challenge, decided from who they are and where they are looking."""

from __future__ import annotations

from typing import Any, Literal

from cards.challenge import challenge_card
from dialogs.service import ChallengeService
from process.challenge import ActionKind, Challenge
from process.directory import Person
from process.engine import Engine

Audience = Literal["party", "group"]


def is_party(challenge: Challenge, person: Person | None, engine: Engine) -> bool:
    """Parties are the people holding a role in the challenge, and those who may take a part that no person
    holds; only they see the child's details."""
    if person is None:
        return False
    return bool(challenge.roles_of(person.id) or engine.takeable_roles(challenge, person.id))


async def challenge_view(
    service: ChallengeService,
    challenge: Challenge,
    viewer: Person | None,
    *,
    audience: Audience,
    notice: str | None = None,
) -> dict[str, Any]:
    """`viewer`'s card: a party's own actions in a 1:1 chat, a reference-level summary otherwise."""
    engine = await service.engine(challenge.policy_id)
    if audience == "party" and not is_party(challenge, viewer, engine):
        audience = "group"
    policy = service.policy(challenge.policy_id)
    directory = await service.directory()
    now = service.clock()
    allowed = engine.allowed_actions(challenge, viewer.id, now) if audience == "party" and viewer else ()
    events, told = await service.history(challenge.id) if audience == "party" else ([], ())
    user_ids = sorted(
        {
            person.aad_object_id
            for contact in challenge.parties.values()
            if (person := directory.person(contact.person_id)) is not None and person.aad_object_id
        }
    )
    return challenge_card(
        challenge,
        policy=policy,
        directory=directory,
        calendar=service.calendar(challenge.policy_id),
        now=now,
        viewer_id=viewer.id if viewer else None,
        allowed=allowed,
        audience=audience,
        events=events,
        user_ids=user_ids if audience == "party" else (),
        notice=notice,
        next_contacts=engine.next_escalation_contacts(challenge) if ActionKind.ESCALATE in allowed else (),
        colleagues=directory.colleagues(viewer.agency_id)
        if viewer and ActionKind.HAND_OVER in allowed
        else (),
        handable=engine.handable_roles(challenge, viewer.id) if viewer and audience == "party" else (),
        takeable=engine.takeable_roles(challenge, viewer.id) if viewer and audience == "party" else (),
        vacant=engine.vacancies(challenge) if challenge.is_open else (),
        decides_alone=engine.decides_outcome_alone(challenge, viewer.id if viewer else None),
        told=told,
    )
