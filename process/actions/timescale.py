"""Agreeing a stage's timescale: one side proposes it, the other confirms it (Rochdale: "Timescales should be
agreed at each stage ... should not exceed 10 working days"). Counted from the stage's start, never past its
cap nor past the procedure's total limit."""

from __future__ import annotations

from dataclasses import replace

from process.actions.base import ActionSpec, Turn, passed_to, written
from process.challenge import (
    ActionKind,
    ConfirmTimescale,
    Decision,
    NotificationKind,
    ProposeTimescale,
    Refused,
    TimescaleProposal,
)


def _agreeable(turn: Turn) -> int:
    """The stage's cap in working days, when a timescale can still be agreed for it now."""
    policy, stage = turn.policy, turn.stage
    if stage.timescale != "agreed" or stage.limit_working_days is None:
        raise Refused(
            f"The {policy.short_name} procedure fixes stage {stage.number}'s timescale; it cannot be changed.",
            "invalid",
        )
    latest = turn.engine.stage_due(turn.challenge, stage.limit_working_days)
    if latest is None or latest <= turn.now:
        raise Refused(
            f"Stage {stage.number} has used all the time it may have ({stage.limit_working_days} working days); "
            "escalate it or agree the outcome.",
            "invalid",
        )
    return stage.limit_working_days


class ProposeTimescaleSpec(ActionSpec):
    kind = ActionKind.PROPOSE_TIMESCALE

    def permitted(self, turn: Turn) -> None:
        _agreeable(turn)
        turn.needs_side("agree its timescale")

    def apply(self, turn: Turn, action: ProposeTimescale) -> Decision:
        c, now, engine = turn.challenge, turn.now, turn.engine
        cap = _agreeable(turn)
        side = turn.needs_side("agree its timescale")
        days = action.working_days
        if not 1 <= days <= cap:
            raise Refused(
                f"Stage {c.stage} may not exceed {cap} working days; propose between 1 and {cap}.", "invalid"
            )
        due = engine.stage_due(c, days)
        if due is None or due <= now:
            raise Refused("That timescale has already run out; propose a longer one.", "invalid")
        note = written(action.note, "the note", required=False)
        c = replace(c, timescale_proposal=TimescaleProposal(days, note, turn.actor_id, side, now))
        event = engine.event(
            c,
            now,
            turn.actor_id,
            "timescale_proposed",
            f"Stage {c.stage} timescale of {days} working days proposed",
            {"note": note} if note else {},
        )
        return passed_to(turn, c, event, side.other, NotificationKind.TIMESCALE_PROPOSED)


class ConfirmTimescaleSpec(ActionSpec):
    kind = ActionKind.CONFIRM_TIMESCALE

    def permitted(self, turn: Turn) -> None:
        proposal = turn.challenge.timescale_proposal
        if proposal is None:
            raise Refused("No timescale has been proposed to confirm.", "invalid")
        _agreeable(turn)
        side = turn.needs_side("agree its timescale")
        if side is proposal.side:
            raise Refused("A timescale is agreed by the other side confirming it.")
        due = turn.engine.stage_due(turn.challenge, proposal.working_days)
        if due is None or due <= turn.now:
            raise Refused("The proposed timescale has already run out; propose a new one.", "invalid")

    def apply(self, turn: Turn, action: ConfirmTimescale) -> Decision:
        c, now, engine = turn.challenge, turn.now, turn.engine
        proposal = c.timescale_proposal
        assert proposal is not None  # checked by permitted
        due = engine.stage_due(c, proposal.working_days)
        previous = c.current.timescale_working_days
        record = replace(
            c.current,
            due_at=due,
            timescale_working_days=proposal.working_days,
            reminded=False,
            breached=False,
        )
        c = replace(c, stages=(*c.stages[:-1], record), timescale_proposal=None)
        change = "extended" if previous is not None and proposal.working_days > previous else "agreed"
        event = engine.event(
            c,
            now,
            turn.actor_id,
            "timescale_agreed",
            f"Stage {c.stage} timescale {change} by both sides: {proposal.working_days} working days",
            {"proposed_by": proposal.proposed_by, **({"note": proposal.note} if proposal.note else {})},
        )
        out = engine.outbox(c, turn.actor_id)
        engine.tell_side(out, c, proposal.side, NotificationKind.TIMESCALE_AGREED, action=False)
        engine.tell_side(out, c, proposal.side.other, NotificationKind.TIMESCALE_AGREED, action=False)
        engine.copy_updates(out, c, NotificationKind.TIMESCALE_AGREED)
        return Decision(c, (event,), out.done())
