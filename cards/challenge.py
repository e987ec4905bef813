"""The challenge card: where a challenge stands, what has happened, and the viewer's own next steps.

Two audiences. A party, in their 1:1 chat with the bot, sees everything (the child, the concern, what each
side wrote) and the actions the engine allows them, each unfolding into its own small form. Anyone else who may
know of the challenge (a manager who may take a part, a partnership post) sees the reference-level facts only,
so a card that is forwarded or read over a shoulder names no child. (Group chats and channels are shown no
challenge at all: the bot answers there with a link to the 1:1 chat.)
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, TypeVar

from cards import inputs as ids
from cards import verbs
from cards.delivery import Telling, told_section
from cards.describe import (
    contact_text,
    role_title,
    roles_text,
    stage_title,
    status_text,
    whose_move,
)
from cards.export import export_actions
from cards.forms import informal_evidence_label
from cards.layout import (
    Card,
    Element,
    action_set,
    card,
    choice_input,
    container,
    date_input,
    execute,
    facts,
    heading,
    number_input,
    section,
    show_card,
    text,
    text_input,
)
from cards.text import plain, shorten
from cards.times import day, moment, time_left
from process.calendar import WorkingCalendar
from process.challenge import (
    MAX_TEXT,
    SYSTEM,
    ActionKind,
    AuditEvent,
    Challenge,
    Entry,
    Side,
    StageRecord,
    Status,
)
from process.directory import Contact, Directory, Person
from process.policy import Policy, RoleId

Audience = Literal["party", "group"]

#: Actions shown first, in their own row; the rest follow in a second row.
_PRIMARY = (
    ActionKind.COMPLETE_STEP,
    ActionKind.RESPOND,
    ActionKind.PROPOSE_OUTCOME,
    ActionKind.CONFIRM_OUTCOME,
    ActionKind.ESCALATE,
)
_SECONDARY = (
    ActionKind.PROPOSE_TIMESCALE,
    ActionKind.CONFIRM_TIMESCALE,
    ActionKind.RECORD_MEETING,
    ActionKind.TAKE_PART,
    ActionKind.HAND_OVER,
    ActionKind.WITHDRAW,
    ActionKind.CLOSE,
)

#: Most characters of card JSON a party card may take. Teams refuses a message over about 100 KB counted
#: in UTF-16 (two bytes a character) and advises staying within 80 KB, so a card keeps within 38,000.
CARD_BUDGET = 38_000


@dataclass(frozen=True)
class _Limits:
    """How much of each long text a party card shows; None shows it whole."""

    earlier: int | None
    current: int | None
    case: int | None
    history: int
    written: int | None = None  # how many of the latest entries, and of the latest meetings, are shown


#: Tried in turn until the card fits the budget: long writing at earlier stages goes first, then the
#: current stage's, and only then the concern itself.
_LEVELS = (
    _Limits(earlier=1000, current=None, case=None, history=40),
    _Limits(earlier=300, current=1500, case=None, history=30),
    _Limits(earlier=120, current=500, case=1500, history=20, written=30),
    _Limits(earlier=80, current=200, case=600, history=10, written=12),
)
_T = TypeVar("_T")
SHORTENED_NOTE = "Some long texts are shortened here so that the card fits in Teams."

_ENTRY_TITLES = {
    "proposed_outcome": "Proposed agreed outcome",
    "confirmed_outcome": "Agreed outcome confirmed",
    "escalation_reason": "Reason for escalation",
    "withdrawn": "Reason for withdrawing",
    "closed": "Outcome at closure",
}
_STAGE_OUTCOMES = {
    "escalated": "escalated",
    "resolved": "resolved: outcome agreed",
    "withdrawn": "withdrawn",
    "closed": "closed",
}


def challenge_card(
    challenge: Challenge,
    *,
    policy: Policy,
    directory: Directory,
    calendar: WorkingCalendar,
    now: datetime,
    viewer_id: str | None,
    allowed: Sequence[ActionKind],
    audience: Audience,
    events: Sequence[AuditEvent] = (),
    user_ids: Sequence[str] = (),
    notice: str | None = None,
    next_contacts: Sequence[Contact] = (),
    colleagues: Sequence[Person] = (),
    handable: Sequence[tuple[RoleId, str]] = (),
    takeable: Sequence[RoleId] = (),
    vacant: Sequence[RoleId] = (),
    decides_alone: bool = False,
    told: Sequence[Telling] = (),
) -> Card:
    """The card for one challenge, as `viewer_id` may see it in a chat of kind `audience`.

    `allowed` are the viewer's actions (from `Engine.allowed_actions`), offered on party cards only;
    `next_contacts` are who an escalation would go to, `colleagues` who a part could be handed over to, and
    `user_ids` the parties' Teams ids, whose cards Teams refreshes so each sees their own actions; `told`
    who has been told of the latest change, shown to parties only.
    """
    body: list[Element] = []
    if notice:
        body.append(container([text(plain(notice), weight="Bolder")], style="emphasis"))
    body += [
        heading(plain(challenge.reference), size="ExtraLarge"),
        text(plain(f"{policy.partnership} · {policy.procedure}"), subtle=True, spacing="None"),
        facts(_state_facts(challenge, policy, calendar, now)),
    ]
    agency = directory.agency(challenge.challenged_agency_id)
    if agency is not None and agency.escalation_note and challenge.is_open:
        # The agency's own rule for every escalation to it (the police: "must include a telephone call").
        body.append(text(plain(agency.escalation_note), color="Warning"))
    if audience == "group":
        body.append(
            text(
                plain(
                    "This is a summary for a shared chat. The people involved see the details and their next "
                    f"steps in their own chat with me: type show {challenge.reference}"
                ),
                subtle=True,
            )
        )
        return card(body)

    refresh: dict[str, Any] = {
        "action": {
            "type": "Action.Execute",
            "verb": verbs.REFRESH,
            "data": _data(challenge),
        }
    }
    if user_ids:
        refresh["userIds"] = list(user_ids)
    built: Card = {}
    for level, limits in enumerate(_LEVELS):
        view = _PartyView(
            challenge,
            policy,
            directory,
            calendar,
            now,
            viewer_id,
            limits,
            handable,
            takeable,
            vacant,
            decides_alone,
        )
        details = view.details() + told_section(told, calendar.timezone) + _history(view, events)
        if level:
            details.append(text(SHORTENED_NOTE, subtle=True))
        sets = [
            _actions(view, [k for k in group if k in allowed], next_contacts, colleagues)
            for group in (_PRIMARY, _SECONDARY)
        ]
        actions = [action_set(a) for a in sets if a]
        actions.append(export_actions(_data(challenge)))
        built = card([*body, *details, *actions], refresh=refresh)
        if len(json.dumps(built, ensure_ascii=False)) <= CARD_BUDGET:
            break
    return built


def _written(input_id: str, label: str, error: str) -> Element:
    """A required box for what a person writes on the form, as long as the engine accepts."""
    return text_input(
        input_id, label, multiline=True, max_length=MAX_TEXT, required=True, error_message=error
    )


def _data(challenge: Challenge) -> dict[str, Any]:
    return {ids.CHALLENGE_ID: challenge.id, ids.VERSION: challenge.version}


def _state_facts(
    challenge: Challenge, policy: Policy, calendar: WorkingCalendar, now: datetime
) -> list[tuple[str, str]]:
    """The reference-level facts every audience may see: status, stage, deadline, whose move."""
    lines = [
        ("Status", status_text(challenge)),
        ("Stage", plain(stage_title(policy, challenge.stage))),
    ]
    stage = policy.stage(challenge.stage)
    due = challenge.due_at
    if challenge.is_open:
        if due is None:
            lines.append(("Due", "No time limit at this stage"))
        else:
            lines.append(("Due", moment(due, calendar.timezone)))
            lines.append(("Time left", time_left(calendar, now, due)))
        if stage.timescale == "agreed" and stage.limit_working_days is not None:
            days = challenge.current.timescale_working_days or stage.limit_working_days
            lines.append(
                (
                    "Timescale",
                    f"{days} working days; agreed at each stage, at most {stage.limit_working_days}",
                )
            )
    elif challenge.closed_at is not None:
        lines.append(("Ended", moment(challenge.closed_at, calendar.timezone)))
    lines.append(("Whose move", plain(whose_move(challenge, policy))))
    return lines


class _PartyView:
    """What a party sees: the details of the challenge, worded for the viewer."""

    def __init__(
        self,
        challenge: Challenge,
        policy: Policy,
        directory: Directory,
        calendar: WorkingCalendar,
        now: datetime,
        viewer_id: str | None,
        limits: _Limits,
        handable: Sequence[tuple[RoleId, str]] = (),
        takeable: Sequence[RoleId] = (),
        vacant: Sequence[RoleId] = (),
        decides_alone: bool = False,
    ) -> None:
        self.decides_alone = decides_alone
        self.handable = handable
        self.takeable = takeable
        self.vacant = vacant
        self.challenge = challenge
        self.limits = limits
        self.policy = policy
        self.directory = directory
        self.calendar = calendar
        self.now = now
        self.viewer_id = viewer_id
        self.wording = policy.form
        self.stage = policy.stage(challenge.stage)

    def when(self, instant: datetime) -> str:
        return moment(instant, self.calendar.timezone)

    def name_of(self, person_id: str) -> str:
        if person_id == SYSTEM:
            return "the deadline clock"
        if person_id == self.viewer_id:
            return "you"
        person = self.directory.person(person_id)
        if person is not None:
            return person.name
        holder = next((c for c in self.challenge.parties.values() if c.person_id == person_id), None)
        return holder.name if holder else "someone no longer in the directory"

    def details(self) -> list[Element]:
        out: list[Element] = []
        if self.challenge.purged_at is not None:
            # The retention purge erased the child's details and everything written: the facts remain.
            return [
                container(
                    [text(plain(erased_text(self.challenge, self.policy)), weight="Bolder")], style="emphasis"
                ),
                *self._concern()[:2],
                *self._people(),
                *self._stages(),
            ]
        out += self._outcome()
        out += self._child()
        out += self._concern()
        out += self._people()
        out += self._stages()
        out += self._written()
        out += self._meetings()
        return out

    def _labelled(self, label: str, value: str) -> list[Element]:
        return [
            text(plain(label), weight="Bolder", spacing="Small"),
            text(plain(_cut(value, self.limits.case)), spacing="None"),
        ]

    def _outcome(self) -> list[Element]:
        c = self.challenge
        if c.proposal is not None:
            p = c.proposal
            side = "the raising side" if p.side is Side.RAISER else "the challenged side"
            return [
                container(
                    [
                        text("Proposed agreed outcome", weight="Bolder"),
                        text(
                            plain(f"Proposed by {self.name_of(p.proposed_by)} for {side}, {self.when(p.at)}"),
                            subtle=True,
                            spacing="None",
                        ),
                        text(plain(p.text)),
                        text(
                            "The other side confirms it, so that both have the same understanding of it.",
                            subtle=True,
                        ),
                    ],
                    style="emphasis",
                )
            ]
        if c.status in (Status.RESOLVED, Status.CLOSED) and c.agreed_outcome:
            title = "Agreed outcome" if c.status is Status.RESOLVED else "Outcome recorded at closure"
            return [container([text(title, weight="Bolder"), text(plain(c.agreed_outcome))], style="good")]
        if c.status is Status.WITHDRAWN:
            reason = c.current.reason or ""
            return [
                container(
                    [text("Withdrawn by the raiser", weight="Bolder"), text(plain(reason))], style="warning"
                )
            ]
        return []

    def _child(self) -> list[Element]:
        child = self.challenge.child
        lines = [(self.policy.child_fields.name_label, plain(child.name))]
        if child.date_of_birth is not None:
            lines.append((self.wording.date_of_birth_label, day(child.date_of_birth, weekday=False)))
        if child.agency_reference:
            lines.append((self.wording.agency_reference_label, plain(child.agency_reference)))
        return [section("The child"), facts(lines)]

    def _concern(self) -> list[Element]:
        c = self.challenge
        category = self.policy.category(c.issue_category)
        priority = self.policy.priority(c.priority)
        raiser = c.parties.get(self.policy.raiser_role)
        raiser_agency = self.directory.agency(c.raiser_agency_id)
        agency = self.directory.agency(c.challenged_agency_id)
        raised_by = raiser.name if raiser else self.name_of(c.raised_by)
        if raiser_agency:
            raised_by += f", {raiser_agency.name}"
        out = [
            section(f"The challenge ({self.wording.form_name})"),
            facts(
                [
                    ("Raised", plain(f"{self.when(c.raised_at)} by {raised_by}")),
                    ("Agency challenged", plain(agency.name if agency else c.challenged_agency_id)),
                    *(
                        [("Identified issue", plain(category.label if category else c.issue_category))]
                        if c.issue_category
                        else []
                    ),
                    *([("Priority", plain(priority.label))] if priority else []),
                    ("Urgent", "Yes" if c.urgent else "No"),
                    *([("Reoccurring after", plain(c.linked_to))] if c.linked_to else []),
                ]
            ),
            *self._labelled(self.wording.concern_label, c.concern),
            *self._labelled(self.wording.desired_outcome_label, c.desired_outcome),
        ]
        if c.informal_evidence:
            out += self._labelled(informal_evidence_label(self.policy), c.informal_evidence)
        labels = {f.id: f.label for s in self.policy.stages for f in s.entry_fields}
        for field_id, value in c.fields.items():
            out += self._labelled(labels.get(field_id, field_id.replace("_", " ").capitalize()), value)
        return out

    def _people(self) -> list[Element]:
        lines = []
        for spec in self.policy.roles:
            contact = self.challenge.parties.get(spec.id)
            if contact is None:
                if spec.id in self.vacant:
                    lines.append((spec.title, "Nobody recorded in the directory"))
                continue
            name = contact_text(contact) if contact.person_id is None else contact.name
            if self.viewer_id is not None and contact.person_id == self.viewer_id:
                name += " (you)"
            lines.append((spec.title, plain(name)))
        out = [section("Who is involved"), facts(lines)]
        if self.vacant:
            titles = roles_text(self.vacant, self.policy)
            out.append(
                text(
                    plain(
                        f"No person holds the part of {titles} at this stage, so the people who acted before act "
                        "for that side until someone takes the part or it is handed over to them. Ask the "
                        f"{self.policy.short_name} business unit to record the right person in the directory."
                    ),
                    color="Warning",
                )
            )
        return out

    def _stages(self) -> list[Element]:
        out: list[Element] = [section("Stages")]
        for record in self.challenge.stages:
            out.append(text(plain(stage_title(self.policy, record.number)), weight="Bolder", spacing="Small"))
            out.append(text(plain(self._stage_line(record)), spacing="None"))
        return out

    def _stage_line(self, record: StageRecord) -> str:
        parts = [f"Started {self.when(record.started_at)}"]
        if record.due_at is not None:
            parts.append(f"due {self.when(record.due_at)}")
        if record.breached:
            parts.append("deadline missed")
        if record.ended_at is not None:
            outcome = _STAGE_OUTCOMES.get(record.outcome or "", record.outcome or "ended")
            parts.append(f"{outcome} {self.when(record.ended_at)}")
        else:
            parts.append("in progress")
        return " · ".join(parts)

    def _written(self) -> list[Element]:
        if not self.challenge.entries:
            return []
        out: list[Element] = [section("What has been written")]
        entries = self._latest(self.challenge.entries)
        out += self._earlier_note(len(self.challenge.entries) - len(entries))
        for entry in entries:
            current = entry.stage == self.challenge.stage
            body = _cut(entry.text, self.limits.current if current else self.limits.earlier)
            out.append(
                text(
                    plain(
                        f"{self._entry_title(entry)}, stage {entry.stage} · {self.name_of(entry.actor_id)} · "
                        f"{self.when(entry.at)}"
                    ),
                    weight="Bolder",
                    spacing="Small",
                )
            )
            out.append(text(plain(body), spacing="None"))
        return out

    def _entry_title(self, entry: Entry) -> str:
        if entry.kind == "response":
            return self.policy.stage(entry.stage).response_label
        return _ENTRY_TITLES.get(entry.kind, entry.kind.replace("_", " ").capitalize())

    def _meetings(self) -> list[Element]:
        meetings = self._latest(self.challenge.meetings)
        out: list[Element] = self._earlier_note(
            len(self.challenge.meetings) - len(meetings), "meeting", "meetings"
        )
        for meeting in meetings:
            stage = self.policy.stage(meeting.stage)
            limit = self.limits.current if meeting.stage == self.challenge.stage else self.limits.earlier
            name = stage.meeting.name if stage.meeting else "Meeting"
            out.append(section(plain(f"{name} (stage {meeting.stage}), held {day(meeting.held_on)}")))
            lines = [
                ("Attendees", plain(_cut(meeting.attendees, limit))),
                ("Key points", plain(_cut(meeting.key_points, limit))),
            ]
            if meeting.actions_agreed:
                lines.append(("Actions agreed", plain(_cut(meeting.actions_agreed, limit))))
            if meeting.timescales:
                lines.append(("Timescales", plain(_cut(meeting.timescales, limit))))
            lines.append(
                (
                    "Recorded",
                    plain(f"{self.when(meeting.recorded_at)} by {self.name_of(meeting.recorded_by)}"),
                )
            )
            out.append(facts(lines))
        return out

    def _latest(self, items: Sequence[_T]) -> Sequence[_T]:
        """The latest of `items` (oldest first) that the card has room for."""
        limit = self.limits.written
        return items if limit is None or len(items) <= limit else items[-limit:]

    @staticmethod
    def _earlier_note(hidden: int, one: str = "entry", many: str = "entries") -> list[Element]:
        if hidden <= 0:
            return []
        return [
            text(
                f"{hidden} earlier {one + ' is' if hidden == 1 else many + ' are'} kept in the challenge's "
                "record (too many to show here).",
                subtle=True,
            )
        ]


def _cut(value: str, limit: int | None) -> str:
    return value if limit is None else shorten(value, limit)


#: How many entries of the chronology a card shows before the rest are folded away.
CHRONOLOGY_SHOWN = 5
CHRONOLOGY_FOLDED_ID = "chronology-earlier"


def erased_text(challenge: Challenge, policy: Policy) -> str:
    """What a card says of a challenge the retention purge has erased."""
    when = day(challenge.purged_at.date()) if challenge.purged_at is not None else "an earlier date"
    return (
        f"The child's details and everything written in this challenge were erased on {when}, as "
        f"{policy.short_name}'s retention period requires. The dates, stages and outcome are kept."
    )


def _event_line(view: _PartyView, event: AuditEvent) -> tuple[str, str]:
    what = event.summary or f"{event.kind.replace('_', ' ').capitalize()} (its words were erased)"
    return view.when(event.at), plain(f"{what} ({view.name_of(event.actor_id)})")


def _history(view: _PartyView, events: Sequence[AuditEvent]) -> list[Element]:
    """The chronology, newest first: the latest few entries, and the earlier ones folded under a button."""
    if not events:
        return []
    newest_first = list(reversed(events))
    kept = newest_first[: view.limits.history]
    shown, folded = kept[:CHRONOLOGY_SHOWN], kept[CHRONOLOGY_SHOWN:]
    out = [
        section("Chronology, newest first"),
        facts(_event_line(view, e) for e in shown),
    ]
    if folded:
        out += [
            {
                "type": "Container",
                "id": CHRONOLOGY_FOLDED_ID,
                "isVisible": False,
                "spacing": "None",
                "items": [facts(_event_line(view, e) for e in folded)],
            },
            action_set(
                [
                    {
                        "type": "Action.ToggleVisibility",
                        "title": f"Show or hide {len(folded)} earlier "
                        f"entr{'y' if len(folded) == 1 else 'ies'}",
                        "targetElements": [CHRONOLOGY_FOLDED_ID],
                    }
                ]
            ),
        ]
    hidden = len(newest_first) - len(kept)
    if hidden:
        out.append(
            text(
                f"{hidden} earlier entr{'y is' if hidden == 1 else 'ies are'} kept in the challenge's record "
                "(too many to show here).",
                subtle=True,
            )
        )
    return out


# ----- actions ------------------------------------------------------------------------------------------


def _actions(
    view: _PartyView,
    kinds: Sequence[ActionKind],
    next_contacts: Sequence[Contact],
    colleagues: Sequence[Person],
) -> list[Element]:
    out: list[Element] = []
    for kind in kinds:
        action = _action(view, kind, next_contacts, colleagues)
        if action is not None:
            out.append(action)
    return out


def _action(
    view: _PartyView, kind: ActionKind, next_contacts: Sequence[Contact], colleagues: Sequence[Person]
) -> Element | None:
    c, stage = view.challenge, view.stage
    data = _data(c)
    verb = verbs.ACTION_VERBS[kind]
    if kind is ActionKind.RESPOND:
        return show_card(
            "Respond",
            [_written(ids.TEXT, stage.response_label, "Please write your response.")],
            [execute("Send response", verb, data, style="positive")],
        )
    if kind is ActionKind.PROPOSE_OUTCOME and view.decides_alone:
        return _explained_form(
            "Record the outcome",
            f"At this stage the {view.policy.role_title(view.policy.raiser_role)} decides whether it is resolved: "
            "recording the outcome resolves the challenge, and everyone involved is told.",
            _written(ids.PROPOSED_OUTCOME, "Outcome", "Please write the outcome."),
            execute("Record the outcome and resolve", verb, data, style="positive"),
        )
    if kind is ActionKind.PROPOSE_OUTCOME:
        return _explained_form(
            "Propose the agreed outcome",
            "The other side is asked to confirm it, so that both have the same understanding of the agreed "
            "outcome; confirming resolves the challenge.",
            _written(ids.PROPOSED_OUTCOME, "Agreed outcome", "Please write the outcome you propose."),
            execute("Send for confirmation", verb, data, style="positive"),
        )
    if kind is ActionKind.CONFIRM_OUTCOME:
        return execute("Confirm the agreed outcome", verb, data, inputs="none", style="positive")
    if kind is ActionKind.ESCALATE:
        return _escalate(view, data, next_contacts)
    if kind is ActionKind.PROPOSE_TIMESCALE:
        return _timescale(view, data)
    if kind is ActionKind.CONFIRM_TIMESCALE:
        proposal = c.timescale_proposal
        if proposal is None:
            return None
        return execute(
            f"Confirm the timescale of {proposal.working_days} working days",
            verb,
            data,
            inputs="none",
            style="positive",
        )
    if kind is ActionKind.TAKE_PART:
        return _take_part(view, data)
    if kind is ActionKind.COMPLETE_STEP:
        done = c.current.steps_done
        if done >= len(stage.steps):
            return None
        step = stage.steps[done]
        return show_card(
            f"Done: {step.name}",
            [
                text(
                    plain(f"Step {done + 1} of {len(stage.steps)} at this stage: {step.name}."), subtle=True
                ),
                text_input(ids.STEP_NOTE, "Note (optional)", max_length=MAX_TEXT),
            ],
            [execute("Mark as done", verb, data, style="positive")],
        )
    if kind is ActionKind.RECORD_MEETING:
        return _meeting(view, data)
    if kind is ActionKind.HAND_OVER:
        return _hand_over(view, data, colleagues)
    if kind is ActionKind.WITHDRAW:
        return _explained_form(
            "Withdraw",
            "Withdrawing ends the challenge for everyone involved; they are told.",
            _written(
                ids.WITHDRAW_REASON, "Reason for withdrawing", "Please give the reason for withdrawing."
            ),
            execute("Withdraw the challenge", verb, data, style="destructive"),
        )
    if kind is ActionKind.CLOSE:
        return _explained_form(
            "Close",
            f"Stage {stage.number} is the final stage: the {roles_text(stage.closed_by, view.policy).lower()} "
            "closes the challenge with its outcome.",
            _written(ids.OUTCOME, "Outcome", "Please record the outcome."),
            execute("Close the challenge", verb, data, style="positive"),
        )
    return None


def _explained_form(title: str, explanation: str, field: Element, button: Element) -> Element:
    """A button that unfolds into a short explanation, one written field and the button that sends it."""
    return show_card(title, [text(plain(explanation), subtle=True), field], [button])


def _escalate(view: _PartyView, data: Mapping[str, Any], next_contacts: Sequence[Contact]) -> Element | None:
    c, policy = view.challenge, view.policy
    target = policy.next_stage(c.stage)
    if target is None:
        return None
    body: list[Element] = [
        text(plain(stage_title(policy, target.number)), weight="Bolder"),
        text(plain(target.description), subtle=True, spacing="None"),
    ]
    if next_contacts:
        body.append(
            text(
                plain("It will go to: " + "; ".join(contact_text(x) for x in next_contacts)), spacing="Small"
            )
        )
    if c.urgent:
        body.append(text(plain(view.wording.urgent_note), color="Warning"))
    body.append(_written(ids.REASON, "Reason for escalating", "Please give the reason for escalating."))
    for field in target.entry_fields:
        body.append(
            text_input(
                field.id,
                field.label,
                multiline=True,
                max_length=MAX_TEXT,
                required=field.required,
                error_message=f"Please fill in: {field.label}.",
            )
        )
    verb = verbs.ACTION_VERBS[ActionKind.ESCALATE]
    return show_card(
        f"Escalate to stage {target.number}",
        body,
        [execute(f"Escalate to stage {target.number}", verb, data, style="destructive")],
    )


def _timescale(view: _PartyView, data: Mapping[str, Any]) -> Element | None:
    stage, record = view.stage, view.challenge.current
    cap = stage.limit_working_days
    if cap is None:
        return None
    current = record.timescale_working_days or cap
    return show_card(
        "Propose a timescale",
        [
            text(
                plain(
                    "Timescales are agreed at each stage, with the outcome for the child driving them: the "
                    "other side is asked to confirm what you propose. "
                    f"Stage {stage.number} may not exceed {cap} working days, counted from its start "
                    f"({view.when(record.started_at)})."
                ),
                subtle=True,
            ),
            number_input(
                ids.WORKING_DAYS,
                "Working days from the start of the stage",
                value=min(max(current, 1), cap),
                minimum=1,
                maximum=cap,
                required=True,
                error_message=f"Give a number of working days from 1 to {cap}.",
            ),
            text_input(ids.NOTE, "Note (optional)", max_length=MAX_TEXT),
        ],
        [
            execute(
                "Send for confirmation",
                verbs.ACTION_VERBS[ActionKind.PROPOSE_TIMESCALE],
                data,
                style="positive",
            )
        ],
    )


def _meeting(view: _PartyView, data: Mapping[str, Any]) -> Element | None:
    meeting = view.stage.meeting
    if meeting is None:
        return None
    today = view.calendar.local_date(view.now)
    raised = view.calendar.local_date(view.challenge.raised_at)
    intro = "Record of the meeting, actions agreed and timescales."
    if meeting.chair is not None:
        intro += f" Chaired by the {role_title(meeting.chair, view.policy)}, or as the senior managers agree."
    return show_card(
        meeting.name,
        [
            text(plain(intro), subtle=True),
            date_input(
                ids.HELD_ON,
                "Date of meeting",
                value=today.isoformat(),
                minimum=raised.isoformat(),
                maximum=today.isoformat(),
                required=True,
                error_message="Please give the date the meeting was held.",
            ),
            _written(ids.ATTENDEES, "Who attended", "Please say who attended."),
            _written(
                ids.KEY_POINTS,
                "Key areas of discussion, disagreement and agreement",
                "Please record the key points.",
            ),
            text_input(ids.ACTIONS_AGREED, "Actions agreed", multiline=True, max_length=MAX_TEXT),
            text_input(ids.TIMESCALES, "Timescales", multiline=True, max_length=MAX_TEXT),
        ],
        [
            execute(
                "Record the meeting", verbs.ACTION_VERBS[ActionKind.RECORD_MEETING], data, style="positive"
            )
        ],
    )


def _hand_over(view: _PartyView, data: Mapping[str, Any], colleagues: Sequence[Person]) -> Element | None:
    roles = handable_titles(view)
    if not roles:
        return None
    people = [p for p in colleagues if p.id != view.viewer_id]
    body: list[Element] = [
        text("The colleague takes over your part in this challenge and is told.", subtle=True),
        choice_input(
            ids.ROLE,
            "Part to hand over",
            [(title, role) for role, title in roles],
            value=roles[0][0],
            required=True,
            error_message="Choose which part to hand over.",
        ),
    ]
    actions: list[Element] = []
    if people:
        body += [
            choice_input(
                ids.TO_PERSON_ID,
                "Hand over to",
                [(f"{p.name} — {p.job_title}" if p.job_title else p.name, p.id) for p in people],
                style="filtered",
                placeholder="Type a name to search",
                required=True,
                error_message="Choose the colleague to hand over to.",
            ),
            text_input(ids.HANDOVER_NOTE, "Note for your colleague (optional)", max_length=MAX_TEXT),
        ]
        actions.append(execute("Hand over", verbs.ACTION_VERBS[ActionKind.HAND_OVER], data, style="positive"))
    else:
        body.append(
            text(
                "None of your colleagues is in the directory yet, so there is nobody to hand over to. Ask "
                "the partnership's business unit to add them."
            )
        )
    return show_card("Hand over", body, actions)


def handable_titles(view: _PartyView) -> list[tuple[RoleId, str]]:
    """The parts the viewer may hand over (the engine's list), titled for the choice on the card."""
    out = []
    for role, why in view.handable:
        title = view.policy.role_title(role)
        holder = view.challenge.parties.get(role)
        if why == "own":
            out.append((role, f"Your part: {title}"))
        elif why == "vacant" or holder is None:
            out.append((role, f"Part nobody holds: {title}"))
        else:
            out.append((role, f"{holder.name}'s part: {title}"))
    return out


def _take_part(view: _PartyView, data: Mapping[str, Any]) -> Element | None:
    if not view.takeable:
        return None
    titles = [(view.policy.role_title(role), role) for role in view.takeable]
    return show_card(
        "Take this part",
        [
            text(
                plain(
                    "No person holds this part: the agency's contact was told by email. Taking it makes you the "
                    "person who acts in it; everyone involved is told."
                ),
                subtle=True,
            ),
            choice_input(
                ids.TAKE_ROLE,
                "Part to take",
                titles,
                value=titles[0][1],
                required=True,
                error_message="Choose the part to take.",
            ),
        ],
        [execute("Take the part", verbs.ACTION_VERBS[ActionKind.TAKE_PART], data, style="positive")],
    )
