"""One professional challenge: its state, and the actions people (and the clock) take on it.

Everything here is a plain, immutable value. The engine (`process.engine`) turns an action on a challenge into
a `Decision`: the new state, the audit events and the notifications it implies.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import get_args

from process.directory import Contact
from process.policy import RoleId

#: The actor id of the deadline clock, which may remind and report breaches but do nothing else.
SYSTEM = "system"

#: Longest free text accepted in any field; a Word form's box holds far less.
MAX_TEXT = 4000
MAX_NAME = 200


class Status(StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"
    WITHDRAWN = "withdrawn"
    CLOSED = "closed"


class Side(StrEnum):
    """The two sides of a challenge; at every stage someone on each side acts."""

    RAISER = "raiser_side"
    CHALLENGED = "challenged_side"

    @property
    def other(self) -> Side:
        return Side.CHALLENGED if self is Side.RAISER else Side.RAISER


class ActionKind(StrEnum):
    RESPOND = "respond"
    PROPOSE_OUTCOME = "propose_outcome"
    CONFIRM_OUTCOME = "confirm_outcome"
    ESCALATE = "escalate"
    COMPLETE_STEP = "complete_step"
    PROPOSE_TIMESCALE = "propose_timescale"
    CONFIRM_TIMESCALE = "confirm_timescale"
    RECORD_MEETING = "record_meeting"
    WITHDRAW = "withdraw"
    HAND_OVER = "hand_over"
    TAKE_PART = "take_part"
    CLOSE = "close"
    REMIND = "remind"
    DEADLINE_PASSED = "deadline_passed"


@dataclass(frozen=True)
class ChildDetails:
    """The child-identifying facts of a challenge; kept together so they can be protected together."""

    name: str
    date_of_birth: date | None = None
    agency_reference: str | None = None


@dataclass(frozen=True)
class RaiseRequest:
    """What the raiser fills in on the partnership's form."""

    child: ChildDetails
    challenged_agency_id: str
    concern: str
    desired_outcome: str
    #: One of the form's issue categories; empty when the partnership's form has none.
    issue_category: str = ""
    challenged_person_id: str | None = None
    challenged_name: str | None = None
    challenged_email: str | None = None
    informal_evidence: str | None = None
    urgent: bool = False
    start_stage: int = 1
    fields: Mapping[str, str] = field(default_factory=dict)
    #: The reference of the resolved challenge this one says is reoccurring (a `recurring` later start).
    recurring_of: str | None = None
    #: One of the policy's priorities, when its stages' limits depend on it.
    priority: str | None = None
    #: Why the challenge starts at a later stage, where the policy asks for a reason (`with_reason`).
    start_reason: str | None = None
    #: People the raiser names for the policy's `named` roles (role id -> a person id of the directory or an
    #: email address), e.g. the child's lead professional or conference chair.
    named: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class StageRecord:
    """One stage as it happened: when it started, when it was due, how it ended."""

    number: int
    started_at: datetime
    due_at: datetime | None
    timescale_working_days: int | None
    ended_at: datetime | None = None
    outcome: str | None = None
    reason: str | None = None
    reminded: bool = False
    breached: bool = False
    #: Steps of the stage completed so far (for a stage with steps): the current one is the next.
    steps_done: int = 0


@dataclass(frozen=True)
class Entry:
    """Something a party wrote at a stage: a response, a proposal, a reason."""

    at: datetime
    stage: int
    actor_id: str
    kind: str
    text: str


@dataclass(frozen=True)
class Proposal:
    text: str
    proposed_by: str
    side: Side
    at: datetime


@dataclass(frozen=True)
class TimescaleProposal:
    """A timescale one side proposes for the current stage; the other side confirms it."""

    working_days: int
    note: str
    proposed_by: str
    side: Side
    at: datetime


@dataclass(frozen=True)
class MeetingRecord:
    """A meeting as the forms record it: date, attendees, key points, actions agreed, timescales."""

    stage: int
    held_on: date
    attendees: str
    key_points: str
    actions_agreed: str
    timescales: str
    recorded_by: str
    recorded_at: datetime


@dataclass(frozen=True)
class Challenge:
    id: str
    reference: str
    policy_id: str
    status: Status
    stage: int
    version: int
    raised_at: datetime
    raised_by: str
    raiser_agency_id: str
    challenged_agency_id: str
    child: ChildDetails
    issue_category: str
    concern: str
    desired_outcome: str
    informal_evidence: str | None
    urgent: bool
    parties: Mapping[RoleId, Contact]
    stages: tuple[StageRecord, ...]
    awaiting: Side | None
    entries: tuple[Entry, ...] = ()
    proposal: Proposal | None = None
    agreed_outcome: str | None = None
    meetings: tuple[MeetingRecord, ...] = ()
    fields: Mapping[str, str] = field(default_factory=dict)
    closed_at: datetime | None = None
    next_due_at: datetime | None = None
    timescale_proposal: TimescaleProposal | None = None
    #: The reference of the earlier challenge a reoccurring issue was raised against.
    linked_to: str | None = None
    #: The priority chosen at raising, when the policy's limits depend on it.
    priority: str | None = None
    #: When the retention purge erased the child's details and what people wrote (None: it has not).
    purged_at: datetime | None = None

    @property
    def current(self) -> StageRecord:
        """The record of the stage the challenge is at (or ended at)."""
        return self.stages[-1]

    @property
    def due_at(self) -> datetime | None:
        return self.current.due_at if self.status is Status.OPEN else None

    @property
    def is_open(self) -> bool:
        return self.status is Status.OPEN

    def roles_of(self, person_id: str) -> frozenset[RoleId]:
        """Every role `person_id` holds on this challenge."""
        return frozenset(role for role, c in self.parties.items() if c.person_id == person_id)


