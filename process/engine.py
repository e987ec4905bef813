"""The process engine: applies a partnership's policy to a challenge, one action at a time.

Pure and synchronous: the clock is passed in, the directory is a snapshot, and every answer is data (a
`Decision`, or `Refused` with a reason a person can act on). Each action is declared once in
`process.actions`; this module holds what they share: who is who, when stages fall due, and who is told.
Storage, Teams and email live elsewhere.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from process.actions import PERSON_ACTIONS, SPECS, Turn, written
from process.calendar import WorkingCalendar
from process.challenge import (
    ACTION_KINDS,
    MAX_NAME,
    SYSTEM,
    Action,
    ActionKind,
    AuditEvent,
    Challenge,
    ChildDetails,
    DeadlinePassed,
    Decision,
    Entry,
    NotificationKind,
    RaiseRequest,
    Refused,
    Remind,
    Side,
    StageRecord,
    Status,
)
from process.directory import Contact, Directory, Person
from process.notify import Outbox
from process.parties import (
    Actor,
    actors,
    holders,
    may_take,
    pointed_to,
    resolve_parties,
    side_in,
    side_roles,
    vacancies,
)
from process.policy import Policy, RoleId, Stage, Step

__all__ = ["ESCALATION_CONTACT", "PERSON_ACTIONS", "Engine", "calendar_for"]

#: How a notification names the challenged agency's escalation contact (the contact table), who is told as
#: the agency's single point of contact without holding a part in the challenge.
ESCALATION_CONTACT = "agency_escalation_contact"


def calendar_for(policy: Policy) -> WorkingCalendar:
    """The working-day calendar of a policy's nation, closure days (dates and yearly) and due time."""
    from process.calendar import parse_closure

    hour, minute = (int(part) for part in policy.due_time.split(":"))
    return WorkingCalendar(
        nation=policy.nation,
        closures=tuple(parse_closure(entry) for entry in policy.closures),
        due_time=time(hour, minute),
    )


