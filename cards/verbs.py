"""The verbs of the bot's `Action.Execute` buttons: what the Teams handler routes on.

A challenge button's data always carries `challengeId` and the `version` the card showed, so a button pressed
on a stale card can be answered with the current card instead of a second change. A raising button's data carries the
`draftId` of its form, the `step` and the form's `revision` the card showed, for the same reason.
"""

from __future__ import annotations

from typing import Final

from process.challenge import ActionKind

RESPOND: Final = "challenge.respond"
PROPOSE: Final = "challenge.propose"
CONFIRM: Final = "challenge.confirm"
ESCALATE: Final = "challenge.escalate"
TIMESCALE: Final = "challenge.timescale"
CONFIRM_TIMESCALE: Final = "challenge.timescale.confirm"
TAKE_PART: Final = "challenge.take"
COMPLETE_STEP: Final = "challenge.step"
MEETING: Final = "challenge.meeting"
WITHDRAW: Final = "challenge.withdraw"
HAND_OVER: Final = "challenge.handover"
CLOSE: Final = "challenge.close"
REFRESH: Final = "challenge.refresh"
SHOW: Final = "challenge.show"
#: Export the challenge as its partnership's form (the data's `format`: pdf or docx); a party's 1:1 card only.
EXPORT: Final = "challenge.export"

RAISE_START: Final = "raise.start"
RAISE_NEXT: Final = "raise.next"
RAISE_BACK: Final = "raise.back"
RAISE_CANCEL: Final = "raise.cancel"
RAISE_CONFIRM: Final = "raise.confirm"
RAISE_CONTINUE: Final = "raise.continue"
RAISE_DISCARD: Final = "raise.discard"

#: The verb of the button for each action a person can take on a challenge (the clock's actions have none).
ACTION_VERBS: dict[ActionKind, str] = {
    ActionKind.RESPOND: RESPOND,
    ActionKind.PROPOSE_OUTCOME: PROPOSE,
    ActionKind.CONFIRM_OUTCOME: CONFIRM,
    ActionKind.ESCALATE: ESCALATE,
    ActionKind.PROPOSE_TIMESCALE: TIMESCALE,
    ActionKind.CONFIRM_TIMESCALE: CONFIRM_TIMESCALE,
    ActionKind.TAKE_PART: TAKE_PART,
    ActionKind.COMPLETE_STEP: COMPLETE_STEP,
    ActionKind.RECORD_MEETING: MEETING,
    ActionKind.WITHDRAW: WITHDRAW,
    ActionKind.HAND_OVER: HAND_OVER,
    ActionKind.CLOSE: CLOSE,
}

#: The monitoring report's Refresh: its data and inputs carry the partnership, the period preset and dates.
REPORT_REFRESH: Final = "report.refresh"
