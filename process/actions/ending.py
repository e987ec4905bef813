"""Ending a challenge without an agreed outcome: the raiser withdraws it, or it is closed at the final stage."""

from __future__ import annotations

from process.actions.base import ActionSpec, Turn, ended, written
from process.challenge import (
    ActionKind,
    Challenge,
    Close,
    Decision,
    NotificationKind,
    Refused,
    Status,
    Withdraw,
)


def _end(turn: Turn, status: Status, text: str, what: str) -> Decision:
    c, now, engine, actor_id = turn.challenge, turn.now, turn.engine, turn.actor_id
    text = written(text, what)
    ending = "withdrawn" if status is Status.WITHDRAWN else "closed"
    done: Challenge = ended(
        turn,
        status,
        stage_outcome=ending,
        entry_kind=ending,
        text=text,
        agreed_outcome=text if status is Status.CLOSED else c.agreed_outcome,
        reason=text,
    )
    event = engine.event(
        done, now, actor_id, ending, f"Challenge {ending} at stage {c.stage}", {"text": text}
    )
    out = engine.outbox(done, actor_id)
    kind = NotificationKind.WITHDRAWN if status is Status.WITHDRAWN else NotificationKind.CLOSED
    engine.tell_everyone(out, done, kind)
    if status is Status.CLOSED:
        out.add_roles(kind, turn.policy.final_stage_notify, done.parties, action=False)
    return Decision(done, (event,), out.done())


class WithdrawSpec(ActionSpec):
    kind = ActionKind.WITHDRAW

    def permitted(self, turn: Turn) -> None:
        if turn.policy.raiser_role not in turn.roles:
            raise Refused("Only the person who raised the challenge can withdraw it.")

    def apply(self, turn: Turn, action: Withdraw) -> Decision:
        return _end(turn, Status.WITHDRAWN, action.reason, "the reason for withdrawing")


class CloseSpec(ActionSpec):
    kind = ActionKind.CLOSE

    def permitted(self, turn: Turn) -> None:
        policy, stage = turn.policy, turn.stage
        if not stage.final:
            raise Refused(
                f"A challenge is closed at stage {policy.final_stage.number}; resolve it by agreeing the outcome "
                "instead.",
                "invalid",
            )
        if not turn.roles & set(stage.closed_by):
            raise Refused(f"Only the {turn.sides_text(stage.closed_by)} can close the challenge.")

    def apply(self, turn: Turn, action: Close) -> Decision:
        return _end(turn, Status.CLOSED, action.outcome, "the outcome")