# Actions people take. Each is validated by the engine against the policy and who is acting.


@dataclass(frozen=True)
class Respond:
    text: str


@dataclass(frozen=True)
class ProposeOutcome:
    text: str


@dataclass(frozen=True)
class ConfirmOutcome:
    pass


@dataclass(frozen=True)
class Escalate:
    reason: str
    fields: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class CompleteStep:
    """The owner of the stage's current step says it is done (the form is sent, the review is made)."""

    note: str = ""


@dataclass(frozen=True)
class ProposeTimescale:
    working_days: int
    note: str = ""


@dataclass(frozen=True)
class ConfirmTimescale:
    pass


@dataclass(frozen=True)
class RecordMeeting:
    held_on: date
    attendees: str
    key_points: str
    actions_agreed: str
    timescales: str


@dataclass(frozen=True)
class Withdraw:
    reason: str


@dataclass(frozen=True)
class HandOver:
    role: RoleId
    to_person_id: str
    note: str = ""


@dataclass(frozen=True)
class TakePart:
    """A person takes a part that no person holds (it is vacant, or only a mailbox was found for it)."""

    role: RoleId


@dataclass(frozen=True)
class Close:
    outcome: str


@dataclass(frozen=True)
class Remind:
    pass


@dataclass(frozen=True)
class DeadlinePassed:
    pass


Action = (
    Respond
    | ProposeOutcome
    | ConfirmOutcome
    | Escalate
    | CompleteStep
    | ProposeTimescale
    | ConfirmTimescale
    | RecordMeeting
    | Withdraw
    | HandOver
    | TakePart
    | Close
    | Remind
    | DeadlinePassed
)


class NotificationKind(StrEnum):
    """Why someone is being told something; the notifier turns each into words and a card."""

    RAISED = "raised"
    RESPONSE = "response"
    OUTCOME_PROPOSED = "outcome_proposed"
    RESOLVED = "resolved"
    ESCALATED = "escalated"
    CONSULTED = "consulted"
    INFORMED = "informed"
    COPIED_IN = "copied_in"
    STEP_DONE = "step_done"
    TIMESCALE_PROPOSED = "timescale_proposed"
    TIMESCALE_AGREED = "timescale_agreed"
    MEETING_RECORDED = "meeting_recorded"
    WITHDRAWN = "withdrawn"
    HANDED_OVER = "handed_over"
    CLOSED = "closed"
    REMINDER = "reminder"
    DEADLINE_PASSED = "deadline_passed"
    ESCALATION_DECISION_NEEDED = "escalation_decision_needed"
    FINAL_STAGE_REACHED = "final_stage_reached"
    #: The next escalation contact, told as soon as a deadline passes that the challenge may come to them.
    COMING_TO_YOU = "coming_to_you"
    PART_TAKEN = "part_taken"
    #: A notification about the challenge could not be delivered at all (told to the raiser and the
    #: partnership, so that someone tells the person another way).
    DELIVERY_FAILED = "delivery_failed"
    #: One agency received the policy's `pattern_alert` number of challenges within its days (told to the
    #: partnership's posts it names, with the references only).
    PATTERN_ALERT = "pattern_alert"


@dataclass(frozen=True)
class Notification:
    """Who must be told what about a challenge. Carries no child data: the reference identifies the case."""

    kind: NotificationKind
    recipient: Contact
    roles: tuple[RoleId, ...]
    challenge_id: str
    reference: str
    stage: int
    due_at: datetime | None
    action_needed: bool


@dataclass(frozen=True)
class AuditEvent:
    """One line of the chronology. `summary` carries no child data; `detail` holds what was written."""

    challenge_id: str
    at: datetime
    actor_id: str
    stage: int
    kind: str
    summary: str
    detail: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Decision:
    """What one action does: the new state, and the events and notifications to store with it."""

    challenge: Challenge
    events: tuple[AuditEvent, ...]
    notifications: tuple[Notification, ...]


class Refused(Exception):
    """An action the procedure does not allow; `reason` is written for the person who tried it, and `field`
    names the part of a form it is about (`child.name`, `challenged_email`...) when it is about one."""

    def __init__(self, reason: str, code: str = "not_permitted", field: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code
        self.field = field


def _snake(name: str) -> str:
    return "".join(f"_{ch.lower()}" if ch.isupper() and i else ch.lower() for i, ch in enumerate(name))


#: Each action's kind, named after its class (`ProposeOutcome` -> `propose_outcome`), so nothing keeps the
#: two lists in step by hand.
ACTION_KINDS: dict[type[object], ActionKind] = {
    cls: ActionKind(_snake(cls.__name__)) for cls in get_args(Action)
}
