"""The process engine: applies a partnership's policy to a challenge, one action at a time.

Pure and synchronous: the clock is passed in, the directory is a snapshot, and every answer is data (a
`Decision`, or `Refused` with a reason a person can act on). Storage, Teams and email live elsewhere.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from process.calendar import WorkingCalendar
from process.challenge import (
    ACTION_KINDS,
    MAX_NAME,
    MAX_TEXT,
    SYSTEM,
    Action,
    ActionKind,
    AgreeTimescale,
    AuditEvent,
    Challenge,
    Close,
    ConfirmOutcome,
    DeadlinePassed,
    Decision,
    Entry,
    Escalate,
    HandOver,
    MeetingRecord,
    Notification,
    NotificationKind,
    Proposal,
    ProposeOutcome,
    RaiseRequest,
    RecordMeeting,
    Refused,
    Remind,
    Respond,
    Side,
    StageRecord,
    Status,
    Withdraw,
)
from process.directory import Contact, Directory, Person
from process.policy import PARTNERSHIP_ROLES, Policy, Role, Stage

#: Actions a person may take (the clock's own actions are not offered on cards).
PERSON_ACTIONS: tuple[ActionKind, ...] = (
    ActionKind.RESPOND,
    ActionKind.PROPOSE_OUTCOME,
    ActionKind.CONFIRM_OUTCOME,
    ActionKind.ESCALATE,
    ActionKind.AGREE_TIMESCALE,
    ActionKind.RECORD_MEETING,
    ActionKind.HAND_OVER,
    ActionKind.WITHDRAW,
    ActionKind.CLOSE,
)


#: Control characters other than tab and line breaks: never part of what a person wrote (and PostgreSQL
#: refuses NUL), so they are refused rather than stored.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _text(value: str | None, what: str, *, limit: int = MAX_TEXT, required: bool = True) -> str:
    cleaned = (value or "").strip()
    if _CONTROL.search(cleaned):
        raise Refused(
            f"{what[0].upper()}{what[1:]} contains control characters; please type it again.", "invalid"
        )
    if required and not cleaned:
        raise Refused(f"Please fill in {what}.", "invalid")
    if len(cleaned) > limit:
        raise Refused(
            f"{what[0].upper()}{what[1:]} is {len(cleaned)} characters; keep it to {limit}.", "invalid"
        )
    return cleaned


def calendar_for(policy: Policy) -> WorkingCalendar:
    """The working-day calendar of a policy's nation, closure days (dates and yearly) and due time."""
    from process.calendar import parse_closure

    hour, minute = (int(part) for part in policy.due_time.split(":"))
    return WorkingCalendar(
        nation=policy.nation,
        closures=tuple(parse_closure(entry) for entry in policy.closures),
        due_time=time(hour, minute),
    )


@dataclass
class _Outbox:
    """Collects notifications for one decision, one per recipient: the first (strongest) reason wins."""

    challenge: Challenge
    stage: int
    due_at: datetime | None
    exclude: frozenset[str] = frozenset()
    items: dict[str, Notification] = field(default_factory=dict)

    def add(
        self, kind: NotificationKind, role: Role, contact: Contact | None, *, action_needed: bool
    ) -> None:
        if contact is None or contact.key in self.exclude:
            return
        known = self.items.get(contact.key)
        if known is None:
            self.items[contact.key] = Notification(
                kind=kind,
                recipient=contact,
                roles=(role,),
                challenge_id=self.challenge.id,
                reference=self.challenge.reference,
                stage=self.stage,
                due_at=self.due_at,
                action_needed=action_needed,
            )
        elif role not in known.roles:
            self.items[contact.key] = replace(
                known, roles=(*known.roles, role), action_needed=known.action_needed or action_needed
            )

    def add_roles(
        self, kind: NotificationKind, roles: Iterable[Role], parties: Mapping[Role, Contact], *, action: bool
    ) -> None:
        for role in roles:
            self.add(kind, role, parties.get(role), action_needed=action)

    def done(self) -> tuple[Notification, ...]:
        return tuple(self.items.values())


