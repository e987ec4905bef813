"""Who holds a part: handing one over to a colleague, and taking one that no person holds (a mailbox was found
for it, or nobody was: "I'll take this")."""

from __future__ import annotations

from dataclasses import replace

from process.actions.base import ActionSpec, Turn, written
from process.challenge import ActionKind, Decision, HandOver, NotificationKind, Refused, TakePart
from process.parties import side_agency, side_in


class HandOverSpec(ActionSpec):
    kind = ActionKind.HAND_OVER

    def permitted(self, turn: Turn) -> None:
        if not turn.engine.handable_roles(turn.challenge, turn.actor_id):
            raise Refused(
                "Only someone with a part in this challenge, or their line manager, can hand it over."
            )

    def apply(self, turn: Turn, action: HandOver) -> Decision:
        c, now, engine, policy = turn.challenge, turn.now, turn.engine, turn.policy
        if action.role not in dict(engine.handable_roles(c, turn.actor_id)):
            if action.role in policy.partnership_roles:
                raise Refused("A partnership role is handed over by the person who holds it.")
            raise Refused("You can hand over your own part in a challenge, or that of someone you manage.")
        holder = c.parties.get(action.role)
        new = engine.directory.person(action.to_person_id)
        if new is None:
            raise Refused("Choose a colleague from the directory to hand over to.", "invalid")
        if holder is not None and holder.person_id == new.id:
            raise Refused(f"{new.name} already has that part in the challenge.", "invalid")
        agency_id = side_agency(policy, c, action.role)
        if agency_id is not None and new.agency_id != agency_id:
            raise Refused("Hand over to a colleague in the same agency.", "invalid")
        note = written(action.note, "the note", required=False)
        c = replace(c, parties={**c.parties, action.role: new.contact()})
        event = engine.event(
            c,
            now,
            turn.actor_id,
            "handed_over",
            f"{policy.role_title(action.role)} handed over",
            {"from": holder.name if holder else "", "to": new.name, **({"note": note} if note else {})},
        )
        out = engine.outbox(c, turn.actor_id)
        acting = action.role in engine.stage_parties(c)
        out.add(NotificationKind.HANDED_OVER, action.role, new.contact(), action_needed=acting)
        out.add(NotificationKind.HANDED_OVER, action.role, holder, action_needed=False)
        return Decision(c, (event,), out.done())


class TakePartSpec(ActionSpec):
    kind = ActionKind.TAKE_PART

    def permitted(self, turn: Turn) -> None:
        if not turn.engine.takeable_roles(turn.challenge, turn.actor_id):
            raise Refused("There is no part in this challenge for you to take.")

    def apply(self, turn: Turn, action: TakePart) -> Decision:
        c, now, engine, policy = turn.challenge, turn.now, turn.engine, turn.policy
        if action.role not in engine.takeable_roles(c, turn.actor_id):
            raise Refused("That part is not one you can take.", "invalid")
        person = engine.directory.person(turn.actor_id)
        assert person is not None  # takeable_roles needs a directory person
        mailbox = c.parties.get(action.role)
        c = replace(c, parties={**c.parties, action.role: person.contact()})
        event = engine.event(
            c,
            now,
            turn.actor_id,
            "part_taken",
            f"{policy.role_title(action.role)} taken by {person.name}",
            {"from": mailbox.name if mailbox else ""},
        )
        out = engine.outbox(c, turn.actor_id)
        side = side_in(turn.stage, action.role)
        engine.tell_side(out, c, side.other, NotificationKind.PART_TAKEN, action=False)
        out.add(NotificationKind.PART_TAKEN, action.role, mailbox, action_needed=False)
        return Decision(c, (event,), out.done())
