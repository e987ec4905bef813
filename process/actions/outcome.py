"""Agreeing the outcome: one side proposes it, the other confirms it, so that both have the same understanding
of it (Rochdale Stage 1); confirming resolves the challenge."""

from __future__ import annotations

from dataclasses import replace

from process.actions.base import ActionSpec, Turn, ended, passed_to, written
from process.challenge import (
    ActionKind,
    ConfirmOutcome,
    Decision,
    Entry,
    NotificationKind,
    Proposal,
    ProposeOutcome,
    Refused,
    Side,
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
        if side is Side.RAISER and turn.stage.outcome_decided_by == "raiser_side":
            # The raising side decides the outcome at this stage: it is recorded, and everyone is told.
            return _resolve(
                turn, text, turn.actor_id, "outcome_decided", f"Outcome decided; resolved at stage {c.stage}"
            )
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
        return passed_to(turn, c, event, side.other, NotificationKind.OUTCOME_PROPOSED)


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
        proposal = turn.challenge.proposal
        assert proposal is not None  # checked by permitted
        return _resolve(
            turn,
            proposal.text,
            proposal.proposed_by,
            "outcome_agreed",
            f"Outcome agreed by both sides; resolved at stage {turn.challenge.stage}",
        )


def _resolve(turn: Turn, text: str, proposed_by: str, kind: str, summary: str) -> Decision:
    now, engine = turn.now, turn.engine
    c = ended(
        turn,
        Status.RESOLVED,
        stage_outcome="resolved",
        entry_kind="confirmed_outcome",
        text=text,
        agreed_outcome=text,
    )
    event = engine.event(
        c, now, turn.actor_id, kind, summary, {"agreed_outcome": text, "proposed_by": proposed_by}
    )
    out = engine.outbox(c, turn.actor_id)
    engine.tell_everyone(out, c, NotificationKind.RESOLVED)
    return Decision(c, (event,), out.done())
