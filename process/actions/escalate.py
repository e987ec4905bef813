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
        if stage.escalated_by:
            if not turn.roles & set(stage.escalated_by):
                raise Refused(f"Only the {turn.sides_text(stage.escalated_by)} can escalate {turn.where}.")
            return
        either = policy.escalated_by == "either_side"
        if not (turn.side is Side.RAISER or (either and turn.side is not None)):
            who = "either side" if either else turn.sides_text(stage.raiser_side)
            raise Refused(f"Only {who} can escalate {turn.where}.")

    def apply(self, turn: Turn, action: Escalate) -> Decision:
        return turn.engine.escalate(turn.challenge, action.reason, action.fields, turn.actor_id, turn.now)
