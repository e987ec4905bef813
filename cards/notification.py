"""Telling someone what happened on a challenge and what, if anything, they need to do by when.

The same words serve a Teams card and an email. Both carry reference-level facts only, never the child's
details or what anyone wrote: a notification may be read on a shared screen, forwarded, or delivered to a
mailbox in another organisation. The details are one click (or one typed command) away, for the parties only.

Each says who, what and why: who raised it about which agency, who acted last and how, whether a deadline
passing is the cause, and the next step with its deadline. The words are made from data: the card escapes
them for Teams' markdown, the email keeps them as they are (plain text has no markup to escape).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from cards import inputs as ids
from cards import verbs
from cards.describe import (
    awaited,
    awaited_task,
    role_title,
    roles_text,
    side_contacts,
    stage_title,
    status_text,
)
from cards.layout import Card, Element, card, container, execute, facts, heading, text
from cards.text import plain
from cards.times import moment, time_left
from process.calendar import WorkingCalendar
from process.challenge import SYSTEM, Challenge, Notification, Side
from process.challenge import NotificationKind as K
from process.delivery import Cause, causes_of
from process.directory import Directory
from process.parties import actors, side_in, vacancies
from process.policy import Policy


@dataclass(frozen=True)
class _Message:
    """One notification in words: a short subject, what happened, and what is needed."""

    subject: str
    happened: str
    needed: str


def notification_card(
    n: Notification,
    *,
    challenge: Challenge,
    policy: Policy,
    calendar: WorkingCalendar,
    now: datetime,
    directory: Directory | None = None,
    agency_note: str | None = None,
) -> Card:
    """What happened, why, what is needed by when, and an "Open the challenge" button (always: the bot
    answers it with what the person who pressed it may see)."""
    message = _message(n, challenge, policy, calendar, now)
    rows = _facts(n, challenge, policy, calendar, now, directory)
    return _card(n, policy, message.happened, message.needed, rows, n.action_needed, agency_note)


def notification_text(
    n: Notification,
    *,
    challenge: Challenge,
    policy: Policy,
    calendar: WorkingCalendar,
    now: datetime,
    directory: Directory | None = None,
    agency_note: str | None = None,
) -> tuple[str, str]:
    """The (subject, body) of an email for `n`, in plain text: what happened and why, reference, stage,
    deadline, what is needed and how to act. No child data."""
    message = _message(n, challenge, policy, calendar, now)
    rows = _facts(n, challenge, policy, calendar, now, directory)
    body = _email(message.happened, message.needed, rows, _how_to_act(n, challenge, policy), agency_note)
    return f"{n.reference}: {message.subject}", body


def delivery_failed_card(
    report: Notification, failed: Notification, *, challenge: Challenge, policy: Policy, reason: str | None
) -> Card:
    """Telling the raiser or the partnership that a notification could not be delivered at all."""
    happened, needed, rows = _undelivered(report, failed, challenge, policy, reason)
    return _card(report, policy, happened, needed, rows, True)


def delivery_failed_text(
    report: Notification, failed: Notification, *, challenge: Challenge, policy: Policy, reason: str | None
) -> tuple[str, str]:
    """The plain-text email for `delivery_failed_card`."""
    happened, needed, rows = _undelivered(report, failed, challenge, policy, reason)
    body = _email(happened, needed, rows, _how_to_act(report, challenge, policy))
    return f"{report.reference}: could not be delivered to {failed.recipient.name}", body


_NO_CHILD_DATA = (
    "This message carries no details of the child. They are shown only in Microsoft Teams, to the people "
    "involved in the challenge."
)


def _card(
    n: Notification,
    policy: Policy,
    happened: str,
    needed: str,
    rows: Sequence[tuple[str, str]],
    action_needed: bool,
    note: str | None = None,
) -> Card:
    """A notice card: what happened, what is needed (set apart when asked to act), the facts, an agency's own
    note, and an "Open the challenge" button (always: the bot answers it with what the person may see)."""
    body: list[Element] = [
        heading(plain(n.reference)),
        text(plain(f"{policy.partnership} · {policy.procedure}"), subtle=True, spacing="None"),
        text(plain(happened), weight="Bolder"),
        container(
            [text(plain(needed), weight="Bolder" if action_needed else None)],
            style="attention" if action_needed else "emphasis",
        ),
        facts((title, plain(value)) for title, value in rows),
        *([text(plain(note), color="Warning")] if note else []),
        text(
            "The child's details are not shown here. The people involved see them in their own chat with me.",
            subtle=True,
        ),
    ]
    return card(body, actions=[_open_button(n)])


def _email(
    happened: str, needed: str, rows: Sequence[tuple[str, str]], how_to_act: str, note: str | None = None
) -> str:
    """A notice email's body in plain text, in the card's order."""
    lines = [happened, "", *(f"{title}: {value}" for title, value in rows), "", needed, "", how_to_act]
    if note:
        # The agency's own rule for every escalation to it (e.g. the police: "must include a telephone call").
        lines += ["", note]
    lines += ["", _NO_CHILD_DATA]
    return "\n".join(lines)


def _open_button(n: Notification) -> Element:
    data = {ids.REFERENCE: n.reference, ids.CHALLENGE_ID: n.challenge_id}
    return execute("Open the challenge", verbs.SHOW, data, inputs="none", style="positive")


def _undelivered(
    report: Notification, failed: Notification, challenge: Challenge, policy: Policy, reason: str | None
) -> tuple[str, str, list[tuple[str, str]]]:
    what = _message(failed, challenge, policy, None).subject
    who = failed.recipient.name
    happened = (
        f"{who} could not be told of {report.reference} ({what}): neither Teams nor email reached them."
    )
    needed = _advice(failed, reason)
    rows = [
        ("Reference", report.reference),
        ("Partnership", f"{policy.partnership} ({policy.short_name})"),
        ("Stage", stage_title(policy, failed.stage)),
        ("Not told", f"{who} ({roles_text(failed.roles, policy)})" if failed.roles else who),
        ("Why", reason or "not recorded"),
    ]
    return happened, needed, rows


def _advice(failed: Notification, reason: str | None) -> str:
    """What the one told of a failed delivery should do, fitting what went wrong (`causes_of` its reason)."""
    who = failed.recipient.name
    causes = causes_of(reason)
    mailbox = failed.recipient.person_id is None
    advice = [f"Please make sure {who} knows, another way (telephone, or in person)."]
    if Cause.NO_EMAIL_SERVICE in causes:
        advice.append(
            "This service has no email set up, so it can reach people only in Teams: please tell the "
            "partnership's admin, and reach "
            + ("this mailbox" if mailbox else f"{who}")
            + " another way until email is set up."
        )
    if Cause.TEAMS_REFUSED in causes:
        advice.append(
            f"Teams refused the message: the app may have been blocked or removed for {who}; please ask them "
            "to unblock it, or to add it again, in Teams."
        )
    missing = []
    if Cause.NO_TEAMS_IDENTITY in causes and not mailbox:
        missing.append("Teams account")
    if Cause.NO_ADDRESS in causes:
        missing.append("email address")
    if missing:
        advice.append(
            f"The partnership's directory has no {' or '.join(missing)} for {who}: please ask for their "
            "details in it to be corrected."
        )
    if Cause.EMAIL_FAILED in causes:
        advice.append(f"The mail server did not accept the message: please check {who}'s email address.")
    return " ".join(advice)


def _facts(
    n: Notification,
    challenge: Challenge,
    policy: Policy,
    calendar: WorkingCalendar,
    now: datetime,
    directory: Directory | None,
) -> list[tuple[str, str]]:
    """Reference-level facts as plain words (escaped by the card, not by the email)."""
    lines = [
        ("Reference", n.reference),
        ("Partnership", f"{policy.partnership} ({policy.short_name})"),
        ("Stage", stage_title(policy, n.stage)),
    ]
    raiser = challenge.parties.get(policy.raiser_role)
    if raiser is not None:
        lines.append(("Raised by", _with_agency(raiser.name, challenge.raiser_agency_id, directory)))
    challenged = _agency_name(challenge.challenged_agency_id, directory)
    if challenged:
        lines.append(("About", challenged))
    acted = _who_acted(n, challenge, policy, directory)
    if acted is not None:
        lines.append(acted)
    if n.due_at is not None and challenge.is_open:
        lines.append(("Due", f"{moment(n.due_at, calendar.timezone)} ({time_left(calendar, now, n.due_at)})"))
    lines.append(("Status", status_text(challenge)))
    nxt = _next_step(challenge, policy, calendar, now)
    if nxt is not None:
        lines.append(("Next step", nxt))
    return lines


def _agency_name(agency_id: str, directory: Directory | None) -> str | None:
    agency = directory.agency(agency_id) if directory is not None else None
    return agency.name if agency is not None else None


def _with_agency(name: str, agency_id: str, directory: Directory | None) -> str:
    agency = _agency_name(agency_id, directory)
    return f"{name} ({agency})" if agency else name


def _name_of(person_id: str, challenge: Challenge, directory: Directory | None) -> str | None:
    person = directory.person(person_id) if directory is not None else None
    if person is not None:
        return _with_agency(person.name, person.agency_id, directory)
    return next((c.name for c in challenge.parties.values() if c.person_id == person_id), None)


def _who_acted(
    n: Notification, challenge: Challenge, policy: Policy, directory: Directory | None
) -> tuple[str, str] | None:
    """Who did what this notification is about, and whether they agreed, where the record says."""
    if n.kind is K.OUTCOME_PROPOSED and challenge.proposal is not None:
        who = _name_of(challenge.proposal.proposed_by, challenge, directory)
        return ("Proposed by", f"{who}; not yet agreed by the other side") if who else None
    wanted = {
        K.RESPONSE: ("response", "Responded by"),
        K.RESOLVED: ("confirmed_outcome", "Agreed by"),
        K.WITHDRAWN: ("withdrawn", "Withdrawn by"),
        K.CLOSED: ("closed", "Closed by"),
        K.STEP_DONE: ("step_done", "Done by"),
    }.get(n.kind)
    if wanted is None:
        return None
    kind, title = wanted
    entry = next((e for e in reversed(challenge.entries) if e.kind == kind and e.stage == n.stage), None)
    if entry is None or entry.actor_id == SYSTEM:
        return None
    who = _name_of(entry.actor_id, challenge, directory)
    if who is None:
        return None
    if n.kind is K.RESOLVED:
        return title, f"{who}, confirming the outcome the other side proposed: both sides agreed"
    if n.kind is K.RESPONSE:
        return title, f"{who}; the raising side now agrees the outcome or escalates"
    return title, who


def _next_step(challenge: Challenge, policy: Policy, calendar: WorkingCalendar, now: datetime) -> str | None:
    """ "Alex Raiser (Raiser), to agree the outcome or escalate, by Fri 5 Dec 2026 17:00"; once that time has
    passed, "..., was due by Tue 1 Dec 2026, 17:00; overdue" (a past instant is never given as a deadline)."""
    if not challenge.is_open:
        return None
    people = awaited(challenge, policy)
    if not people:
        return None
    names = " or ".join(f"{contact.name} ({role_title(role, policy)})" for role, contact in people)
    due = challenge.due_at
    if due is None:
        by = ""
    elif now >= due:
        by = f", was due by {moment(due, calendar.timezone)}; overdue"
    else:
        by = f", by {moment(due, calendar.timezone)}"
    return f"{names}, {awaited_task(challenge, policy)}{by}"


def _how_to_act(n: Notification, challenge: Challenge, policy: Policy) -> str:
    if n.recipient.person_id is not None:
        return f"To see the challenge, open Microsoft Teams and type: show {n.reference}"
    if challenge.is_open and set(n.roles) & set(vacancies(policy, challenge)):
        return (
            "No person holds this part yet: this address is told, but cannot act. The person at your agency "
            "who should take it on (a manager of the professional, or the agency's safeguarding lead) opens "
            f"Microsoft Teams, types: show {n.reference}, and takes the part."
        )
    raisers = side_contacts(challenge, policy, Side.RAISER)
    who = "; ".join(
        f"{contact.name} ({contact.email})" if contact.email else contact.name for _, contact in raisers
    )
    return (
        "This address is not set up to act in Microsoft Teams. To act on it, contact "
        f"{who or 'the professional who raised it'}, quoting {n.reference}."
    )


def _message(
    n: Notification,
    challenge: Challenge,
    policy: Policy,
    calendar: WorkingCalendar | None,
    now: datetime | None = None,
) -> _Message:
    stage = policy.stage(n.stage)
    named = f"stage {n.stage} ({stage.name})"
    zone = calendar.timezone if calendar is not None else None
    if n.due_at is None or zone is None:
        due = ""
    elif now is not None and now >= n.due_at:
        # Delivered after its deadline (a delivery retried for a while, a deadline-passed notice): never ask
        # for something "by" a time already gone.
        due = f" as soon as possible (it was due by {moment(n.due_at, zone)}; overdue)"
    else:
        due = f" by {moment(n.due_at, zone)}"
    due_at = moment(n.due_at, zone) if n.due_at is not None and zone is not None else "its deadline"
    role = n.roles[0] if n.roles else policy.raiser_role
    kind = n.kind
    if kind is K.RAISED:
        urgent = " as urgent" if challenge.urgent else ""
        subject, happened = "new challenge", f"A challenge has been raised{urgent}, starting at {named}."
    elif kind is K.RESPONSE:
        subject = f"{stage.response_label} recorded"
        happened = f"The {stage.response_label} has been recorded at stage {n.stage}."
    elif kind is K.OUTCOME_PROPOSED:
        subject, happened = (
            "agreed outcome proposed",
            f"An agreed outcome has been proposed at stage {n.stage}.",
        )
    elif kind is K.RESOLVED:
        subject = "resolved"
        happened = f"The challenge has been resolved at stage {n.stage}: both sides agreed the outcome."
    elif kind is K.ESCALATED:
        subject, happened = f"escalated to stage {n.stage}", f"The challenge has been escalated to {named}."
        earlier = next((r for r in reversed(challenge.stages) if r.number == n.stage - 1), None)
        if earlier is not None and earlier.breached:
            happened += f" The deadline for stage {earlier.number} had passed without resolution."
    elif kind is K.CONSULTED:
        subject, happened = "you are consulted", f"The challenge is at {named}, where you are consulted."
    elif kind is K.INFORMED:
        subject, happened = "for your information", f"The challenge has reached {named}."
    elif kind is K.COPIED_IN:
        subject, happened = "copied in", f"The challenge is at {named}; you are copied in on it."
    elif kind is K.STEP_DONE:
        done = challenge.current.steps_done if challenge.stage == n.stage else len(stage.steps)
        finished = stage.steps[done - 1].name if 0 < done <= len(stage.steps) else "A step"
        subject, happened = "step done", f"{finished}: done, at {named}."
    elif kind is K.TIMESCALE_PROPOSED:
        subject = f"stage {n.stage} timescale proposed"
        happened = (
            f"A timescale has been proposed for {named}; it takes effect once the other side confirms it."
        )
    elif kind is K.COMING_TO_YOU:
        nxt = policy.next_stage(n.stage)
        to = f"stage {nxt.number} ({nxt.name})" if nxt else "the next stage"
        subject = f"stage {n.stage} deadline passed: may come to you"
        happened = (
            f"The deadline for {named} passed at {due_at} without resolution. If it is escalated, it comes to you "
            f"at {to}."
        )
    elif kind is K.PART_TAKEN:
        holder = challenge.parties.get(role)
        who = holder.name if holder is not None else "A colleague"
        subject = "part taken"
        happened = f"{who} has taken the part of {roles_text(n.roles, policy)} at {named}."
    elif kind is K.TIMESCALE_AGREED:
        subject = f"stage {n.stage} timescale agreed"
        happened = f"The timescale for stage {n.stage} has been agreed: it is now due {due_at}."
    elif kind is K.MEETING_RECORDED:
        meeting = stage.meeting.name if stage.meeting else "A meeting"
        subject, happened = "meeting recorded", f"{meeting} at stage {n.stage} has been recorded."
    elif kind is K.WITHDRAWN:
        subject, happened = "withdrawn", f"The challenge has been withdrawn at stage {n.stage}."
    elif kind is K.HANDED_OVER:
        holder = challenge.parties.get(role)
        if holder is not None and holder.key == n.recipient.key:
            subject = "handed over to you"
            happened = (
                f"The part of {roles_text(n.roles, policy)} in this challenge has been handed over to you."
            )
        else:
            subject = "handed over"
            happened = f"Your part as {roles_text(n.roles, policy)} in this challenge has been handed over."
    elif kind is K.CLOSED:
        subject, happened = "closed", f"The challenge has been closed at {named}, the final stage."
    elif kind is K.REMINDER:
        subject, happened = f"reminder: stage {n.stage} is due", f"Reminder: {named} is due{due}."
    elif kind is K.DEADLINE_PASSED:
        subject, happened = (
            f"stage {n.stage} deadline passed",
            f"The deadline for {named} passed at {due_at}.",
        )
    elif kind is K.ESCALATION_DECISION_NEEDED:
        subject = "decision needed"
        agreed = "agreed timescale" if stage.timescale == "agreed" else "deadline"
        happened = f"The {agreed} for {named} passed at {due_at}."
    else:
        subject = "final stage reached"
        happened = f"The challenge has reached {named}, the final stage."
    if kind in (K.RAISED, K.ESCALATED) and challenge.is_open and n.stage == challenge.stage:
        happened += _vacancy_words(challenge, policy)
    needed = _needed(n, policy, due) if n.action_needed else _no_action(n, policy)
    if (
        n.action_needed
        and n.due_at is not None
        and kind not in (K.DEADLINE_PASSED, K.ESCALATION_DECISION_NEEDED)
    ):
        subject += f" · action needed{due}"
    elif n.action_needed:
        subject += " · action needed"
    return _Message(subject, happened, needed)


def _vacancy_words(challenge: Challenge, policy: Policy) -> str:
    """Plain words on each part of the stage that no person holds, and who acts instead until it is taken."""
    out = ""
    stage = policy.stage(challenge.stage)
    for role in vacancies(policy, challenge):
        side = side_in(stage, role)
        acting = " or ".join(a.contact.name for a in actors(policy, challenge, side)) or "nobody yet"
        out += (
            f" No person is recorded for the part of {policy.role_title(role)}: {acting} acts for that side until "
            "someone takes the part or the directory is updated."
        )
    return out


def _needed(n: Notification, policy: Policy, due: str) -> str:
    stage = policy.stage(n.stage)
    role = n.roles[0] if n.roles else policy.raiser_role
    challenged = role in stage.challenged_side or role not in stage.raiser_side
    settle = "agree the outcome" if stage.final else "agree the outcome or escalate"
    kind = n.kind
    if kind is K.OUTCOME_PROPOSED:
        return f"Please confirm the proposed agreed outcome, or reply to it{due}."
    if kind is K.TIMESCALE_PROPOSED:
        return "Please confirm the proposed timescale, or propose another."
    if kind is K.STEP_DONE:
        # A following step has its own deadline; after the last step the raising side decides.
        return f"Please take the next step{due}." if n.due_at is not None else f"Please {settle}."
    if kind is K.RESPONSE:
        return f"Please read the response, then {settle}{due}."
    if kind is K.ESCALATION_DECISION_NEEDED:
        nxt = policy.next_stage(n.stage)
        if nxt is None:
            return "Please decide what happens next: agree the outcome with the other side."
        extend = ", agree a new timescale" if stage.timescale == "agreed" else ""
        return (
            f"Please decide what happens next: escalate to stage {nxt.number} ({nxt.name}){extend}, or agree "
            "the outcome."
        )
    if kind is K.DEADLINE_PASSED:
        return "Please close the challenge with its outcome, or agree the outcome with the other side."
    if challenged:
        return f"Please respond{due}."
    return f"Please take this stage forward with the other side and {settle}{due}."


def _no_action(n: Notification, policy: Policy) -> str:
    roles = roles_text(n.roles, policy) or "someone involved"
    if n.kind is K.COPIED_IN:
        return f"No action needed: you are copied in as {roles}."
    if n.kind is K.CONSULTED:
        return f"No action needed now: you are consulted as {roles}, and the people involved may contact you."
    if n.kind is K.INFORMED:
        return f"No action needed: you are kept informed as {roles}."
    return f"No action needed: this is for your information as {roles}."
