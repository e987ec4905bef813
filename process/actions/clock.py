"""What the deadline clock does: remind before a stage is due, and act when it has passed.

A passed deadline is put to the raising side to decide (`on_deadline_passed: ask_raiser`): whoever the
challenge would go to next is told at once that it may come to them. A policy may instead escalate by itself
(`on_deadline_passed: escalate`). The safeguarding leads a stage consults get the reminder and the notice for
their information.
"""

from __future__ import annotations

from dataclasses import replace

from process.actions.base import ActionSpec, Turn
from process.challenge import (
    SYSTEM,
    ActionKind,
    DeadlinePassed,
    Decision,
    NotificationKind,
    Refused,
    Remind,
    Side,
)


class _ClockSpec(ActionSpec):
    by_clock = True

    def permitted(self, turn: Turn) -> None:
        if turn.actor_id != SYSTEM:
            raise Refused("Only the deadline clock sends reminders and reports missed deadlines.")


class RemindSpec(_ClockSpec):
    kind = ActionKind.REMIND

    def apply(self, turn: Turn, action: Remind) -> Decision:
        engine, now = turn.engine, turn.now
        c = replace(
            turn.challenge,
            stages=(*turn.challenge.stages[:-1], replace(turn.challenge.current, reminded=True)),
        )
        event = engine.event(c, now, SYSTEM, "reminder_sent", f"Reminder: stage {c.stage} is due soon")
        out = engine.outbox(c, SYSTEM)
        engine.tell_side(out, c, c.awaiting or Side.CHALLENGED, NotificationKind.REMINDER, action=True)
        out.add_roles(NotificationKind.REMINDER, turn.stage.consult, c.parties, action=False)
        return Decision(c, (event,), out.done())


class DeadlinePassedSpec(_ClockSpec):
    kind = ActionKind.DEADLINE_PASSED

    def apply(self, turn: Turn, action: DeadlinePassed) -> Decision:
        engine, now, policy, stage = turn.engine, turn.now, turn.policy, turn.stage
        c = turn.challenge
        due = c.current.due_at
        if due is None or now < due:
            raise Refused(f"Stage {c.stage} of {c.reference} is not past its deadline.", "invalid")
        c = replace(c, stages=(*c.stages[:-1], replace(c.current, breached=True, reminded=True)))
        summary = f"Stage {c.stage} deadline passed"
        if engine.total_due(c) == due:
            summary += f" (the procedure's total of {policy.total_limit_working_days} working days)"
        event = engine.event(c, now, SYSTEM, "deadline_passed", summary)
        if stage.final:
            out = engine.outbox(c, SYSTEM)
            out.add(
                NotificationKind.DEADLINE_PASSED,
                policy.raiser_role,
                c.parties.get(policy.raiser_role),
                action_needed=False,
            )
            out.add_roles(NotificationKind.DEADLINE_PASSED, stage.closed_by, c.parties, action=True)
            out.add_roles(
                NotificationKind.DEADLINE_PASSED, policy.final_stage_notify, c.parties, action=False
            )
            out.add_roles(NotificationKind.DEADLINE_PASSED, stage.consult, c.parties, action=False)
            return Decision(c, (event,), out.done())
        if policy.on_deadline_passed == "escalate":
            nxt = policy.next_stage(c.stage)
            assert nxt is not None  # not the final stage (above)
            escalated = engine.escalate(
                c,
                "Deadline passed",
                {
                    f.id: "Escalated automatically: the previous stage's deadline passed."
                    for f in nxt.entry_fields
                },
                SYSTEM,
                now,
            )
            return Decision(escalated.challenge, (event, *escalated.events), escalated.notifications)
        out = engine.outbox(c, SYSTEM)
        engine.tell_side(out, c, Side.RAISER, NotificationKind.ESCALATION_DECISION_NEEDED, action=True)
        out.add(
            NotificationKind.DEADLINE_PASSED,
            policy.raiser_role,
            c.parties.get(policy.raiser_role),
            action_needed=False,
        )
        engine.tell_side(out, c, Side.CHALLENGED, NotificationKind.DEADLINE_PASSED, action=False)
        for role, contact in engine.next_escalation(c):
            out.add(NotificationKind.COMING_TO_YOU, role, contact, action_needed=False)
        out.add_roles(NotificationKind.DEADLINE_PASSED, stage.consult, c.parties, action=False)
        engine.copy_updates(out, c, NotificationKind.DEADLINE_PASSED)
        return Decision(c, (event,), out.done())
