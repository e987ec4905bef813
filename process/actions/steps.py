"""Completing a step inside a stage ("the chair sends the form within 3 working days; the line manager answers
within 10 of receiving it"): the step's owner says it is done, and the next step's time starts."""

from __future__ import annotations

from dataclasses import replace

from process.actions.base import ActionSpec, Turn, written
from process.challenge import ActionKind, CompleteStep, Decision, Entry, NotificationKind, Refused, Side


class CompleteStepSpec(ActionSpec):
    kind = ActionKind.COMPLETE_STEP

    def permitted(self, turn: Turn) -> None:
        step = turn.engine.current_step(turn.challenge)
        if step is None:
            raise Refused(f"There is no step to complete {turn.where}.", "invalid")
        owners = turn.engine.step_owners(turn.challenge, step)
        if not any(a.contact.person_id == turn.actor_id for a in owners):
            raise Refused(f"Only the {turn.sides_text((step.owner,))} completes this step: {step.name}.")

    def apply(self, turn: Turn, action: CompleteStep) -> Decision:
        c, now, engine, stage = turn.challenge, turn.now, turn.engine, turn.stage
        step = engine.current_step(c)
        assert step is not None  # checked by permitted
        note = written(action.note, "the note", required=False)
        done = c.current.steps_done + 1
        following = stage.steps[done] if done < len(stage.steps) else None
        due = engine.step_due(c, following, now) if following is not None else None
        record = replace(
            c.current,
            steps_done=done,
            due_at=due,
            timescale_working_days=following.within_working_days if following else None,
            reminded=False,
            breached=False,
        )
        awaiting = engine.owner_side(c, following.owner) if following is not None else Side.RAISER
        c = replace(
            c,
            stages=(*c.stages[:-1], record),
            awaiting=awaiting or c.awaiting,
            entries=(*c.entries, Entry(now, c.stage, turn.actor_id, "step_done", note or step.name)),
        )
        event = engine.event(
            c,
            now,
            turn.actor_id,
            "step_done",
            f"Stage {c.stage}: {step.name} (done)",
            {"note": note} if note else {},
        )
        out = engine.outbox(c, turn.actor_id)
        if following is not None:
            for actor in engine.step_owners(c, following):
                out.add(NotificationKind.STEP_DONE, actor.role, actor.contact, action_needed=True)
        else:
            engine.tell_side(out, c, Side.RAISER, NotificationKind.STEP_DONE, action=True)
        engine.tell_side(out, c, Side.CHALLENGED, NotificationKind.STEP_DONE, action=False)
        engine.tell_side(out, c, Side.RAISER, NotificationKind.STEP_DONE, action=False)
        engine.copy_updates(out, c, NotificationKind.STEP_DONE)
        return Decision(c, (event,), out.done())
