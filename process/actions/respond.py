"""The challenged side responds (the form's "Line Manager's response", "Senior manager's response"...)."""

from __future__ import annotations

from dataclasses import replace

from process.actions.base import ActionSpec, Turn, passed_to, written
from process.challenge import ActionKind, Decision, Entry, NotificationKind, Refused, Respond, Side


class RespondSpec(ActionSpec):
    kind = ActionKind.RESPOND

    def permitted(self, turn: Turn) -> None:
        if turn.side is not Side.CHALLENGED:
            raise Refused(f"Only the {turn.sides_text(turn.stage.challenged_side)} can respond {turn.where}.")

    def apply(self, turn: Turn, action: Respond) -> Decision:
        c, now, engine = turn.challenge, turn.now, turn.engine
        text = written(action.text, "your response")
        c = replace(
            c,
            entries=(*c.entries, Entry(now, c.stage, turn.actor_id, "response", text)),
            awaiting=Side.RAISER,
        )
        event = engine.event(
            c,
            now,
            turn.actor_id,
            "responded",
            f"{turn.stage.response_label} recorded at stage {c.stage}",
            {"text": text},
        )
        return passed_to(turn, c, event, Side.RAISER, NotificationKind.RESPONSE)
