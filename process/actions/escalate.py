"""Escalating to the next stage, with the reason (and the next stage's own fields, e.g. Durham's "Reasons for
escalation to DSCP")."""

from __future__ import annotations

from process.actions.base import ActionSpec, Turn
from process.challenge import ActionKind, Decision, Escalate, Refused, Side


class EscalateSpec(ActionSpec):
    kind = ActionKind.ESCALATE

    def permitted(self, turn: Turn) -> None:
        policy, stage = turn.policy, turn.stage
        if stage.final:
            raise Refused(
                f"Stage {stage.number} is the final stage of the {policy.short_name} process.", "invalid"
            )
        under = f"Under the {policy.short_name} procedure, {turn.where} escalation is for"
        if stage.escalated_by:
            if not turn.roles & set(stage.escalated_by):
                named = [
                    contact.name
                    for role in stage.escalated_by
                    if (contact := turn.challenge.parties.get(role)) is not None and contact.person_id
                ]
                who = f" ({', '.join(named)})" if named else ""
                raise Refused(f"{under} the {turn.sides_text(stage.escalated_by)}{who} to decide.")
            return
        either = policy.escalated_by == "either_side"
        if not (turn.side is Side.RAISER or (either and turn.side is not None)):
            if either:
                both = f"{turn.who_acts(Side.RAISER)} or {turn.who_acts(Side.CHALLENGED)}"
                raise Refused(f"{under} either side to decide: {both}.")
            raise Refused(f"{under} {turn.who_acts(Side.RAISER)} to decide.")

    def apply(self, turn: Turn, action: Escalate) -> Decision:
        return turn.engine.escalate(turn.challenge, action.reason, action.fields, turn.actor_id, turn.now)
