"""Two challenges walked through their whole procedures by the real engine, for exporting as forms.

Durham's goes from Stage 1 to Stage 5 (responses at each stage, meetings at Stages 3 and 4, the reasons for
escalating to the DSCP recorded) and is closed there with its outcome; Rochdale's goes from Stage 1 to Stage 4
(a multi-agency discussion at Stage 3, the steps taken there recorded on escalating) and is resolved at Stage 4
by an outcome proposed by one side and confirmed in writing by the other. What they write is strange on
purpose: Welsh, emoji, markdown, and text long enough to run over pages. Nobody here is real.
"""

from __future__ import annotations

from datetime import date, timedelta

from process.challenge import (
    Challenge,
    Close,
    ConfirmOutcome,
    Escalate,
    ProposeOutcome,
    RecordMeeting,
    Respond,
)
from process.directory import Directory
from process.policy import Policy, Role
from tests.cards.scenarios import DIRECTORY, POLICIES, Walk, raised

WELSH = "Mae'r adroddiad ar goll: dŵr, ŷd, Ŵyn a Ŷ — diolch yn fawr"
EMOJI = "Thanks 👍 🙂 😀 ✅"
MARKDOWN = "**not bold** _not italic_ # not a heading [not a link](http://example.invalid) <b>tag</b>"
#: A response long enough (3,900 characters) to run over a page on its own.
LONG = " ".join(f"Long-{i:03d} the line manager explains the delay in writing." for i in range(70))[:3900]

RESPONSE_1 = "Quasar-stage1: I will ask my manager about the report."
RESPONSE_2 = "Quasar-stage2: the report is delayed by sickness. " + LONG
MEETING_3 = "Quasar-meeting3: the agency agreed to share reports on time."
RESPONSE_3 = "Quasar-stage3: " + WELSH
MEETING_4 = "Quasar-meeting4: " + MARKDOWN
REASONS_5 = "Quasar-reasons5: three conferences without a report. " + EMOJI
CLOSING = "Quasar-closing: the Executive asked the agency for an improvement plan."

R_RESPONSE_1 = "Nebula-stage1: the plan was changed after the core group."
R_RESPONSE_2 = "Nebula-stage2: my manager disagrees with the challenge. " + EMOJI
R_MEETING_3 = "Nebula-meeting3: discussion chaired by the Head of Safeguarding."
R_STEPS = "Nebula-steps3: a multi-agency discussion was held; " + WELSH
R_UNRESOLVED = "Nebula-unresolved: school transport. " + MARKDOWN
R_PROPOSAL = "Nebula-outcome: transport arranged from Monday and reviewed in four weeks."


def _escalate(walk: Walk, reason: str, fields: dict[str, str] | None = None) -> Walk:
    stage = walk.policy.stage(walk.challenge.stage)
    by = walk.by((stage.escalated_by or stage.raiser_side)[0])
    return walk.then(Escalate(reason, fields or {}), by, minutes=60 * 24)


def _meeting(walk: Walk, points: str) -> Walk:
    held = (walk.now + timedelta(days=1)).date()
    stage = walk.policy.stage(walk.challenge.stage)
    meeting = RecordMeeting(
        held, "Invented attendees of both agencies", points, "Share every report", "5 days"
    )
    return walk.then(meeting, walk.by(stage.raiser_side[0]), minutes=60 * 24)


def durham_walk() -> Walk:
    walk = raised("durham")
    walk = walk.then(Respond(RESPONSE_1), walk.by(Role.CHALLENGED_PROFESSIONAL), minutes=120)
    walk = _escalate(walk, "Quasar-escalate2: no report yet.")
    walk = walk.then(Respond(RESPONSE_2), walk.by(Role.CHALLENGED_LINE_MANAGER), minutes=60 * 24)
    walk = _escalate(walk, "Quasar-escalate3: still unresolved.")
    walk = _meeting(walk, MEETING_3)
    walk = walk.then(Respond(RESPONSE_3), walk.by(Role.CHALLENGED_SAFEGUARDING_LEAD), minutes=60)
    walk = _escalate(walk, "Quasar-escalate4: reoccurring.")
    walk = _meeting(walk, MEETING_4)
    walk = _escalate(walk, "Quasar-escalate5: to the Executive.", {"reasons_for_escalation": REASONS_5})
    return walk.then(Close(CLOSING), walk.by(Role.EXECUTIVE), minutes=60 * 24)


def rochdale_walk() -> Walk:
    walk = raised("rochdale")
    walk = walk.then(Respond(R_RESPONSE_1), walk.by(Role.CHALLENGED_PROFESSIONAL), minutes=120)
    walk = _escalate(walk, "Nebula-escalate2: practitioners could not agree.")
    walk = walk.then(Respond(R_RESPONSE_2), walk.by(Role.CHALLENGED_LINE_MANAGER), minutes=60 * 24)
    walk = _escalate(walk, "Nebula-escalate3: line managers could not agree.")
    walk = _meeting(walk, R_MEETING_3)
    walk = _escalate(
        walk,
        "Nebula-escalate4: to the partnership.",
        {"stage_3_steps": R_STEPS, "unresolved_elements": R_UNRESOLVED},
    )
    stage = walk.policy.stage(4)
    walk = walk.then(ProposeOutcome(R_PROPOSAL), walk.by(stage.raiser_side[0]), minutes=60 * 24)
    return walk.then(ConfirmOutcome(), walk.by(stage.challenged_side[0]), minutes=60 * 3)


def full(partnership: str) -> tuple[Policy, Challenge, Directory]:
    walk = durham_walk() if partnership == "durham" else rochdale_walk()
    return POLICIES[partnership], walk.challenge, DIRECTORY


#: A day none of the scenario's dates fall on, so the form's "exported" line is told from the record's dates.
EXPORT_DAY = date(2027, 1, 15)
