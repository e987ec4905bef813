"""Recording a stage's meeting: date, attendees, key points, actions agreed and timescales (Durham's "Record of
the meeting, actions agreed and timescales"; Rochdale's multi-agency discussion and mediation meeting)."""

from __future__ import annotations

from dataclasses import replace

from process.actions.base import ActionSpec, Turn, written
from process.challenge import ActionKind, Decision, MeetingRecord, NotificationKind, RecordMeeting, Refused


class RecordMeetingSpec(ActionSpec):
    kind = ActionKind.RECORD_MEETING

    def permitted(self, turn: Turn) -> None:
        meeting = turn.stage.meeting
        if meeting is None:
            raise Refused(f"The procedure holds no meeting {turn.where}.", "invalid")
        chair = {meeting.chair} if meeting.chair else set()
        # The chair, and the partnership's people who take the stage forward or close it.
        partnership = turn.policy.partnership_roles & {*turn.stage.raiser_side, *turn.stage.closed_by}
        if turn.side is None and not turn.roles & (chair | partnership):
            raise Refused(f"Only the people involved {turn.where} can record its meeting.")

    def apply(self, turn: Turn, action: RecordMeeting) -> Decision:
        c, now, engine, stage = turn.challenge, turn.now, turn.engine, turn.stage
        assert stage.meeting is not None  # checked by permitted
        today = engine.calendar.local_date(now)
        if action.held_on > today:
            raise Refused(
                "A meeting is recorded after it has been held; the date is in the future.", "invalid"
            )
        if action.held_on < engine.calendar.local_date(c.raised_at):
            raise Refused("That date is before the challenge was raised.", "invalid")
        meeting = MeetingRecord(
            stage=c.stage,
            held_on=action.held_on,
            attendees=written(action.attendees, "who attended"),
            key_points=written(action.key_points, "the key points of discussion"),
            actions_agreed=written(action.actions_agreed, "the actions agreed", required=False),
            timescales=written(action.timescales, "the timescales", required=False),
            recorded_by=turn.actor_id,
            recorded_at=now,
        )
        c = replace(c, meetings=(*c.meetings, meeting))
        event = engine.event(
            c,
            now,
            turn.actor_id,
            "meeting_recorded",
            f"{stage.meeting.name} held on {action.held_on.isoformat()} recorded",
            {
                "attendees": meeting.attendees,
                "key_points": meeting.key_points,
                "actions_agreed": meeting.actions_agreed,
                "timescales": meeting.timescales,
            },
        )
        out = engine.outbox(c, turn.actor_id)
        out.add_roles(NotificationKind.MEETING_RECORDED, engine.stage_parties(c), c.parties, action=False)
        if stage.meeting.chair:
            out.add(
                NotificationKind.MEETING_RECORDED,
                stage.meeting.chair,
                c.parties.get(stage.meeting.chair),
                action_needed=False,
            )
        engine.copy_updates(out, c, NotificationKind.MEETING_RECORDED)
        return Decision(c, (event,), out.done())
