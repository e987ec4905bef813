"""Ending a challenge without an agreed outcome: the raiser withdraws it, or it is closed at the final stage."""

from __future__ import annotations

from dataclasses import replace

from process.actions.base import ActionSpec, Turn, written
from process.challenge import (
    ActionKind,
    Challenge,
    Close,
    Decision,
    Entry,
    NotificationKind,
    Refused,
    Status,
    Withdraw,
)


def _end(turn: Turn, status: Status, text: str, what: str) -> Decision:
    c, now, engine, actor_id = turn.challenge, turn.now, turn.engine, turn.actor_id
    text = written(text, what)
    ending = "withdrawn" if status is Status.WITHDRAWN else "closed"
    ended: Challenge = replace(
        c,
        status=status,
        awaiting=None,
        proposal=None,
        timescale_proposal=None,
        closed_at=now,
        agreed_outcome=text if status is Status.CLOSED else c.agreed_outcome,
        stages=(*c.stages[:-1], replace(c.current, ended_at=now, outcome=ending, reason=text)),
        entries=(*c.entries, Entry(now, c.stage, actor_id, ending, text)),
    )
    event = engine.event(
        ended, now, actor_id, ending, f"Challenge {ending} at stage {c.stage}", {"text": text}
    )
    out = engine.outbox(ended, actor_id)
    kind = NotificationKind.WITHDRAWN if status is Status.WITHDRAWN else NotificationKind.CLOSED
    engine.tell_everyone(out, ended, kind)
    if status is Status.CLOSED:
        out.add_roles(kind, turn.policy.final_stage_notify, ended.parties, action=False)
    return Decision(ended, (event,), out.done())


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
