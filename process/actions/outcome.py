"""Agreeing the outcome: one side proposes it, the other confirms it, so that both have the same understanding
of it (Rochdale Stage 1); confirming resolves the challenge."""

from __future__ import annotations

from dataclasses import replace

from process.actions.base import ActionSpec, Turn, written
from process.challenge import (
    ActionKind,
    ConfirmOutcome,
    Decision,
    Entry,
    NotificationKind,
    Proposal,
    ProposeOutcome,
    Refused,
    Status,
)


class ProposeOutcomeSpec(ActionSpec):
    kind = ActionKind.PROPOSE_OUTCOME

    def permitted(self, turn: Turn) -> None:
        turn.needs_side("propose the agreed outcome")

    def apply(self, turn: Turn, action: ProposeOutcome) -> Decision:
        c, now, engine = turn.challenge, turn.now, turn.engine
        side = turn.needs_side("propose the agreed outcome")
        text = written(action.text, "the agreed outcome")
        c = replace(
            c,
            proposal=Proposal(text, turn.actor_id, side, now),
            entries=(*c.entries, Entry(now, c.stage, turn.actor_id, "proposed_outcome", text)),
            awaiting=side.other,
        )
        event = engine.event(
            c,
            now,
            turn.actor_id,
            "outcome_proposed",
            f"Agreed outcome proposed at stage {c.stage}",
            {"text": text},
        )
        out = engine.outbox(c, turn.actor_id)
        engine.tell_side(out, c, side.other, NotificationKind.OUTCOME_PROPOSED, action=True)
        engine.copy_updates(out, c, NotificationKind.OUTCOME_PROPOSED)
        return Decision(c, (event,), out.done())


class ConfirmOutcomeSpec(ActionSpec):
    kind = ActionKind.CONFIRM_OUTCOME

    def permitted(self, turn: Turn) -> None:
        proposal = turn.challenge.proposal
        if proposal is None:
            raise Refused("There is no proposed outcome to confirm yet.", "invalid")
        side = turn.needs_side("confirm the agreed outcome")
        if side is proposal.side:
            raise Refused(
                "The agreed outcome must be confirmed by the other side, so that both have the same "
                "understanding of it."
            )

    def apply(self, turn: Turn, action: ConfirmOutcome) -> Decision:
        c, now, engine = turn.challenge, turn.now, turn.engine
        proposal = c.proposal
        assert proposal is not None  # checked by permitted
        c = replace(
            c,
            status=Status.RESOLVED,
            agreed_outcome=proposal.text,
            proposal=None,
            timescale_proposal=None,
            awaiting=None,
            closed_at=now,
            stages=(*c.stages[:-1], replace(c.current, ended_at=now, outcome="resolved")),
            entries=(*c.entries, Entry(now, c.stage, turn.actor_id, "confirmed_outcome", proposal.text)),
        )
        event = engine.event(
            c,
            now,
            turn.actor_id,
            "outcome_agreed",
            f"Outcome agreed by both sides; resolved at stage {c.stage}",
            {"agreed_outcome": proposal.text, "proposed_by": proposal.proposed_by},
        )
        out = engine.outbox(c, turn.actor_id)
        engine.tell_everyone(out, c, NotificationKind.RESOLVED)
        return Decision(c, (event,), out.done())
