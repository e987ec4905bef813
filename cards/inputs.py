"""The ids of every input on the bot's cards: the names under which Teams sends back what a person typed.

They are part of the contract with the dialogs that read them, so they are stable snake_case names kept here
in one place. A card may not hold two inputs with one id (the Adaptive Cards library refuses it), and one
challenge card can offer several actions at once, so where two actions ask for the same kind of thing
(a response and a proposed outcome are both text) each has its own id; `action_inputs` gives them back
under the names of the engine's action fields.

Challenge actions (button data also carries `challengeId` and `version`):

| verb | inputs |
| --- | --- |
| RESPOND | `text` |
| PROPOSE | `proposed_outcome` (read back as `text`) |
| CONFIRM | none |
| ESCALATE | `reason`, and the next stage's entry field ids (`reasons_for_escalation`, `stage_3_steps`...) |
| TIMESCALE (a proposal) | `working_days` (a number; Teams may send it as text), `note` |
| MEETING | `held_on` (YYYY-MM-DD), `attendees`, `key_points`, `actions_agreed`, `timescales` |
| WITHDRAW | `withdraw_reason` (read back as `reason`) |
| TIMESCALE_CONFIRM | none |
| HAND_OVER | `role` (a role id of the policy), `to_person_id`, `handover_note` (read back as `note`) |
| TAKE_PART | `take_role` (read back as `role`) |
| COMPLETE_STEP | `step_note` (read back as `note`) |
| CLOSE | `outcome` |

Raising (button data also carries `step`): `policy_id`; `child_name`, `date_of_birth` (YYYY-MM-DD),
`agency_reference`; `challenged_agency_id`, `challenged_person_id` (`not_listed` when the person is not in
the directory), `challenged_name`, `challenged_email`; `issue_category` (when the form has categories), `priority` (when the procedure sets priorities),
`concern`, `desired_outcome`;
`urgent` ("true"/"false"), `start_stage` ("1", "3"...), `recurring_of` (the reference of a resolved
challenge a reoccurring issue is linked to), `start_reason` (why it starts at a stage the policy allows on a
stated condition), `informal_evidence`, and `entry_<field id>` for the
entry fields of a stage an urgent challenge may start at (e.g. `entry_stage_3_steps`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from cards import verbs

# Keys of button data that are not inputs.
CHALLENGE_ID: Final = "challengeId"
VERSION: Final = "version"
STEP: Final = "step"
REFERENCE: Final = "reference"
#: The raising form (draft) a raising card belongs to, and the draft's revision the card showed.
DRAFT_ID: Final = "draftId"
REVISION: Final = "revision"

# Challenge actions.
TEXT: Final = "text"
PROPOSED_OUTCOME: Final = "proposed_outcome"
REASON: Final = "reason"
WITHDRAW_REASON: Final = "withdraw_reason"
WORKING_DAYS: Final = "working_days"
NOTE: Final = "note"
HELD_ON: Final = "held_on"
ATTENDEES: Final = "attendees"
KEY_POINTS: Final = "key_points"
ACTIONS_AGREED: Final = "actions_agreed"
TIMESCALES: Final = "timescales"
ROLE: Final = "role"
TAKE_ROLE: Final = "take_role"
STEP_NOTE: Final = "step_note"
TO_PERSON_ID: Final = "to_person_id"
HANDOVER_NOTE: Final = "handover_note"
OUTCOME: Final = "outcome"

# Raising a challenge.
POLICY_ID: Final = "policy_id"
CHILD_NAME: Final = "child_name"
DATE_OF_BIRTH: Final = "date_of_birth"
AGENCY_REFERENCE: Final = "agency_reference"
CHALLENGED_AGENCY_ID: Final = "challenged_agency_id"
CHALLENGED_PERSON_ID: Final = "challenged_person_id"
CHALLENGED_NAME: Final = "challenged_name"
CHALLENGED_EMAIL: Final = "challenged_email"
ISSUE_CATEGORY: Final = "issue_category"
PRIORITY: Final = "priority"
CONCERN: Final = "concern"
DESIRED_OUTCOME: Final = "desired_outcome"
URGENT: Final = "urgent"
START_STAGE: Final = "start_stage"
RECURRING_OF: Final = "recurring_of"
START_REASON: Final = "start_reason"
INFORMAL_EVIDENCE: Final = "informal_evidence"

#: The `challenged_person_id` choice "Not listed: give name and email" (a choice's value cannot be empty).
NOT_LISTED: Final = "not_listed"
#: What an `Input.Toggle` sends when on and when off.
TOGGLE_ON: Final = "true"
TOGGLE_OFF: Final = "false"
#: Prefix of the raising form's inputs for a starting stage's entry fields.
ENTRY_PREFIX: Final = "entry_"
#: Prefix of the raising form's inputs for the people the raiser names (`named_lead_professional`).
NAMED_PREFIX: Final = "named_"


def named_id(role_id: str) -> str:
    """The raising form's input id for a role the raiser names (`lead_professional` -> `named_lead_...`)."""
    return NAMED_PREFIX + role_id


def raise_entry_id(field_id: str) -> str:
    """The raising form's input id for a stage's entry field (`stage_3_steps` -> `entry_stage_3_steps`)."""
    return ENTRY_PREFIX + field_id


#: Per verb, the inputs that carry an action-specific id on the card, and the name they are read back as.
_READ_AS: dict[str, dict[str, str]] = {
    verbs.PROPOSE: {PROPOSED_OUTCOME: TEXT},
    verbs.WITHDRAW: {WITHDRAW_REASON: REASON},
    verbs.HAND_OVER: {HANDOVER_NOTE: NOTE},
    verbs.TAKE_PART: {TAKE_ROLE: ROLE},
    verbs.COMPLETE_STEP: {STEP_NOTE: NOTE},
}


def action_inputs(verb: str, data: Mapping[str, Any]) -> dict[str, Any]:
    """A button's data with its inputs under the engine's field names (`text`, `reason`, `note`...).

    So that a dialog reads a proposal as `text` and a withdrawal as `reason`, whichever id the card had to
    give them; other keys pass through unchanged.
    """
    renames = _READ_AS.get(verb, {})
    out = {key: value for key, value in data.items() if key not in renames}
    for card_id, name in renames.items():
        if card_id in data:
            out[name] = data[card_id]
    return out