class Engine:
    """Runs one partnership's policy against its directory and calendar."""

    def __init__(self, policy: Policy, directory: Directory, calendar: WorkingCalendar | None = None) -> None:
        self.policy = policy
        self.directory = directory
        self.calendar = calendar or calendar_for(policy)
        self.zone = ZoneInfo(self.calendar.timezone)

    # ----- who is who -------------------------------------------------------------------------------------

    def acting(self, challenge: Challenge, side: Side, stage_number: int | None = None) -> tuple[Actor, ...]:
        """The people who can act for `side` at a stage (the current one by default); never a mailbox."""
        return actors(self.policy, challenge, side, stage_number)

    def side_of(self, challenge: Challenge, person_id: str, stage: Stage | None = None) -> Side | None:
        """Which side `person_id` acts for at a stage (None: they act for neither)."""
        number = stage.number if stage is not None else None
        for side in (Side.CHALLENGED, Side.RAISER):
            if any(a.contact.person_id == person_id for a in self.acting(challenge, side, number)):
                return side
        return None

    def stage_parties(self, challenge: Challenge, side: Side | None = None) -> dict[RoleId, Contact]:
        """Everyone holding a part at the current stage, on one side or both (mailboxes included: they are told)."""
        stage = self.policy.stage(challenge.stage)
        roles: tuple[RoleId, ...] = ()
        for s in (Side.RAISER, Side.CHALLENGED):
            if side in (None, s):
                roles += side_roles(stage, s)
        return {r: challenge.parties[r] for r in roles if r in challenge.parties}

    def escalation_contacts(self, challenge: Challenge, stage_number: int) -> tuple[Contact, ...]:
        """Who the challenge goes to at `stage_number`: the challenged side, then the agency's contacts."""
        return tuple(
            contact for _, contact in self._stage_recipients(challenge, stage_number, Side.CHALLENGED)
        )

    def next_escalation_contacts(self, challenge: Challenge) -> tuple[Contact, ...]:
        """Who an escalation of this challenge's current stage goes to next."""
        return tuple(contact for _, contact in self.next_escalation(challenge))

    def next_escalation(self, challenge: Challenge) -> tuple[tuple[RoleId, Contact], ...]:
        """Who the challenge would come to at the next stage and does not act at this one: both sides' new
        parts, and the challenged agency's escalation contacts for that stage."""
        nxt = self.policy.next_stage(challenge.stage)
        if nxt is None:
            return ()
        now_acting = {a.contact.key for s in Side for a in self.acting(challenge, s)}
        found: dict[str, tuple[RoleId, Contact]] = {}
        for side in (Side.CHALLENGED, Side.RAISER):
            for role, contact in self._stage_recipients(challenge, nxt.number, side):
                if contact.key not in now_acting:
                    found.setdefault(contact.key, (role, contact))
        return tuple(found.values())

    def _stage_recipients(
        self, challenge: Challenge, number: int, side: Side
    ) -> list[tuple[RoleId, Contact]]:
        stage = self.policy.stage(number)
        out = holders(challenge, side_roles(stage, side))
        if side is Side.CHALLENGED:
            seen = {c.key for _, c in out}
            for contact in self._agency_contacts(challenge, number):
                if contact.key not in seen:
                    seen.add(contact.key)
                    out.append((ESCALATION_CONTACT, contact))
        return out

    def _agency_contacts(self, challenge: Challenge, stage_number: int) -> tuple[Contact, ...]:
        """The challenged agency's escalation contacts for a stage, by the professional's team where it routes
        by team (Rochdale: "directed to the relevant team in Children's Social Care"). None at stage 1 (the
        professional is approached directly) nor at a stage where only the partnership acts for that side."""
        stage = self.policy.stage(stage_number)
        if stage_number == 1 or all(self.policy.role(r).side == "partnership" for r in stage.challenged_side):
            return ()
        professional = challenge.parties.get(self.policy.challenged_role)
        team = self.directory.team_of(professional.person_id if professional else None)
        return self.directory.stage_contacts(challenge.challenged_agency_id, stage_number, team=team)

    def handable_roles(self, challenge: Challenge, person_id: str | None) -> list[tuple[RoleId, str]]:
        """The parts `person_id` may hand over, with why: `own` first, then `managed` (held by someone they
        line-manage) and `vacant` (a part of this stage no person holds, on the side they act for)."""
        if person_id is None or not challenge.is_open:
            return []
        own: list[tuple[RoleId, str]] = []
        others: list[tuple[RoleId, str]] = []
        for spec in self.policy.roles:
            contact = challenge.parties.get(spec.id)
            if contact is not None and contact.person_id == person_id:
                own.append((spec.id, "own"))
            elif spec.side == "partnership":
                continue
            elif contact is not None and contact.person_id is not None:
                person = self.directory.person(contact.person_id)
                if person is not None and person.line_manager_id == person_id:
                    others.append((spec.id, "managed"))
        side = self.side_of(challenge, person_id)
        if side is not None:
            for role in vacancies(self.policy, challenge):
                if (
                    role in side_roles(self.policy.stage(challenge.stage), side)
                    and self.policy.role(role).side != "partnership"
                ):
                    others.append((role, "vacant"))
        return own + others

    def takeable_roles(self, challenge: Challenge, person_id: str | None) -> tuple[RoleId, ...]:
        """Parts of the current stage that no person holds and that `person_id` may take."""
        if person_id is None or not challenge.is_open:
            return ()
        return tuple(
            role
            for role in vacancies(self.policy, challenge)
            if may_take(self.policy, self.directory, challenge, role, person_id)
        )

    def may_see(self, challenge: Challenge, person_id: str | None, *, has_acted: bool = False) -> bool:
        """Whether `person_id` may know of the challenge at all: someone the procedure asks, tells or lets take
        a part in it. Anyone else is told it does not exist, in the same words as for a reference that
        does not.

        They are the people holding a part; the partnership's post holders (its business manager, admin,
        executive...); the challenged agency's escalation contacts up to the next stage (told as it comes to
        them); the managers and leads a part's ways of finding point to (who may take a vacant part); the
        line managers of those holding a part (who may hand it over); and whoever `has_acted` on it (the
        caller knows from its records), who knows of it already, even after handing their part over.
        """
        if not person_id or person_id == SYSTEM or challenge.policy_id != self.policy.id:
            return False
        if has_acted or challenge.roles_of(person_id):
            return True
        if any(
            contact.person_id == person_id
            for (partnership, _post), contacts in self.directory.partnership_roles.items()
            if partnership == self.policy.id
            for contact in contacts
        ):
            return True
        person = self.directory.person(person_id)
        if person is None:
            return False
        last = min(challenge.stage + 1, self.policy.stages[-1].number)
        if any(
            contact.person_id == person_id
            for number in range(1, last + 1)
            for contact in self._agency_contacts(challenge, number)
        ):
            return True
        if any(
            pointed_to(self.policy, self.directory, challenge, spec.id, person)
            for spec in self.policy.roles
            if spec.side != "partnership"
        ):
            return True
        partnership_roles = self.policy.partnership_roles
        return any(
            (held := self.directory.person(contact.person_id)) is not None
            and held.line_manager_id == person_id
            for role, contact in challenge.parties.items()
            if role not in partnership_roles
        )

    def decides_outcome_alone(self, challenge: Challenge, person_id: str | None) -> bool:
        """Whether `person_id` records the outcome alone now (the raising side, at a stage where it decides)."""
        stage = self.policy.stage(challenge.stage)
        return (
            person_id is not None
            and stage.outcome_decided_by == "raiser_side"
            and self.side_of(challenge, person_id) is Side.RAISER
        )

    def vacancies(self, challenge: Challenge) -> tuple[RoleId, ...]:
        """Parts that act at the current stage but that no person holds."""
        return vacancies(self.policy, challenge)

    # ----- what may be done -------------------------------------------------------------------------------

    def allowed_actions(self, challenge: Challenge, person_id: str, now: datetime) -> tuple[ActionKind, ...]:
        """The actions `person_id` may take on the challenge now, in card order."""
        allowed = []
        for kind in PERSON_ACTIONS:
            try:
                self._check_permitted(Turn(self, challenge, person_id, now), kind)
            except Refused:
                continue
            allowed.append(kind)
        return tuple(allowed)

    def _check_permitted(self, turn: Turn, kind: ActionKind) -> None:
        c = turn.challenge
        if c.status is not Status.OPEN:
            raise Refused(f"{c.reference} is {c.status.value}; nothing more can be done on it.", "closed")
        spec = SPECS[kind]
        if turn.actor_id == SYSTEM and not spec.by_clock:
            raise Refused(f"The deadline clock cannot {kind.value.replace('_', ' ')}.")
        spec.permitted(turn)

    # ----- raising ----------------------------------------------------------------------------------------

    def may_raise(self, person_id: str) -> Person:
        """The raiser, if `person_id` may raise a challenge under this procedure; Refused (told at the first
        step of the form, not after it) otherwise."""
        policy = self.policy
        raiser = self.directory.person(person_id)
        if raiser is None:
            raise Refused(
                "You are not in the partnership's directory yet, so you cannot raise a challenge. Ask the "
                f"{policy.short_name} business unit to add you."
            )
        if policy.raised_by and not raiser.job_roles & set(policy.raised_by):
            who = " or ".join(r.upper() if len(r) <= 3 else r.replace("_", " ") for r in policy.raised_by)
            raise Refused(f"Under the {policy.short_name} procedure a challenge is raised by the {who}.")
        return raiser

    def raise_challenge(
        self,
        request: RaiseRequest,
        actor_id: str,
        now: datetime,
        *,
        challenge_id: str,
        reference: str,
        earlier: Challenge | None = None,
    ) -> Decision:
        """Open a challenge from the raiser's form, at stage 1 or a later stage the policy allows.

        `earlier` is the challenge named by `request.recurring_of`, looked up by the caller (None if it found
        none the raiser may link to).
        """
        policy = self.policy
        _aware(now)
        raiser = self.may_raise(actor_id)
        child = self.check_child(
            request.child.name, request.child.date_of_birth, request.child.agency_reference, now
        )
        agency_id = self.check_agency(request.challenged_agency_id, raiser.agency_id)
        challenged = self.check_challenged(request, agency_id)
        category = self.check_category(request.issue_category)
        priority = self.check_priority(request.priority)
        concern, desired = self.check_concern(request)
        start = request.start_stage
        linked = self.check_start(start, request.urgent, request.recurring_of, earlier, agency_id, category)
        start_reason = self.check_start_reason(
            start, request.urgent, request.recurring_of, request.start_reason
        )
        evidence = self.check_evidence(start, request.informal_evidence)
        stage = policy.stage(start)
        # The entry fields describe the stage before ("ONLY complete if Stage 3 has not achieved resolution"),
        # so a later start records them when given but cannot require them.
        fields = self.entry_fields(stage, request.fields, enforce=False)
        parties = resolve_parties(
            policy, self.directory, raiser, challenged, agency_id, self.check_named(request.named)
        )
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
            challenged_agency_id=agency_id,
            child=child,
            issue_category=category,
            concern=concern,
            desired_outcome=desired,
            informal_evidence=evidence,
            urgent=request.urgent,
            parties=parties,
            stages=(),
            awaiting=Side.CHALLENGED,
            fields=fields,
            linked_to=linked,
            priority=priority,
        )
        challenge = self._with_next_due(replace(challenge, stages=(self.start_stage(challenge, start, now),)))
        how = " as urgent" if request.urgent else (f" as reoccurring after {linked}" if linked else "")
        if start_reason:
            challenge = replace(
                challenge, entries=(Entry(now, start, actor_id, "start_reason", start_reason),)
            )
            how = f" ({policy.stage_start_label(start)})"
        summary = f"Challenge raised at stage {start} ({stage.name}){how}"
        event = self.event(
            challenge, now, actor_id, "raised", summary, {"concern": concern, "desired_outcome": desired}
        )
        out = self.outbox(challenge, actor_id)
        self.announce_stage(out, challenge, NotificationKind.RAISED)
        # The professional challenged is told even when the challenge starts above them (an urgent start).
        challenged_role = policy.challenged_role
        out.add(NotificationKind.RAISED, challenged_role, parties.get(challenged_role), action_needed=False)
        return Decision(challenge, (event, *self._vacancy_events(challenge, now, actor_id)), out.done())

    def check_form(
        self,
        request: RaiseRequest,
        raiser_agency_id: str | None,
        now: datetime,
        parts: Iterable[str] = ("child", "challenged", "issue", "start"),
    ) -> dict[str, str]:
        """Every problem with the parts of a raising form asked about, by field (`child.name`,
        `challenged_email`...): the same checks raising makes, each run on its own so that a form can show
        them all at once."""
        checks: dict[str, list[tuple[str, Callable[[], object]]]] = {
            "child": [
                ("child.name", lambda: self.check_child_name(request.child.name)),
                ("child.date_of_birth", lambda: self.check_date_of_birth(request.child.date_of_birth, now)),
                (
                    "child.agency_reference",
                    lambda: self.check_agency_reference(request.child.agency_reference),
                ),
            ],
            "challenged": [
                (
                    "challenged_agency_id",
                    lambda: self.check_agency(request.challenged_agency_id, raiser_agency_id),
                ),
                (
                    "challenged_person_id",
                    lambda: self.check_challenged(request, request.challenged_agency_id),
                ),
            ],
            "issue": [
                ("named", lambda: self.check_named(request.named)),
                ("issue_category", lambda: self.check_category(request.issue_category)),
                ("priority", lambda: self.check_priority(request.priority)),
                ("concern", lambda: self.check_concern(request)),
            ],
            "start": [
                (
                    "start_reason",
                    lambda: self.check_start_reason(
                        request.start_stage, request.urgent, request.recurring_of, request.start_reason
                    ),
                ),
                (
                    "start_stage",
                    lambda: (
                        self.check_start(
                            request.start_stage, request.urgent, request.recurring_of, None, "", ""
                        )
                        if not request.recurring_of
                        else None
                    ),
                ),
                (
                    "informal_evidence",
                    lambda: self.check_evidence(request.start_stage, request.informal_evidence),
                ),
            ],
        }
        problems: dict[str, str] = {}
        for part in parts:
            for field, check in checks[part]:
                try:
                    check()
                except Refused as refused:
                    problems.setdefault(refused.field or field, refused.reason)
        return problems

    def check_child(
        self, name: str | None, date_of_birth: date | None, agency_reference: str | None, now: datetime
    ) -> ChildDetails:
        """The child's details as the form asks for them; Refused (`invalid`) naming what is wrong. A field
        the partnership's form does not ask for is not kept, even when given."""
        return ChildDetails(
            name=self.check_child_name(name),
            date_of_birth=self.check_date_of_birth(date_of_birth, now),
            agency_reference=self.check_agency_reference(agency_reference),
        )

    def check_child_name(self, name: str | None) -> str:
        label = self.policy.child_fields.name_label.lower()
        return written(name, f"the {label}", limit=MAX_NAME, field="child.name")

    def check_date_of_birth(self, born: date | None, now: datetime) -> date | None:
        asked = self.policy.child_fields.date_of_birth
        if asked == "absent":
            return None
        field = "child.date_of_birth"
        if born is None:
            if asked == "required":
                raise Refused("Please give the child's date of birth.", "invalid", field)
            return None
        today = self.calendar.local_date(now)
        if born > today:
            raise Refused("The date of birth is in the future.", "invalid", field)
        if born < date(today.year - 26, today.month, 1):
            raise Refused(
                "That date of birth is of an adult; this process is for children.", "invalid", field
            )
        return born

    def check_agency_reference(self, reference: str | None) -> str | None:
        asked = self.policy.child_fields.agency_reference
        if asked == "absent":
            return None
        label = self.policy.form.agency_reference_label.lower()
        field = "child.agency_reference"
        cleaned = written(reference, f"the {label}", limit=MAX_NAME, required=False, field=field)
        if not cleaned and asked == "required":
            raise Refused(f"Please give the {label}.", "invalid", field)
        return cleaned or None

    def check_agency(self, agency_id: str | None, raiser_agency_id: str | None) -> str:
        """The challenged agency: one of the partnership's, and not the raiser's own."""
        field = "challenged_agency_id"
        if not agency_id:
            raise Refused("Choose the agency you are challenging.", "invalid", field)
        agency = self.directory.agency(agency_id)
        if agency is None or agency.partnership_id != self.policy.id:
            raise Refused(
                f"Choose the agency from the {self.policy.short_name} list of agencies.", "invalid", field
            )
        if agency.id == raiser_agency_id:
            raise Refused(
                "A professional challenge is between agencies; a disagreement inside your own agency goes "
                "through its internal resolution process.",
                "invalid",
                field,
            )
        return agency.id

    def check_challenged(self, request: RaiseRequest, agency_id: str) -> Contact:
        """The professional challenged: a person of the directory at that agency, or a name and an email."""
        agency = self.directory.agency(agency_id)
        if request.challenged_person_id:
            field = "challenged_person_id"
            person = self.directory.person(request.challenged_person_id)
            if person is None:
                raise Refused(
                    "That professional is no longer in the directory; choose again.", "invalid", field
                )
            if agency is not None and person.agency_id != agency.id:
                raise Refused(f"{person.name} does not work for {agency.name}.", "invalid", field)
            return person.contact()
        email = (request.challenged_email or "").strip()
        name = (request.challenged_name or "").strip()
        if not email:
            if name:
                raise Refused("Give their work email, so they can be told.", "invalid", "challenged_email")
            raise Refused(
                "Choose the professional you are challenging, or give their name and email.",
                "invalid",
                "challenged_person_id",
            )
        known = self.directory.person_by_email(email)
        if known is not None:
            if agency is not None and known.agency_id != agency.id:
                raise Refused(
                    "That email address belongs to someone at another agency.", "invalid", "challenged_email"
                )
            return known.contact()
        if not looks_like_email(email):
            raise Refused(
                "That does not look like an email address (name@example.org).", "invalid", "challenged_email"
            )
        if not name:
            raise Refused(
                "Choose the professional above, or give their name here.", "invalid", "challenged_name"
            )
        return Contact(name=written(name, "their name", limit=MAX_NAME, field="challenged_name"), email=email)

    def check_concern(self, request: RaiseRequest) -> tuple[str, str]:
        """The concern and the outcome wanted, in the form's own words."""
        form = self.policy.form
        return (
            written(request.concern, form.concern_label, field="concern"),
            written(request.desired_outcome, form.desired_outcome_label, field="desired_outcome"),
        )

    def check_named(self, named: Mapping[str, str]) -> dict[RoleId, Contact]:
        """Whom the raiser named for the policy's `named` roles: a directory person (by id or email), or an
        email address with no one in the directory."""
        allowed = {r.id: r for r in self.policy.named_roles}
        out: dict[RoleId, Contact] = {}
        for role, given in named.items():
            value = (given or "").strip()
            if not value:
                continue
            if role not in allowed:
                raise Refused(f"The form does not ask who the {role.replace('_', ' ')} is.", "invalid", role)
            person = self.directory.person(value) or self.directory.person_by_email(value)
            if person is not None:
                out[role] = person.contact()
            elif looks_like_email(value):
                out[role] = Contact(name=value, email=value)
            else:
                raise Refused(
                    f"Give the {allowed[role].title.lower()}'s work email (name@example.org).",
                    "invalid",
                    role,
                )
        return out

    def check_start_reason(
        self, start: int, urgent: bool, recurring_of: str | None, reason: str | None
    ) -> str | None:
        """The raiser's reason, where the start is on a stated condition (the reason is then required)."""
        if start == 1 or (urgent and start in self.policy.urgent_start_stages) or recurring_of:
            return None
        later = next((s for s in self.policy.reasoned_starts if s.stage == start), None)
        if later is None:
            return None
        return written(reason, f"why it starts at stage {start} ({later.label})", field="start_reason")

    def check_evidence(self, start: int, evidence: str | None) -> str | None:
        """The evidence of informal challenge, required to start at a stage that asks for it."""
        field = "informal_evidence"
        text = written(evidence, "the evidence of informal attempts", required=False, field=field) or None
        if (
            start <= len(self.policy.stages)
            and self.policy.stage(start).requires_informal_evidence
            and not text
        ):
            raise Refused(
                f"Stage {start} needs the evidence of informal challenge at the stages before it, and its "
                "outcome.",
                "invalid",
                field,
            )
        return text

    def check_category(self, category_id: str | None) -> str:
        """The issue category: one of the form's, or none when the form has no categories."""
        if not self.policy.issue_categories:
            if category_id:
                raise Refused(f"The {self.policy.form.title} has no issue categories.", "invalid")
            return ""
        if self.policy.category(category_id or "") is None:
            raise Refused("Choose one of the issues on the form.", "invalid", "issue_category")
        return category_id or ""

    def check_priority(self, priority_id: str | None) -> str | None:
        """The priority chosen at raising: one of the policy's, when it has any; none otherwise."""
        if not self.policy.priorities:
            if priority_id:
                raise Refused(f"The {self.policy.short_name} procedure sets no priorities.", "invalid")
            return None
        if self.policy.priority(priority_id) is None:
            labels = ", ".join(p.label for p in self.policy.priorities)
            raise Refused(f"Choose the priority: {labels}.", "invalid", "priority")
        return priority_id

    def check_start(
        self,
        start: int,
        urgent: bool,
        recurring_of: str | None,
        earlier: Challenge | None,
        agency_id: str,
        category: str,
    ) -> str | None:
        """Whether a challenge may start at `start`; the reference it is linked to when reoccurring."""
        policy = self.policy
        if start == 1:
            if recurring_of:
                raise Refused(
                    "A reoccurring issue is raised at a later stage, not at stage 1.",
                    "invalid",
                    "start_stage",
                )
            return None
        if urgent and start in policy.urgent_start_stages:
            return None
        if not recurring_of and any(s.stage == start for s in policy.reasoned_starts):
            return None
        if recurring_of and start in policy.recurring_start_stages:
            if (
                earlier is None
                or earlier.reference.upper() != recurring_of.strip().upper()
                or earlier.policy_id != policy.id
                or earlier.status not in (Status.RESOLVED, Status.CLOSED)
                or earlier.challenged_agency_id != agency_id
                or (category and earlier.issue_category != category)
            ):
                raise Refused(
                    "A reoccurring issue is linked to a resolved challenge to the same agency about the same "
                    "issue; choose one from the list.",
                    "invalid",
                    "recurring_of",
                )
            return earlier.reference
        ways = [f"stage {s.stage} {policy.stage_start_label(s.stage, s)}" for s in policy.later_starts]
        raise Refused(
            f"The {policy.short_name} procedure lets a challenge start at " + "; ".join(ways) + "."
            if ways
            else f"The {policy.short_name} procedure starts every challenge at stage 1.",
            "invalid",
            "start_stage",
        )

    def entry_fields(self, stage: Stage, given: Mapping[str, str], *, enforce: bool = True) -> dict[str, str]:
        known = {f.id for f in stage.entry_fields}
        unknown = sorted(set(given) - known)
        if unknown:
            raise Refused(f"Stage {stage.number} does not record {', '.join(unknown)}.", "invalid")
        out: dict[str, str] = {}
        for f in stage.entry_fields:
            value = written(given.get(f.id), f.label.lower(), required=f.required and enforce)
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
        turn = Turn(self, challenge, actor_id, now)
        self._check_permitted(turn, kind)
        decision = SPECS[kind].apply(turn, action)
        bumped = replace(decision.challenge, version=challenge.version + 1)
        return Decision(self._with_next_due(bumped), decision.events, decision.notifications)

    def escalate(
        self, c: Challenge, reason_text: str, fields: Mapping[str, str], actor_id: str, now: datetime
    ) -> Decision:
        """Move the challenge to the next stage, with the reason; everyone the new stage concerns is told,
        the raiser always."""
        reason = written(reason_text, "the reason for escalating")
        target = self.policy.next_stage(c.stage)
        if target is None:
            raise Refused(f"Stage {c.stage} is the final stage.", "invalid")
        recorded = self.entry_fields(target, fields)
        before = c
        c = replace(
            c,
            stage=target.number,
            stages=(*c.stages[:-1], replace(c.current, ended_at=now, outcome="escalated", reason=reason)),
            proposal=None,
            timescale_proposal=None,
            awaiting=Side.CHALLENGED,
            fields={**c.fields, **recorded},
            entries=(*c.entries, Entry(now, before.stage, actor_id, "escalation_reason", reason)),
        )
        c = replace(c, stages=(*c.stages, self.start_stage(c, target.number, now)))
        event = self.event(
            c,
            now,
            actor_id,
            "escalated",
            f"Escalated from stage {before.stage} to stage {target.number} ({target.name})",
            {"reason": reason, **recorded},
        )
        out = self.outbox(c, actor_id)
        self.announce_stage(out, c, NotificationKind.ESCALATED)
        out.add_roles(NotificationKind.ESCALATED, self.stage_parties(before), c.parties, action=False)
        out.add(
            NotificationKind.ESCALATED,
            self.policy.raiser_role,
            c.parties.get(self.policy.raiser_role),
            action_needed=False,
        )
        return Decision(c, (event, *self._vacancy_events(c, now, actor_id)), out.done())

    # ----- deadlines --------------------------------------------------------------------------------------

    def total_due(self, challenge: Challenge) -> datetime | None:
        """When the procedure's total limit runs out (`total_limit_working_days` from raising), if it has one."""
        total = self.policy.total_limit_working_days
        return self.calendar.due_at(challenge.raised_at, total) if total is not None else None

    def stage_due(self, challenge: Challenge, working_days: int | None) -> datetime | None:
        """When the current stage falls due with a timescale of `working_days` from its start: never after the
        procedure's total limit, unless that had already passed when the stage started."""
        return self._due(challenge, challenge.current.started_at, working_days)

    def _due(
        self, challenge: Challenge, started_at: datetime, working_days: int | None, hours: int | None = None
    ) -> datetime | None:
        if hours is not None:
            own: datetime | None = self.calendar.due_after_hours(started_at, hours)
        else:
            own = self.calendar.due_at(started_at, working_days) if working_days is not None else None
        total = self.total_due(challenge)
        if total is None or total <= started_at:
            return own
        return total if own is None else min(own, total)

    def start_stage(self, challenge: Challenge, number: int, now: datetime) -> StageRecord:
        """The record of stage `number` starting at `now`, with its due instant (its first step's, if it has
        steps)."""
        stage = self.policy.stage(number)
        if stage.steps:
            return StageRecord(
                number=number,
                started_at=now,
                due_at=self.step_due(challenge, stage.steps[0], now),
                timescale_working_days=stage.steps[0].within_working_days,
            )
        days = stage.limit_working_days
        if stage.limit_by_priority is not None and challenge.priority is not None:
            days = stage.limit_by_priority[challenge.priority]
        return StageRecord(
            number=number,
            started_at=now,
            due_at=self._due(challenge, now, days, stage.limit_hours),
            timescale_working_days=days,
        )

    def current_step(self, challenge: Challenge) -> Step | None:
        """The step of the current stage that is under way, if the stage has steps and one is left."""
        steps = self.policy.stage(challenge.stage).steps
        done = challenge.current.steps_done
        return steps[done] if challenge.is_open and done < len(steps) else None

    def step_due(self, challenge: Challenge, step: Step, started_at: datetime) -> datetime | None:
        """When a step started at `started_at` falls due (never after the procedure's total)."""
        return self._due(challenge, started_at, step.within_working_days, step.within_hours)

    def owner_side(self, challenge: Challenge, role: RoleId) -> Side | None:
        """The side a role acts for at the current stage (its own side when the stage does not name it)."""
        stage = self.policy.stage(challenge.stage)
        if role in stage.raiser_side:
            return Side.RAISER
        if role in stage.challenged_side:
            return Side.CHALLENGED
        side = self.policy.role(role).side
        return Side.RAISER if side == "raiser" else Side.CHALLENGED if side == "challenged" else None

    def step_owners(self, challenge: Challenge, step: Step) -> tuple[Actor, ...]:
        """Who may complete a step: its owner if a person holds the part; else whoever acts for that side."""
        holder = challenge.parties.get(step.owner)
        if holder is not None and holder.person_id is not None:
            return (Actor(step.owner, holder),)
        side = self.owner_side(challenge, step.owner)
        return self.acting(challenge, side) if side is not None else ()

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

    # ----- who is told ------------------------------------------------------------------------------------

    def outbox(self, c: Challenge, actor_id: str) -> Outbox:
        exclude = frozenset({f"person:{actor_id}"}) if actor_id != SYSTEM else frozenset()
        return Outbox(c, c.stage, c.due_at, exclude)

    def tell_side(
        self, out: Outbox, c: Challenge, side: Side, kind: NotificationKind, *, action: bool
    ) -> None:
        """Tell the people who act for `side` now (asked to act if `action`), and the mailboxes of its parts."""
        for actor in self.acting(c, side):
            out.add(kind, actor.role, actor.contact, action_needed=action)
        out.add_roles(kind, side_roles(self.policy.stage(c.stage), side), c.parties, action=False)

    def announce_stage(self, out: Outbox, c: Challenge, kind: NotificationKind) -> None:
        """Tell everyone a stage's start concerns: those who act, the agency's escalation contacts, those
        consulted, informed and copied in."""
        stage = self.policy.stage(c.stage)
        self.tell_side(out, c, Side.CHALLENGED, kind, action=True)
        self.tell_side(out, c, Side.RAISER, kind, action=True)
        # The agency's escalation contacts are told; they act only if they hold a part (above).
        for contact in self._agency_contacts(c, c.stage):
            out.add(kind, ESCALATION_CONTACT, contact, action_needed=False)
        out.add_roles(NotificationKind.CONSULTED, stage.consult, c.parties, action=False)
        out.add_roles(NotificationKind.INFORMED, stage.informed, c.parties, action=False)
        out.add_roles(NotificationKind.COPIED_IN, self.policy.copied_in_at(c.stage), c.parties, action=False)
        if stage.final:
            out.add_roles(
                NotificationKind.FINAL_STAGE_REACHED, self.policy.final_stage_notify, c.parties, action=False
            )

    def tell_everyone(self, out: Outbox, c: Challenge, kind: NotificationKind) -> None:
        """Tell everyone of an ending (resolved, withdrawn, closed): both sides now, those consulted, informed
        and copied in at this stage, and whoever had a part at an earlier stage it reached."""
        stage = self.policy.stage(c.stage)
        self.tell_side(out, c, Side.RAISER, kind, action=False)
        self.tell_side(out, c, Side.CHALLENGED, kind, action=False)
        out.add(kind, self.policy.raiser_role, c.parties.get(self.policy.raiser_role), action_needed=False)
        out.add_roles(kind, stage.consult + stage.informed, c.parties, action=False)
        out.add_roles(kind, self.policy.copied_in_at(c.stage), c.parties, action=False)
        # The ending reaches everyone who has had a part in the challenge at any stage it reached (not those of
        # stages it never reached): the professional challenged at stage 1 hears it was resolved at stage 2.
        for record in c.stages:
            earlier = self.policy.stage(record.number)
            out.add_roles(
                kind,
                (
                    *earlier.raiser_side,
                    *earlier.challenged_side,
                    *earlier.consult,
                    *earlier.informed,
                    *self.policy.copied_in_at(record.number),
                ),
                c.parties,
                action=False,
            )

    def copy_updates(self, out: Outbox, c: Challenge, kind: NotificationKind) -> None:
        """Copy an update to those copied in on every update at this stage (Rochdale's partnership admin), and
        to the safeguarding leads it consults where the policy keeps them updated throughout."""
        out.add_roles(kind, self.policy.copied_in_at(c.stage, every_update=True), c.parties, action=False)
        if self.policy.consult_updates == "all":
            out.add_roles(kind, self.policy.stage(c.stage).consult, c.parties, action=False)

    def _vacancy_events(self, c: Challenge, now: datetime, actor_id: str) -> tuple[AuditEvent, ...]:
        """A line of the chronology for each part of the new stage that no person holds, and who acts."""
        out = []
        for role in self.vacancies(c):
            side = side_in(self.policy.stage(c.stage), role)
            acting = ", ".join(a.contact.name for a in self.acting(c, side)) or "nobody yet"
            holder = c.parties.get(role)
            found = f"only {holder.name} (a mailbox, told)" if holder else "nobody in the directory"
            out.append(
                self.event(
                    c,
                    now,
                    actor_id,
                    "part_vacant",
                    f"{self.policy.role_title(role)}: {found}; {acting} acts for the side until someone takes the part",
                )
            )
        return tuple(out)

    def event(
        self,
        c: Challenge,
        at: datetime,
        actor_id: str,
        kind: str,
        summary: str,
        detail: Mapping[str, str] | None = None,
    ) -> AuditEvent:
        return AuditEvent(c.id, at, actor_id, c.stage, kind, summary, dict(detail or {}))


_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def looks_like_email(text: str) -> bool:
    """An address a message can be sent to: one @, a dot in the domain, no spaces, not overlong."""
    return len(text) <= MAX_NAME and _EMAIL.match(text) is not None


def _aware(now: datetime) -> None:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("the engine needs an aware datetime (UTC) for now")