class Engine:
    """Runs one partnership's policy against its directory and calendar."""

    def __init__(self, policy: Policy, directory: Directory, calendar: WorkingCalendar | None = None) -> None:
        self.policy = policy
        self.directory = directory
        self.calendar = calendar or calendar_for(policy)
        self.zone = ZoneInfo(self.calendar.timezone)

    # ----- who is who -------------------------------------------------------------------------------------

    def resolve_parties(
        self, raiser: Person, challenged: Contact, challenged_agency_id: str
    ) -> dict[Role, Contact]:
        """Fill every role of a new challenge from the directory, with each agency's contacts as fallback."""
        d = self.directory
        challenged_person = d.person(challenged.person_id)
        partnership = self.policy.id
        parties: dict[Role, Contact | None] = {
            Role.RAISER: raiser.contact(),
            Role.CHALLENGED_PROFESSIONAL: challenged,
        }
        raiser_lm = d.line_manager(raiser)
        raiser_sm = d.line_manager(raiser_lm)
        parties[Role.RAISER_LINE_MANAGER] = _first(_contact(raiser_lm), d.stage_contacts(raiser.agency_id, 2))
        parties[Role.RAISER_SENIOR_MANAGER] = _first(
            _contact(raiser_sm), d.stage_contacts(raiser.agency_id, 3)
        )
        raiser_agency = d.agency(raiser.agency_id)
        parties[Role.RAISER_SAFEGUARDING_LEAD] = _first(
            _contact(d.person(raiser_agency.safeguarding_lead_id if raiser_agency else None)),
            d.stage_contacts(raiser.agency_id, 3),
        )
        challenged_lm = d.line_manager(challenged_person)
        parties[Role.CHALLENGED_LINE_MANAGER] = _first(
            _contact(challenged_lm), d.stage_contacts(challenged_agency_id, 2)
        )
        parties[Role.CHALLENGED_SENIOR_MANAGER] = _first(
            None, d.stage_contacts(challenged_agency_id, 3)
        ) or _contact(d.line_manager(challenged_lm))
        agency = d.agency(challenged_agency_id)
        parties[Role.CHALLENGED_SAFEGUARDING_LEAD] = _first(
            _contact(d.person(agency.safeguarding_lead_id if agency else None)),
            d.stage_contacts(challenged_agency_id, 3),
        )
        for role in PARTNERSHIP_ROLES:
            parties[role] = _first(None, d.partnership_contacts(partnership, role))
        return {role: c for role, c in parties.items() if c is not None}

    def escalation_contacts(self, challenge: Challenge, stage_number: int) -> tuple[Contact, ...]:
        """Who the challenge goes to at `stage_number`: the challenged side, then the agency's contacts."""
        stage = self.policy.stage(stage_number)
        found: dict[str, Contact] = {}
        for role in stage.challenged_side:
            contact = challenge.parties.get(role)
            if contact is not None:
                found.setdefault(contact.key, contact)
        if stage_number > 1:
            for contact in self.directory.stage_contacts(challenge.challenged_agency_id, stage_number):
                found.setdefault(contact.key, contact)
        return tuple(found.values())

    def next_escalation_contacts(self, challenge: Challenge) -> tuple[Contact, ...]:
        """Who a breach or an escalation of this challenge's current stage goes to next."""
        if challenge.stage >= len(self.policy.stages):
            return self.escalation_contacts(challenge, challenge.stage)
        return self.escalation_contacts(challenge, challenge.stage + 1)

    def side_of(self, challenge: Challenge, person_id: str, stage: Stage | None = None) -> Side | None:
        """Which side `person_id` acts for at the challenge's current stage (None: not a party to it)."""
        stage = stage or self.policy.stage(challenge.stage)
        roles = challenge.roles_of(person_id)
        if roles & set(stage.challenged_side):
            return Side.CHALLENGED
        if roles & set(stage.raiser_side):
            return Side.RAISER
        return None

    def stage_parties(self, challenge: Challenge, side: Side | None = None) -> dict[Role, Contact]:
        """The contacts who act at the current stage, on one side or both."""
        stage = self.policy.stage(challenge.stage)
        roles: tuple[Role, ...] = ()
        if side in (None, Side.RAISER):
            roles += stage.raiser_side
        if side in (None, Side.CHALLENGED):
            roles += stage.challenged_side
        return {r: challenge.parties[r] for r in roles if r in challenge.parties}

    # ----- what may be done -------------------------------------------------------------------------------

    def allowed_actions(self, challenge: Challenge, person_id: str) -> tuple[ActionKind, ...]:
        """The actions `person_id` may take on the challenge now, in card order."""
        allowed = []
        for kind in PERSON_ACTIONS:
            try:
                self._check_permitted(challenge, kind, person_id)
            except Refused:
                continue
            allowed.append(kind)
        return tuple(allowed)

    def _check_permitted(self, challenge: Challenge, kind: ActionKind, actor_id: str) -> None:
        policy = self.policy
        stage = policy.stage(challenge.stage)
        if challenge.status is not Status.OPEN:
            raise Refused(
                f"{challenge.reference} is {challenge.status.value}; nothing more can be done on it.",
                "closed",
            )
        if kind in (ActionKind.REMIND, ActionKind.DEADLINE_PASSED):
            if actor_id != SYSTEM:
                raise Refused("Only the deadline clock sends reminders and reports missed deadlines.")
            return
        if actor_id == SYSTEM:
            raise Refused(f"The deadline clock cannot {kind.value.replace('_', ' ')}.")
        roles = challenge.roles_of(actor_id)
        side = self.side_of(challenge, actor_id)
        where = f"at stage {stage.number} ({stage.name})"
        if kind is ActionKind.RESPOND:
            if side is not Side.CHALLENGED:
                raise Refused(f"Only the {_side_names(stage.challenged_side)} can respond {where}.")
        elif kind is ActionKind.PROPOSE_OUTCOME:
            if side is None:
                raise Refused(f"Only the people involved {where} can propose the agreed outcome.")
        elif kind is ActionKind.CONFIRM_OUTCOME:
            if challenge.proposal is None:
                raise Refused("There is no proposed outcome to confirm yet.", "invalid")
            if side is None:
                raise Refused(f"Only the people involved {where} can confirm the agreed outcome.")
            if side is challenge.proposal.side:
                raise Refused(
                    "The agreed outcome must be confirmed by the other side, so that both have the same "
                    "understanding of it."
                )
        elif kind is ActionKind.ESCALATE:
            if stage.final:
                raise Refused(
                    f"Stage {stage.number} is the final stage of the {policy.short_name} process.", "invalid"
                )
            may = side is Side.RAISER or (policy.escalated_by == "either_side" and side is not None)
            if not may:
                who = (
                    "either side" if policy.escalated_by == "either_side" else _side_names(stage.raiser_side)
                )
                raise Refused(f"Only {who} can escalate {where}.")
        elif kind is ActionKind.AGREE_TIMESCALE:
            if stage.timescale != "agreed":
                raise Refused(
                    f"The {policy.short_name} procedure fixes stage {stage.number} at "
                    f"{stage.limit_working_days} working days; it cannot be changed.",
                    "invalid",
                )
            if side is None:
                raise Refused(f"Only the people involved {where} can agree its timescale.")
        elif kind is ActionKind.RECORD_MEETING:
            if stage.meeting is None:
                raise Refused(f"The procedure holds no meeting {where}.", "invalid")
            chair = {stage.meeting.chair} if stage.meeting.chair else set()
            if side is None and not roles & (chair | {Role.BUSINESS_MANAGER}):
                raise Refused(f"Only the people involved {where} can record its meeting.")
        elif kind is ActionKind.WITHDRAW:
            if Role.RAISER not in roles:
                raise Refused("Only the person who raised the challenge can withdraw it.")
        elif kind is ActionKind.HAND_OVER:
            if not roles and not self._manages_a_party(challenge, actor_id):
                raise Refused(
                    "Only someone with a part in this challenge, or their line manager, can hand it over."
                )
        elif kind is ActionKind.CLOSE:
            if not stage.final:
                raise Refused(
                    f"A challenge is closed at stage {policy.final_stage.number}; resolve it by agreeing the "
                    "outcome instead.",
                    "invalid",
                )
            if not roles & set(stage.closed_by):
                raise Refused(f"Only the {_side_names(stage.closed_by)} can close the challenge.")

    def _manages_a_party(self, challenge: Challenge, actor_id: str) -> bool:
        for contact in challenge.parties.values():
            person = self.directory.person(contact.person_id)
            if person is not None and person.line_manager_id == actor_id:
                return True
        return False

    # ----- raising ----------------------------------------------------------------------------------------

    def raise_challenge(
        self, request: RaiseRequest, actor_id: str, now: datetime, *, challenge_id: str, reference: str
    ) -> Decision:
        """Open a challenge from the raiser's form, at stage 1 or (urgent) a later stage the policy allows."""
        policy = self.policy
        _aware(now)
        raiser = self.directory.person(actor_id)
        if raiser is None:
            raise Refused(
                "You are not in the partnership's directory yet, so you cannot raise a challenge. Ask the "
                f"{policy.short_name} business unit to add you."
            )
        if policy.raised_by and not raiser.job_roles & set(policy.raised_by):
            who = " or ".join(r.upper() if len(r) <= 3 else r.replace("_", " ") for r in policy.raised_by)
            raise Refused(f"Under the {policy.short_name} procedure a challenge is raised by the {who}.")
        child = request.child
        _text(child.name, policy.child_fields.name_label.lower(), limit=MAX_NAME)
        today = self.calendar.local_date(now)
        if child.date_of_birth is None and policy.child_fields.date_of_birth == "required":
            raise Refused("Please give the child's date of birth.", "invalid")
        if child.date_of_birth is not None:
            if child.date_of_birth > today:
                raise Refused("The date of birth is in the future.", "invalid")
            if child.date_of_birth < date(today.year - 26, today.month, 1):
                raise Refused("That date of birth is of an adult; this process is for children.", "invalid")
        if not (child.agency_reference or "").strip() and policy.child_fields.agency_reference == "required":
            raise Refused("Please give the agency reference number.", "invalid")
        _text(child.agency_reference, "the agency reference", limit=MAX_NAME, required=False)
        agency = self.directory.agency(request.challenged_agency_id)
        if agency is None or agency.partnership_id != policy.id:
            raise Refused(
                f"Choose the challenged agency from the {policy.short_name} list of agencies.", "invalid"
            )
        if agency.id == raiser.agency_id:
            raise Refused(
                "A professional challenge is between agencies; a disagreement inside your own agency goes "
                "through its internal resolution process.",
                "invalid",
            )
        challenged = self._challenged_contact(request, agency.id)
        if policy.category(request.issue_category) is None:
            raise Refused("Choose one of the issue categories on the form.", "invalid")
        concern = _text(request.concern, "the concern")
        desired = _text(request.desired_outcome, "the outcome you would like to see")
        evidence = (
            _text(request.informal_evidence, "the evidence of informal attempts", required=False) or None
        )
        start = request.start_stage
        if start != 1:
            if not request.urgent:
                raise Refused("Only an urgent challenge may start after stage 1.", "invalid")
            if start not in policy.urgent_start_stages:
                allowed = ", ".join(str(n) for n in policy.urgent_start_stages)
                raise Refused(
                    f"The {policy.short_name} procedure lets an urgent challenge start at stage {allowed}"
                    if allowed
                    else f"The {policy.short_name} procedure starts every challenge at stage 1.",
                    "invalid",
                )
        stage = policy.stage(start)
        if stage.requires_informal_evidence and not evidence:
            raise Refused(
                f"Stage {start} needs the evidence of informal challenge at stages 1-2 and its outcome.",
                "invalid",
            )
        # The entry fields describe the stage before ("ONLY complete if Stage 3 has not achieved resolution"),
        # so an urgent start records them when given but cannot require them.
        fields = self._entry_fields(stage, request.fields, enforce=False)
        parties = self.resolve_parties(raiser, challenged, agency.id)
        record = self._start_stage(start, now)
        challenge = Challenge(
            id=challenge_id,
            reference=reference,
            policy_id=policy.id,
            status=Status.OPEN,
            stage=start,
            version=1,
            raised_at=now,
            raised_by=raiser.id,
            raiser_agency_id=raiser.agency_id,
            challenged_agency_id=agency.id,
            child=child,
            issue_category=request.issue_category,
            concern=concern,
            desired_outcome=desired,
            informal_evidence=evidence,
            urgent=request.urgent,
            parties=parties,
            stages=(record,),
            awaiting=Side.CHALLENGED,
            fields=fields,
        )
        challenge = self._with_next_due(challenge)
        summary = f"Challenge raised at stage {start} ({stage.name})" + (
            " as urgent" if request.urgent else ""
        )
        event = self._event(
            challenge, now, actor_id, "raised", summary, {"concern": concern, "desired_outcome": desired}
        )
        out = self._outbox(challenge, actor_id)
        self._announce_stage(out, challenge, NotificationKind.RAISED)
        return Decision(challenge, (event,), out.done())

    def _challenged_contact(self, request: RaiseRequest, agency_id: str) -> Contact:
        if request.challenged_person_id:
            person = self.directory.person(request.challenged_person_id)
            if person is None:
                raise Refused(
                    "The professional you chose is no longer in the directory; choose again.", "invalid"
                )
            if person.agency_id != agency_id:
                raise Refused("The professional you chose does not work for the agency you chose.", "invalid")
            return person.contact()
        email = (request.challenged_email or "").strip()
        if email:
            known = self.directory.person_by_email(email)
            if known is not None:
                if known.agency_id != agency_id:
                    raise Refused("That email address belongs to someone at another agency.", "invalid")
                return known.contact()
            if "@" not in email or " " in email or len(email) > MAX_NAME:
                raise Refused("That does not look like an email address.", "invalid")
            name = _text(request.challenged_name, "the professional's name", limit=MAX_NAME)
            return Contact(name=name, email=email)
        raise Refused("Choose the professional you are challenging, or give their name and email.", "invalid")

    def _entry_fields(
        self, stage: Stage, given: Mapping[str, str], *, enforce: bool = True
    ) -> dict[str, str]:
        known = {f.id for f in stage.entry_fields}
        unknown = sorted(set(given) - known)
        if unknown:
            raise Refused(f"Stage {stage.number} does not record {', '.join(unknown)}.", "invalid")
        out: dict[str, str] = {}
        for f in stage.entry_fields:
            value = _text(given.get(f.id), f.label.lower(), required=f.required and enforce)
            if value:
                out[f.id] = value
        return out

    # ----- acting on a challenge --------------------------------------------------------------------------

    def apply(self, challenge: Challenge, action: Action, actor_id: str, now: datetime) -> Decision:
        """Apply one action by `actor_id` (a person id, or SYSTEM for the clock) at instant `now`."""
        _aware(now)
        if challenge.policy_id != self.policy.id:
            raise Refused(f"{challenge.reference} follows another partnership's procedure.", "invalid")
        kind = ACTION_KINDS[type(action)]
        self._check_permitted(challenge, kind, actor_id)
        decision = self._dispatch(challenge, action, actor_id, now)
        bumped = replace(decision.challenge, version=challenge.version + 1)
        return Decision(self._with_next_due(bumped), decision.events, decision.notifications)

    def _dispatch(self, c: Challenge, action: Action, actor_id: str, now: datetime) -> Decision:
        if isinstance(action, Respond):
            return self._respond(c, action, actor_id, now)
        if isinstance(action, ProposeOutcome):
            return self._propose(c, action, actor_id, now)
        if isinstance(action, ConfirmOutcome):
            return self._confirm(c, actor_id, now)
        if isinstance(action, Escalate):
            return self._escalate(c, action.reason, action.fields, actor_id, now)
        if isinstance(action, AgreeTimescale):
            return self._agree_timescale(c, action, actor_id, now)
        if isinstance(action, RecordMeeting):
            return self._record_meeting(c, action, actor_id, now)
        if isinstance(action, Withdraw):
            return self._end(c, Status.WITHDRAWN, action.reason, "the reason for withdrawing", actor_id, now)
        if isinstance(action, HandOver):
            return self._hand_over(c, action, actor_id, now)
        if isinstance(action, Close):
            return self._end(c, Status.CLOSED, action.outcome, "the outcome", actor_id, now)
        if isinstance(action, Remind):
            return self._remind(c, now)
        return self._deadline_passed(c, now)

    def _respond(self, c: Challenge, action: Respond, actor_id: str, now: datetime) -> Decision:
        stage = self.policy.stage(c.stage)
        text = _text(action.text, "your response")
        c = replace(
            c, entries=(*c.entries, Entry(now, c.stage, actor_id, "response", text)), awaiting=Side.RAISER
        )
        event = self._event(
            c,
            now,
            actor_id,
            "responded",
            f"{stage.response_label} recorded at stage {c.stage}",
            {"text": text},
        )
        out = self._outbox(c, actor_id)
        out.add_roles(NotificationKind.RESPONSE, stage.raiser_side, c.parties, action=True)
        return Decision(c, (event,), out.done())

    def _propose(self, c: Challenge, action: ProposeOutcome, actor_id: str, now: datetime) -> Decision:
        side = self.side_of(c, actor_id)
        assert side is not None  # checked by _check_permitted
        text = _text(action.text, "the agreed outcome")
        c = replace(
            c,
            proposal=Proposal(text, actor_id, side, now),
            entries=(*c.entries, Entry(now, c.stage, actor_id, "proposed_outcome", text)),
            awaiting=side.other,
        )
        event = self._event(
            c,
            now,
            actor_id,
            "outcome_proposed",
            f"Agreed outcome proposed at stage {c.stage}",
            {"text": text},
        )
        out = self._outbox(c, actor_id)
        out.add_roles(
            NotificationKind.OUTCOME_PROPOSED, self.stage_parties(c, side.other), c.parties, action=True
        )
        return Decision(c, (event,), out.done())

    def _confirm(self, c: Challenge, actor_id: str, now: datetime) -> Decision:
        proposal = c.proposal
        assert proposal is not None  # checked by _check_permitted
        c = replace(
            c,
            status=Status.RESOLVED,
            agreed_outcome=proposal.text,
            proposal=None,
            awaiting=None,
            closed_at=now,
            stages=(*c.stages[:-1], replace(c.current, ended_at=now, outcome="resolved")),
            entries=(*c.entries, Entry(now, c.stage, actor_id, "confirmed_outcome", proposal.text)),
        )
        event = self._event(
            c,
            now,
            actor_id,
            "outcome_agreed",
            f"Outcome agreed by both sides; resolved at stage {c.stage}",
            {"agreed_outcome": proposal.text, "proposed_by": proposal.proposed_by},
        )
        out = self._outbox(c, actor_id)
        self._tell_everyone(out, c, NotificationKind.RESOLVED)
        return Decision(c, (event,), out.done())

    def _escalate(
        self, c: Challenge, reason_text: str, fields: Mapping[str, str], actor_id: str, now: datetime
    ) -> Decision:
        reason = _text(reason_text, "the reason for escalating")
        target = self.policy.stage(c.stage + 1)
        recorded = self._entry_fields(target, fields)
        before = c
        record = self._start_stage(target.number, now)
        c = replace(
            c,
            stage=target.number,
            stages=(
                *c.stages[:-1],
                replace(c.current, ended_at=now, outcome="escalated", reason=reason),
                record,
            ),
            proposal=None,
            awaiting=Side.CHALLENGED,
            fields={**c.fields, **recorded},
            entries=(*c.entries, Entry(now, before.stage, actor_id, "escalation_reason", reason)),
        )
        event = self._event(
            c,
            now,
            actor_id,
            "escalated",
            f"Escalated from stage {before.stage} to stage {target.number} ({target.name})",
            {"reason": reason, **recorded},
        )
        out = self._outbox(c, actor_id)
        self._announce_stage(out, c, NotificationKind.ESCALATED)
        out.add_roles(NotificationKind.ESCALATED, self.stage_parties(before), c.parties, action=False)
        return Decision(c, (event,), out.done())

    def _agree_timescale(
        self, c: Challenge, action: AgreeTimescale, actor_id: str, now: datetime
    ) -> Decision:
        stage = self.policy.stage(c.stage)
        cap = stage.limit_working_days
        assert cap is not None  # an agreed timescale always has a cap (policy validation)
        days = action.working_days
        if not 1 <= days <= cap:
            raise Refused(
                f"Stage {stage.number} may not exceed {cap} working days; agree between 1 and {cap}.",
                "invalid",
            )
        due = self.calendar.due_at(c.current.started_at, days)
        if due <= now:
            raise Refused("That timescale has already run out; agree a longer one.", "invalid")
        note = _text(action.note, "the note", required=False)
        previous = c.current.timescale_working_days
        c = replace(
            c,
            stages=(
                *c.stages[:-1],
                replace(c.current, due_at=due, timescale_working_days=days, reminded=False, breached=False),
            ),
        )
        change = "extended" if previous is not None and days > previous else "agreed"
        event = self._event(
            c,
            now,
            actor_id,
            "timescale_agreed",
            f"Stage {stage.number} timescale {change}: {days} working days",
            {"note": note} if note else {},
        )
        out = self._outbox(c, actor_id)
        out.add_roles(NotificationKind.TIMESCALE_AGREED, self.stage_parties(c), c.parties, action=False)
        return Decision(c, (event,), out.done())

    def _record_meeting(self, c: Challenge, action: RecordMeeting, actor_id: str, now: datetime) -> Decision:
        stage = self.policy.stage(c.stage)
        assert stage.meeting is not None  # checked by _check_permitted
        today = self.calendar.local_date(now)
        if action.held_on > today:
            raise Refused(
                "A meeting is recorded after it has been held; the date is in the future.", "invalid"
            )
        if action.held_on < self.calendar.local_date(c.raised_at):
            raise Refused("That date is before the challenge was raised.", "invalid")
        meeting = MeetingRecord(
            stage=c.stage,
            held_on=action.held_on,
            attendees=_text(action.attendees, "who attended"),
            key_points=_text(action.key_points, "the key points of discussion"),
            actions_agreed=_text(action.actions_agreed, "the actions agreed", required=False),
            timescales=_text(action.timescales, "the timescales", required=False),
            recorded_by=actor_id,
            recorded_at=now,
        )
        c = replace(c, meetings=(*c.meetings, meeting))
        event = self._event(
            c,
            now,
            actor_id,
            "meeting_recorded",
            f"{stage.meeting.name} held on {action.held_on.isoformat()} recorded",
            {
                "attendees": meeting.attendees,
                "key_points": meeting.key_points,
                "actions_agreed": meeting.actions_agreed,
                "timescales": meeting.timescales,
            },
        )
        out = self._outbox(c, actor_id)
        out.add_roles(NotificationKind.MEETING_RECORDED, self.stage_parties(c), c.parties, action=False)
        if stage.meeting.chair:
            out.add(
                NotificationKind.MEETING_RECORDED,
                stage.meeting.chair,
                c.parties.get(stage.meeting.chair),
                action_needed=False,
            )
        return Decision(c, (event,), out.done())

    def _end(
        self, c: Challenge, status: Status, text: str, what: str, actor_id: str, now: datetime
    ) -> Decision:
        written = _text(text, what)
        ending = "withdrawn" if status is Status.WITHDRAWN else "closed"
        c = replace(
            c,
            status=status,
            awaiting=None,
            proposal=None,
            closed_at=now,
            agreed_outcome=written if status is Status.CLOSED else c.agreed_outcome,
            stages=(*c.stages[:-1], replace(c.current, ended_at=now, outcome=ending, reason=written)),
            entries=(*c.entries, Entry(now, c.stage, actor_id, ending, written)),
        )
        event = self._event(
            c, now, actor_id, ending, f"Challenge {ending} at stage {c.stage}", {"text": written}
        )
        out = self._outbox(c, actor_id)
        kind = NotificationKind.WITHDRAWN if status is Status.WITHDRAWN else NotificationKind.CLOSED
        self._tell_everyone(out, c, kind)
        if status is Status.CLOSED:
            out.add_roles(kind, self.policy.final_stage_notify, c.parties, action=False)
        return Decision(c, (event,), out.done())

    def _hand_over(self, c: Challenge, action: HandOver, actor_id: str, now: datetime) -> Decision:
        holder = c.parties.get(action.role)
        roles = c.roles_of(actor_id)
        if action.role in PARTNERSHIP_ROLES:
            if action.role not in roles:
                raise Refused("A partnership role is handed over by the person who holds it.")
        elif action.role not in roles:
            holder_person = self.directory.person(holder.person_id if holder else None)
            if holder_person is None or holder_person.line_manager_id != actor_id:
                raise Refused(
                    "You can hand over your own part in a challenge, or that of someone you manage."
                )
        new = self.directory.person(action.to_person_id)
        if new is None:
            raise Refused("Choose a colleague from the directory to hand over to.", "invalid")
        if holder is not None and holder.person_id == new.id:
            raise Refused(f"{new.name} already has that part in the challenge.", "invalid")
        side_agency = c.raiser_agency_id if action.role.value.startswith("raiser") else c.challenged_agency_id
        if action.role not in PARTNERSHIP_ROLES and new.agency_id != side_agency:
            raise Refused("Hand over to a colleague in the same agency.", "invalid")
        note = _text(action.note, "the note", required=False)
        c = replace(c, parties={**c.parties, action.role: new.contact()})
        event = self._event(
            c,
            now,
            actor_id,
            "handed_over",
            f"{action.role.value.replace('_', ' ').capitalize()} handed over",
            {"from": holder.name if holder else "", "to": new.name, **({"note": note} if note else {})},
        )
        out = self._outbox(c, actor_id)
        acting = action.role in self.stage_parties(c)
        out.add(NotificationKind.HANDED_OVER, action.role, new.contact(), action_needed=acting)
        out.add(NotificationKind.HANDED_OVER, action.role, holder, action_needed=False)
        return Decision(c, (event,), out.done())

    def _remind(self, c: Challenge, now: datetime) -> Decision:
        c = replace(c, stages=(*c.stages[:-1], replace(c.current, reminded=True)))
        event = self._event(c, now, SYSTEM, "reminder_sent", f"Reminder: stage {c.stage} is due soon")
        out = self._outbox(c, SYSTEM)
        out.add_roles(NotificationKind.REMINDER, self.stage_parties(c, c.awaiting), c.parties, action=True)
        return Decision(c, (event,), out.done())

    def _deadline_passed(self, c: Challenge, now: datetime) -> Decision:
        due = c.current.due_at
        if due is None or now < due:
            raise Refused(f"Stage {c.stage} of {c.reference} is not past its deadline.", "invalid")
        stage = self.policy.stage(c.stage)
        c = replace(c, stages=(*c.stages[:-1], replace(c.current, breached=True, reminded=True)))
        event = self._event(c, now, SYSTEM, "deadline_passed", f"Stage {c.stage} deadline passed")
        if stage.final:
            out = self._outbox(c, SYSTEM)
            out.add(
                NotificationKind.DEADLINE_PASSED, Role.RAISER, c.parties.get(Role.RAISER), action_needed=False
            )
            out.add_roles(NotificationKind.DEADLINE_PASSED, stage.closed_by, c.parties, action=True)
            out.add_roles(
                NotificationKind.DEADLINE_PASSED, self.policy.final_stage_notify, c.parties, action=False
            )
            return Decision(c, (event,), out.done())
        if self.policy.on_deadline_passed == "escalate":
            escalated = self._escalate(
                c, "Deadline passed", _default_fields(self.policy.stage(c.stage + 1)), SYSTEM, now
            )
            return Decision(escalated.challenge, (event, *escalated.events), escalated.notifications)
        out = self._outbox(c, SYSTEM)
        out.add(
            NotificationKind.ESCALATION_DECISION_NEEDED,
            Role.RAISER,
            c.parties.get(Role.RAISER),
            action_needed=True,
        )
        out.add_roles(NotificationKind.ESCALATION_DECISION_NEEDED, stage.raiser_side, c.parties, action=True)
        nxt = self.policy.stage(c.stage + 1)
        for contact in self.next_escalation_contacts(c):
            out.add(NotificationKind.DEADLINE_PASSED, nxt.challenged_side[0], contact, action_needed=False)
        out.add_roles(
            NotificationKind.DEADLINE_PASSED, self.stage_parties(c, Side.CHALLENGED), c.parties, action=False
        )
        return Decision(c, (event,), out.done())

    # ----- what the clock must do -------------------------------------------------------------------------

    def due_action(self, challenge: Challenge, now: datetime) -> Remind | DeadlinePassed | None:
        """The clock's action that is due on `challenge` at `now`, if any."""
        if not challenge.is_open or challenge.next_due_at is None or now < challenge.next_due_at:
            return None
        record = challenge.current
        if record.due_at is not None and now >= record.due_at and not record.breached:
            return DeadlinePassed()
        if not record.reminded:
            return Remind()
        return None

    def reminder_at(self, record: StageRecord) -> datetime | None:
        """When a stage's reminder goes out: its due time, the policy's reminder days earlier."""
        days = self.policy.reminder_working_days_before
        if record.due_at is None or days == 0:
            return None
        day = self.calendar.local_date(record.due_at)
        remaining = days
        while remaining:
            day -= timedelta(days=1)
            if self.calendar.is_working_day(day):
                remaining -= 1
        local_due = record.due_at.astimezone(self.zone)
        instant = datetime.combine(day, local_due.timetz().replace(tzinfo=None), tzinfo=self.zone)
        at = instant.astimezone(record.due_at.tzinfo)
        return at if at > record.started_at else None

    def _with_next_due(self, c: Challenge) -> Challenge:
        record = c.current
        nxt: datetime | None = None
        if c.is_open and record.due_at is not None and not record.breached:
            reminder = self.reminder_at(record)
            nxt = reminder if reminder is not None and not record.reminded else record.due_at
        return replace(c, next_due_at=nxt)

    # ----- helpers ----------------------------------------------------------------------------------------

    def _start_stage(self, number: int, now: datetime) -> StageRecord:
        limit = self.policy.stage(number).limit_working_days
        due = self.calendar.due_at(now, limit) if limit is not None else None
        return StageRecord(number=number, started_at=now, due_at=due, timescale_working_days=limit)

    def _outbox(self, c: Challenge, actor_id: str) -> _Outbox:
        exclude = frozenset({f"person:{actor_id}"}) if actor_id != SYSTEM else frozenset()
        return _Outbox(c, c.stage, c.due_at, exclude)

    def _announce_stage(self, out: _Outbox, c: Challenge, kind: NotificationKind) -> None:
        """Tell everyone a stage's start concerns: those who act, those consulted, informed and copied in."""
        stage = self.policy.stage(c.stage)
        out.add_roles(kind, stage.challenged_side, c.parties, action=True)
        out.add_roles(kind, stage.raiser_side, c.parties, action=True)
        if c.stage > 1:
            for contact in self.directory.stage_contacts(c.challenged_agency_id, c.stage):
                out.add(kind, stage.challenged_side[0], contact, action_needed=True)
        out.add_roles(NotificationKind.CONSULTED, stage.consult, c.parties, action=False)
        out.add_roles(NotificationKind.INFORMED, stage.informed, c.parties, action=False)
        out.add_roles(NotificationKind.COPIED_IN, self.policy.copied_in_at(c.stage), c.parties, action=False)
        if stage.final:
            out.add_roles(
                NotificationKind.FINAL_STAGE_REACHED, self.policy.final_stage_notify, c.parties, action=False
            )

    def _tell_everyone(self, out: _Outbox, c: Challenge, kind: NotificationKind) -> None:
        stage = self.policy.stage(c.stage)
        out.add_roles(kind, stage.raiser_side + stage.challenged_side, c.parties, action=False)
        out.add(kind, Role.RAISER, c.parties.get(Role.RAISER), action_needed=False)
        out.add_roles(kind, stage.consult + stage.informed, c.parties, action=False)
        out.add_roles(kind, self.policy.copied_in_at(c.stage), c.parties, action=False)

    def _event(
        self,
        c: Challenge,
        at: datetime,
        actor_id: str,
        kind: str,
        summary: str,
        detail: Mapping[str, str] | None = None,
    ) -> AuditEvent:
        return AuditEvent(c.id, at, actor_id, c.stage, kind, summary, dict(detail or {}))


def _default_fields(stage: Stage) -> dict[str, str]:
    """What the clock writes into a stage's entry fields when it escalates on its own."""
    return {
        f.id: "Escalated automatically: the previous stage's deadline passed." for f in stage.entry_fields
    }


def _contact(person: Person | None) -> Contact | None:
    return person.contact() if person else None


def _first(preferred: Contact | None, fallbacks: tuple[Contact, ...]) -> Contact | None:
    if preferred is not None:
        return preferred
    return fallbacks[0] if fallbacks else None


def _side_names(roles: Iterable[Role]) -> str:
    from process.policy import ROLE_TITLES

    names = [ROLE_TITLES[r].lower() for r in roles]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


def _aware(now: datetime) -> None:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("the engine needs an aware datetime (UTC) for now")
