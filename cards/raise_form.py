"""The raising form, one step per card, then a review card to check everything before it is sent.

The dialog keeps what was typed (in the form's draft) and hands it back in `values`, so a person never types
anything twice; what can be checked on the card is checked by `validate_raise_step`, each error shown in red
under its input. The engine still has the last word when the challenge is raised (its refusal comes back on
the review card).

Every button of a raising card carries the draft's id, the step and the draft's revision the card showed, so
a press on any card but the current one is recognised and changes nothing. Text inputs carry no `maxLength`:
Teams would cut a longer text silently; instead each says its limit and a longer text is refused with it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from cards import inputs as ids
from cards import verbs
from cards.describe import roles_text, stage_title
from cards.forms import informal_evidence_label
from cards.layout import (
    Card,
    Element,
    card,
    choice_input,
    container,
    date_input,
    error_text,
    execute,
    facts,
    heading,
    section,
    text,
    toggle_input,
)
from cards.layout import text_input as _text_input
from cards.text import and_list, plain
from cards.times import day
from cards.welcome import guidance, immediate_risk_block
from process.challenge import MAX_NAME, MAX_TEXT, ChildDetails, Decision, RaiseRequest
from process.directory import Agency, Contact, Directory, Person
from process.engine import Engine
from process.policy import Policy, RoleId

RAISE_STEPS: tuple[str, ...] = ("process", "child", "challenged", "issue", "urgency")

#: The `step` sent by the review card's buttons.
REVIEW_STEP = "review"

STEP_TITLES: dict[str, str] = {
    "process": "The procedure",
    "child": "The child",
    "challenged": "Who you are challenging",
    "issue": "The issue",
    "urgency": "Urgency",
}

# ----- the step cards -------------------------------------------------------------------------------------


def text_input(
    input_id: str,
    label: str,
    *,
    limit: int,
    value: str | None = None,
    multiline: bool = False,
    email: bool = False,
) -> Element:
    """A text input that says its limit rather than enforcing it with `maxLength`, which Teams applies by
    cutting the text silently; `validate_raise_step` refuses a longer text and says the limit."""
    return _text_input(
        input_id,
        label,
        value=value,
        multiline=multiline,
        email=email,
        placeholder=f"Up to {limit:,} characters",
    )


def future_birth_message(today: date) -> str:
    """What Teams shows under the date of birth when a later date than `today` is chosen."""
    return f"The date of birth cannot be after today ({day(today, weekday=False)}). Check the date."


def raise_step_card(
    step: str,
    *,
    policies: Sequence[Policy],
    policy: Policy | None,
    directory: Directory,
    values: Mapping[str, str],
    errors: Mapping[str, str],
    step_number: int,
    step_count: int | Sequence[int],
    today: date | None = None,
    raiser_agency_id: str | None = None,
    notice: str | None = None,
    linkable: Sequence[tuple[str, str]] = (),
    draft_id: str = "",
    revision: int = 0,
) -> Card:
    """The card for one step of the form, pre-filled from `values`, with each of `errors` under its input.

    `linkable` are the (reference, description) of the raiser's own resolved challenges to the agency chosen,
    which a reoccurring issue may be linked to (a `recurring` later start); offered on the issue step.

    Errors about inputs not on this step are listed at the top. `today` (the partnership's local date) caps
    the date of birth; `raiser_agency_id` leaves the raiser's own agency out of the agencies that can be
    challenged; `notice` is a word to the raiser shown above the form (e.g. "Use the card to go on").
    `step_count` is the number of steps, or the numbers each procedure would have while none is chosen.
    `draft_id` and `revision` go into every button's data (see the module).
    """
    if step not in RAISE_STEPS:
        raise ValueError(f"unknown raising step {step!r}; the steps are {', '.join(RAISE_STEPS)}")
    if step == "process":
        fields = _process_step(policies, values)
    else:
        if policy is None:
            raise ValueError(f"the {step!r} step needs the procedure chosen at the 'process' step")
        builder = _STEP_BUILDERS[step]
        fields = builder(policy, directory, values, today, raiser_agency_id)
        if step == "issue":
            fields += _recurring(policy, values, linkable)

    body: list[Element] = [
        heading(f"Raise a challenge: {STEP_TITLES[step]}", size="Medium"),
        text(_step_line(policy, step_number, step_count), subtle=True, spacing="None"),
    ]
    if notice:
        body.append(container([text(plain(notice), weight="Bolder")], style="emphasis"))
    shown = {element.get("id") for element in fields if element["type"].startswith("Input.")}
    marked = [field for field in errors if field in shown]
    elsewhere = [message for field, message in errors.items() if field not in shown]
    if errors:
        problems = [text(plain(message), color="Attention") for message in elsewhere]
        if marked:
            problems.insert(
                0, text("Please check the answers marked in red.", weight="Bolder", color="Attention")
            )
        body.append(container(problems, style="attention"))
    for element in fields:
        body.append(element)
        message = errors.get(element.get("id", "")) if element["type"].startswith("Input.") else None
        if message:
            body.append(error_text(plain(message)))

    counts = _counts(step_count)
    last = len(counts) == 1 and step_number + 1 >= counts[0]
    data = form_data(step, draft_id, revision)
    actions = [execute("Review" if last else "Next", verbs.RAISE_NEXT, data, style="positive")]
    if step_number > 1:
        actions.append(execute("Back", verbs.RAISE_BACK, data))
    actions.append(execute("Cancel", verbs.RAISE_CANCEL, data, inputs="none"))
    return card(body, actions=actions)


def form_data(step: str, draft_id: str, revision: int) -> dict[str, Any]:
    """What every button of a raising card sends besides the inputs: which form, which step, which revision."""
    return {ids.STEP: step, ids.DRAFT_ID: draft_id, ids.REVISION: revision}


def _counts(step_count: int | Sequence[int]) -> list[int]:
    return [step_count] if isinstance(step_count, int) else sorted(set(step_count))


def _step_line(policy: Policy | None, step_number: int, step_count: int | Sequence[int]) -> str:
    counts = _counts(step_count)
    if len(counts) == 1:
        where = f"Step {step_number} of {counts[0]}"
    else:
        # Before a procedure is chosen the number of steps is not known: say so rather than guess.
        choices = ", ".join(str(n) for n in counts[:-1]) + f" or {counts[-1]}"
        where = f"Step {step_number} of {choices}, depending on the procedure"
    return plain(f"{where} · {policy.partnership}") if policy else where


def _process_step(policies: Sequence[Policy], values: Mapping[str, str]) -> list[Element]:
    return [
        text(
            "Which partnership's procedure does this challenge follow? It decides the stages and timescales."
        ),
        choice_input(
            ids.POLICY_ID,
            "Procedure",
            [(f"{p.partnership}: {p.procedure}", p.id) for p in policies],
            value=values.get(ids.POLICY_ID),
            style="expanded",
        ),
    ]


def _child_step(
    policy: Policy, directory: Directory, values: Mapping[str, str], today: date | None, _: str | None
) -> list[Element]:
    wording = policy.form
    child = policy.child_fields
    body: list[Element] = [
        text(
            "These details are shown only to the people involved in the challenge, in their own chats with "
            "me; never in group chats, channels or emails, which carry the reference only.",
            subtle=True,
        ),
        text_input(ids.CHILD_NAME, child.name_label, value=values.get(ids.CHILD_NAME), limit=MAX_NAME),
    ]
    # Only what the partnership's own form asks for (Durham's asks for the family name alone).
    if child.date_of_birth != "absent":
        body.append(
            date_input(
                ids.DATE_OF_BIRTH,
                _optional(wording.date_of_birth_label, child.date_of_birth == "optional"),
                value=values.get(ids.DATE_OF_BIRTH),
                maximum=today.isoformat() if today else None,
                # Teams checks `max` itself and, without a message, silently ignores the press.
                error_message=future_birth_message(today) if today else None,
            )
        )
    if child.agency_reference != "absent":
        body.append(
            text_input(
                ids.AGENCY_REFERENCE,
                _optional(wording.agency_reference_label, child.agency_reference == "optional"),
                value=values.get(ids.AGENCY_REFERENCE),
                limit=MAX_NAME,
            )
        )
    return body


def _challenged_step(
    policy: Policy,
    directory: Directory,
    values: Mapping[str, str],
    today: date | None,
    raiser_agency_id: str | None,
) -> list[Element]:
    agencies = challengeable_agencies(policy, directory, raiser_agency_id)
    names = {a.id: a.name for a in agencies}
    people = sorted(
        (p for p in directory.people.values() if p.agency_id in names),
        key=lambda p: (names[p.agency_id], p.name),
    )
    person_value = values.get(ids.CHALLENGED_PERSON_ID) or (
        ids.NOT_LISTED if values.get(ids.CHALLENGED_NAME) or values.get(ids.CHALLENGED_EMAIL) else None
    )
    if not agencies:
        return [
            text(
                plain(
                    f"No other agency of the {policy.short_name} is in the directory yet, so there is nobody to "
                    f"challenge here. Ask the {policy.short_name} business unit to add the agency."
                ),
                color="Attention",
            )
        ]
    return [
        choice_input(
            ids.CHALLENGED_AGENCY_ID,
            "The agency you are challenging",
            [(a.name, a.id) for a in agencies],
            value=values.get(ids.CHALLENGED_AGENCY_ID),
            placeholder="Choose the agency",
        ),
        choice_input(
            ids.CHALLENGED_PERSON_ID,
            "The professional you are challenging",
            [
                *((person_title(p, names[p.agency_id]), p.id) for p in people),
                (NOT_LISTED_TITLE, ids.NOT_LISTED),
            ],
            value=person_value,
            style="filtered",
            placeholder="Type a name to search",
        ),
        text("If they are not listed, give their name and work email:", subtle=True),
        text_input(
            ids.CHALLENGED_NAME,
            "Their name (if not listed)",
            value=values.get(ids.CHALLENGED_NAME),
            limit=MAX_NAME,
        ),
        text_input(
            ids.CHALLENGED_EMAIL,
            "Their work email (if not listed)",
            value=values.get(ids.CHALLENGED_EMAIL),
            limit=MAX_NAME,
            email=True,
        ),
    ]


NOT_LISTED_TITLE = "Not listed: give name and email"


def person_title(person: Person, agency_name: str) -> str:
    """How a professional is offered in a list: "Name — Job title, Agency"."""
    if person.job_title:
        return f"{person.name} — {person.job_title}, {agency_name}"
    return f"{person.name} — {agency_name}"


def challengeable_agencies(
    policy: Policy, directory: Directory, raiser_agency_id: str | None = None
) -> list[Agency]:
    """The partnership's agencies, by name, less the raiser's own (a challenge is between agencies)."""
    return sorted(
        (
            a
            for a in directory.agencies.values()
            if a.partnership_id == policy.id and a.id != raiser_agency_id
        ),
        key=lambda a: a.name,
    )


def _issue_step(
    policy: Policy, directory: Directory, values: Mapping[str, str], today: date | None, _: str | None
) -> list[Element]:
    wording = policy.form
    body: list[Element] = []
    if policy.issue_categories:
        body.append(
            choice_input(
                ids.ISSUE_CATEGORY,
                "Identified issue",
                [(c.label, c.id) for c in policy.issue_categories],
                value=values.get(ids.ISSUE_CATEGORY),
                style="expanded",
            )
        )
    if policy.priorities:
        body.append(
            choice_input(
                ids.PRIORITY,
                "Priority (it sets the time each stage has)",
                [(p.label, p.id) for p in policy.priorities],
                value=values.get(ids.PRIORITY),
                style="expanded",
            )
        )
    for spec in policy.named_roles:
        body.append(
            text_input(
                ids.named_id(spec.id),
                f"{spec.title}: their work email (optional; they are told)",
                value=values.get(ids.named_id(spec.id)),
                limit=MAX_NAME,
            )
        )
    return [
        *body,
        text_input(
            ids.CONCERN,
            wording.concern_label,
            value=values.get(ids.CONCERN),
            multiline=True,
            limit=MAX_TEXT,
        ),
        text_input(
            ids.DESIRED_OUTCOME,
            wording.desired_outcome_label,
            value=values.get(ids.DESIRED_OUTCOME),
            multiline=True,
            limit=MAX_TEXT,
        ),
        text(plain(guidance(policy, "not_for_complaints")), subtle=True),
    ]


def _urgency_step(
    policy: Policy, directory: Directory, values: Mapping[str, str], today: date | None, _: str | None
) -> list[Element]:
    wording = policy.form
    urgent = values.get(ids.URGENT) == ids.TOGGLE_ON
    out: list[Element] = [immediate_risk_block([policy])]
    if policy.urgent_start_stages:
        out.append(
            toggle_input(
                ids.URGENT,
                "Urgency",
                "This needs urgent resolution",
                on=urgent,
                value_on=ids.TOGGLE_ON,
                value_off=ids.TOGGLE_OFF,
            )
        )
        out.append(text(plain(wording.urgent_note)))
    choices = [
        *((f"{stage_title(policy, n)} (urgent only)", str(n)) for n in policy.urgent_start_stages),
        *((f"{stage_title(policy, s.stage)} ({s.label})", str(s.stage)) for s in policy.reasoned_starts),
    ]
    if choices:
        out.append(
            choice_input(
                ids.START_STAGE,
                "Start at",
                [(stage_title(policy, 1), "1"), *choices],
                value=values.get(ids.START_STAGE) or "1",
                style="expanded",
            )
        )
    if policy.reasoned_starts:
        out.append(
            text_input(
                ids.START_REASON,
                "Why it starts at a later stage (recorded; only when it does)",
                value=values.get(ids.START_REASON),
                multiline=True,
                limit=MAX_TEXT,
            )
        )
    needing = [n for n in policy.urgent_start_stages if policy.stage(n).requires_informal_evidence]
    need = f"required to start at stage {' or '.join(str(n) for n in needing)}" if needing else "optional"
    out += [
        text_input(
            ids.INFORMAL_EVIDENCE,
            f"Evidence of informal attempts to resolve ({need})",
            value=values.get(ids.INFORMAL_EVIDENCE),
            multiline=True,
            limit=MAX_TEXT,
        ),
        text(plain(f"The {wording.form_name} asks for: {informal_evidence_label(policy)}."), subtle=True),
    ]
    for number in policy.urgent_start_stages:
        for field in policy.stage(number).entry_fields:
            out.append(
                text_input(
                    ids.raise_entry_id(field.id),
                    f"{field.label} (only if starting at stage {number}; optional)",
                    value=values.get(ids.raise_entry_id(field.id)),
                    multiline=True,
                    limit=MAX_TEXT,
                )
            )
    return out


def _recurring(
    policy: Policy, values: Mapping[str, str], linkable: Sequence[tuple[str, str]]
) -> list[Element]:
    """Raising a reoccurring issue straight at a later stage, linked to the raiser's resolved challenge."""
    stages = policy.recurring_start_stages
    if not stages or not linkable:
        return []
    return [
        text(
            plain(
                f"Reoccurring issue: it may start at {stage_title(policy, stages[0])}, linked to the earlier "
                "challenge."
            ),
            weight="Bolder",
        ),
        choice_input(
            ids.RECURRING_OF,
            "Reoccurring after (optional)",
            [("No: this is a new issue", ""), *((label, reference) for reference, label in linkable)],
            value=values.get(ids.RECURRING_OF) or "",
            style="expanded",
        ),
    ]


_StepBuilder = Callable[[Policy, Directory, Mapping[str, str], date | None, str | None], list[Element]]

_STEP_BUILDERS: dict[str, _StepBuilder] = {
    "child": _child_step,
    "challenged": _challenged_step,
    "issue": _issue_step,
    "urgency": _urgency_step,
}


def _optional(label: str, optional: bool) -> str:
    return f"{label} (optional)" if optional else label


# ----- checking a step ------------------------------------------------------------------------------------


#: The engine's names of a raising form's fields, where the card's input ids differ.
_INPUT_OF = {
    "child.name": ids.CHILD_NAME,
    "child.date_of_birth": ids.DATE_OF_BIRTH,
    "child.agency_reference": ids.AGENCY_REFERENCE,
}

#: The engine's part of the form each step of the card asks.
_PART_OF = {"child": "child", "challenged": "challenged", "issue": "issue", "urgency": "start"}


def validate_raise_step(
    step: str,
    values: Mapping[str, str],
    *,
    policy: Policy | None,
    directory: Directory,
    today: date | None,
    policies: Sequence[Policy] = (),
    raiser_agency_id: str | None = None,
    now: datetime | None = None,
) -> dict[str, str]:
    """What is wrong with one step's answers, as input id -> message; empty when the step can go on.

    The procedure's rules are the engine's own checks (`Engine.check_form`), the ones raising makes; the card
    adds only what is about reading its inputs (a date typed as text, the urgent switch, an entry field
    filled for another stage). `policies`, when given, are the procedures the `process` step may choose from.
    """
    errors: dict[str, str] = {}
    if step == "process":
        chosen = _value(values, ids.POLICY_ID)
        if not chosen:
            errors[ids.POLICY_ID] = "Choose the procedure this challenge follows."
        elif policies and chosen not in {p.id for p in policies}:
            errors[ids.POLICY_ID] = "Choose one of the procedures listed."
        return errors
    if step not in RAISE_STEPS:
        raise ValueError(f"unknown raising step {step!r}; the steps are {', '.join(RAISE_STEPS)}")
    if policy is None:
        return {ids.POLICY_ID: "Choose the procedure this challenge follows first."}
    engine = Engine(policy, directory)
    if now is None:
        day = today or engine.calendar.local_date(datetime.now(UTC))
        now = datetime.combine(day, time(12), tzinfo=ZoneInfo(engine.calendar.timezone))
    _check_lengths(step, values, errors)
    if step == "child":
        raw = _value(values, ids.DATE_OF_BIRTH)
        if raw and policy.child_fields.date_of_birth != "absent" and _parse_date(raw) is None:
            errors[ids.DATE_OF_BIRTH] = "Give the date of birth as a date like 2019-03-14."
    elif step == "urgency":
        _check_urgency_inputs(policy, values, errors)
    request = raise_request_from(values, policy=policy, lenient=True)
    named = {spec.id for spec in policy.named_roles}
    for field, reason in engine.check_form(request, raiser_agency_id, now, [_PART_OF[step]]).items():
        errors.setdefault(ids.named_id(field) if field in named else _INPUT_OF.get(field, field), reason)
    return errors


def _value(values: Mapping[str, str], key: str) -> str:
    value = values.get(key)
    return value.strip() if isinstance(value, str) else ""


#: The text inputs of each step and their limits (prefixed ids: every input with that prefix).
_LIMITS: dict[str, dict[str, int]] = {
    "child": {ids.CHILD_NAME: MAX_NAME, ids.AGENCY_REFERENCE: MAX_NAME},
    "challenged": {ids.CHALLENGED_NAME: MAX_NAME, ids.CHALLENGED_EMAIL: MAX_NAME},
    "issue": {ids.CONCERN: MAX_TEXT, ids.DESIRED_OUTCOME: MAX_TEXT, ids.NAMED_PREFIX: MAX_NAME},
    "urgency": {ids.START_REASON: MAX_TEXT, ids.INFORMAL_EVIDENCE: MAX_TEXT, ids.ENTRY_PREFIX: MAX_TEXT},
}
_PREFIXES = (ids.NAMED_PREFIX, ids.ENTRY_PREFIX)


def _check_lengths(step: str, values: Mapping[str, str], errors: dict[str, str]) -> None:
    """Refuse, saying the limit, every text of this step that is longer than its limit (never cut it)."""
    limits = _LIMITS.get(step, {})
    for key in values:
        prefix = next((p for p in _PREFIXES if key.startswith(p)), None)
        limit = limits.get(prefix) if prefix is not None else limits.get(key)
        if limit is not None:
            _check_length(values, key, limit, errors)


def _check_length(values: Mapping[str, str], key: str, limit: int, errors: dict[str, str]) -> None:
    length = len(_value(values, key))
    if length > limit and key not in errors:
        errors[key] = f"This is {length:,} characters; the limit is {limit:,}. Please shorten it."


def _check_urgency_inputs(policy: Policy, values: Mapping[str, str], errors: dict[str, str]) -> None:
    """What only the card can get wrong at the urgency step: the switch, the stage number, entry fields."""
    urgent = _value(values, ids.URGENT)
    if urgent not in ("", ids.TOGGLE_ON, ids.TOGGLE_OFF):
        errors[ids.URGENT] = "Switch urgent on or off."
    start = _start_stage(values)
    if start is None:
        errors[ids.START_STAGE] = "Choose one of the stages listed."
    for number in policy.urgent_start_stages:
        for field in policy.stage(number).entry_fields:
            key = ids.raise_entry_id(field.id)
            if _value(values, key) and start != number:
                errors[key] = f"Leave this empty unless the challenge starts at stage {number}."
            _check_length(values, key, MAX_TEXT, errors)


def _start_stage(values: Mapping[str, str]) -> int | None:
    raw = _value(values, ids.START_STAGE) or "1"
    return int(raw) if raw.isdigit() else None


def _parse_date(raw: str) -> date | None:
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw):
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        return None


# ----- the request --------------------------------------------------------------------------------------


def raise_request_from(
    values: Mapping[str, str], *, policy: Policy | None = None, lenient: bool = False
) -> RaiseRequest:
    """The engine's request from the form's collected values (checked by `validate_raise_step` first).

    Entry fields typed for the starting stage (`entry_<field id>`) become the request's `fields`; with
    `policy`, only the starting stage's own fields are kept. Raises ValueError on a malformed date or stage,
    unless `lenient` (for checking a step), which leaves them out.
    """
    raw_birth = _value(values, ids.DATE_OF_BIRTH)
    born = _parse_date(raw_birth) if raw_birth else None
    if raw_birth and born is None and not lenient:
        raise ValueError("the date of birth is not a date like 2019-03-14")
    start = _start_stage(values)
    if start is None:
        if not lenient:
            raise ValueError("the starting stage is not a stage number")
        start = 1
    recurring_of = _value(values, ids.RECURRING_OF) or None
    if recurring_of and policy is not None and policy.recurring_start_stages:
        start = policy.recurring_start_stages[0]
    person_id = _value(values, ids.CHALLENGED_PERSON_ID)
    listed = bool(person_id) and person_id != ids.NOT_LISTED
    fields = _prefixed(values, ids.ENTRY_PREFIX)
    if policy is not None:
        own = {f.id for f in policy.stage(start).entry_fields} if start <= len(policy.stages) else set()
        fields = {key: value for key, value in fields.items() if key in own}
    return RaiseRequest(
        child=ChildDetails(
            name=_value(values, ids.CHILD_NAME),
            date_of_birth=born,
            agency_reference=_value(values, ids.AGENCY_REFERENCE) or None,
        ),
        challenged_agency_id=_value(values, ids.CHALLENGED_AGENCY_ID),
        issue_category=_value(values, ids.ISSUE_CATEGORY),
        concern=_value(values, ids.CONCERN),
        desired_outcome=_value(values, ids.DESIRED_OUTCOME),
        challenged_person_id=person_id if listed else None,
        challenged_name=None if listed else _value(values, ids.CHALLENGED_NAME) or None,
        challenged_email=None if listed else _value(values, ids.CHALLENGED_EMAIL) or None,
        informal_evidence=_value(values, ids.INFORMAL_EVIDENCE) or None,
        urgent=_value(values, ids.URGENT) == ids.TOGGLE_ON,
        start_stage=start,
        fields=fields,
        priority=_value(values, ids.PRIORITY) or None,
        recurring_of=recurring_of,
        start_reason=_value(values, ids.START_REASON) or None,
        named=_prefixed(values, ids.NAMED_PREFIX),
    )


def _prefixed(values: Mapping[str, str], prefix: str) -> dict[str, str]:
    """The inputs whose ids start with `prefix`, by the rest of the id, trimmed; empty ones left out."""
    return {
        key[len(prefix) :]: value.strip()
        for key, value in values.items()
        if key.startswith(prefix) and isinstance(value, str) and value.strip()
    }


# ----- review and cancel --------------------------------------------------------------------------------


def raise_review_card(
    *,
    policy: Policy,
    directory: Directory,
    values: Mapping[str, str],
    error: str | None = None,
    step_number: int | None = None,
    step_count: int | None = None,
    draft_id: str = "",
    revision: int = 0,
    preview: Decision | None = None,
    raiser_id: str | None = None,
    same_child: Sequence[str] = (),
) -> Card:
    """Everything entered, to check before it is sent; `error` (the engine's refusal) is shown at the top.

    `same_child` are the references of the raiser's own open challenges of this partnership about a child
    with the same agency reference: said under the child's details, by reference only.

    `preview` is what raising this form would do (the engine's answer, the one the raise itself uses), so
    "Who will be told" names only the people its notifications go to; a part the procedure names that nobody
    holds is said to have nobody. Without a preview (the engine would refuse the form) nobody is named.
    """
    wording = policy.form
    body: list[Element] = []
    if error:
        body.append(
            container(
                [
                    text("Not raised yet", weight="Bolder", color="Attention"),
                    text(plain(error), color="Attention"),
                ],
                style="attention",
            )
        )
    body += [heading("Check your challenge", size="Medium")]
    if step_number is not None and step_count is not None:
        body.append(text(_step_line(policy, step_number, step_count), subtle=True, spacing="None"))
    body += [
        text(
            plain(f"{policy.partnership}: {policy.procedure}. Nothing is sent until you confirm."),
            subtle=True,
            spacing="None",
        ),
        section("The child"),
        text("Shown only to the people involved, in their own chats with me.", subtle=True, spacing="None"),
        facts(_child_facts(policy, values)),
        *_same_child(same_child),
        section("Who you are challenging"),
        facts(_challenged_facts(directory, values)),
        section("The issue"),
    ]
    issue_facts = []
    if policy.issue_categories:
        category = policy.category(_value(values, ids.ISSUE_CATEGORY))
        issue_facts.append(("Identified issue", plain(category.label if category else "Not chosen")))
    if policy.priorities:
        priority = policy.priority(_value(values, ids.PRIORITY))
        issue_facts.append(("Priority", plain(priority.label if priority else "Not chosen")))
    for spec in policy.named_roles:
        named = _value(values, ids.named_id(spec.id))
        if named:
            issue_facts.append((spec.title, plain(named)))
    if issue_facts:
        body.append(facts(issue_facts))
    body += _long_text(wording.concern_label, _value(values, ids.CONCERN))
    body += _long_text(wording.desired_outcome_label, _value(values, ids.DESIRED_OUTCOME))
    body.append(section("Urgency and stage"))
    start = _start_stage(values) or 1
    urgent = _value(values, ids.URGENT) == ids.TOGGLE_ON
    recurring = _value(values, ids.RECURRING_OF)
    start = policy.recurring_start_stages[0] if recurring and policy.recurring_start_stages else start
    starts_at = stage_title(policy, start) if start <= len(policy.stages) else f"Stage {start}"
    lines = [("Urgent", "Yes" if urgent else "No"), ("Starts at", plain(starts_at))]
    if recurring:
        lines.append(("Reoccurring after", plain(recurring)))
    reason = _value(values, ids.START_REASON)
    if reason and start != 1:
        lines.append(("Why it starts there", plain(reason)))
    body.append(facts(lines))
    evidence = _value(values, ids.INFORMAL_EVIDENCE)
    if evidence:
        body += _long_text(informal_evidence_label(policy), evidence)
    if start <= len(policy.stages):
        for field in policy.stage(start).entry_fields:
            body += _long_text(field.label, _value(values, ids.raise_entry_id(field.id)))
        body.append(section("Who will be told"))
        if preview is None:
            body.append(
                text("Nobody yet: as the form stands it cannot be raised (confirming says why).", subtle=True)
            )
        else:
            body.append(facts(_told(policy, start, preview, raiser_id)))
    data = form_data(REVIEW_STEP, draft_id, revision)
    actions = [
        execute("Confirm and raise", verbs.RAISE_CONFIRM, data, inputs="none", style="positive"),
        execute("Back", verbs.RAISE_BACK, data, inputs="none"),
        execute("Cancel", verbs.RAISE_CANCEL, data, inputs="none", style="destructive"),
    ]
    return card(body, actions=actions)


def _same_child(references: Sequence[str]) -> list[Element]:
    if not references:
        return []
    listed = ", ".join(references)
    many = len(references) > 1
    return [
        text(
            plain(
                f"You already have {'open challenges' if many else 'an open challenge'} about a child with this "
                f"agency reference: {listed}. Check {'they are' if many else 'it is'} not the same issue "
                "before you raise another."
            ),
            color="Warning",
        )
    ]


def _child_facts(policy: Policy, values: Mapping[str, str]) -> list[tuple[str, str]]:
    wording = policy.form
    raw_birth = _value(values, ids.DATE_OF_BIRTH)
    born = _parse_date(raw_birth) if raw_birth else None
    birth = day(born, weekday=False) if born else raw_birth or "Not given"
    lines = [(policy.child_fields.name_label, plain(_value(values, ids.CHILD_NAME) or "Not given"))]
    if policy.child_fields.date_of_birth != "absent":
        lines.append((wording.date_of_birth_label, plain(birth)))
    if policy.child_fields.agency_reference != "absent":
        lines.append(
            (wording.agency_reference_label, plain(_value(values, ids.AGENCY_REFERENCE) or "Not given"))
        )
    return lines


def _challenged_facts(directory: Directory, values: Mapping[str, str]) -> list[tuple[str, str]]:
    agency = directory.agency(_value(values, ids.CHALLENGED_AGENCY_ID))
    person = directory.person(_value(values, ids.CHALLENGED_PERSON_ID))
    if person is not None:
        who = f"{person.name} — {person.job_title}" if person.job_title else person.name
    else:
        name = _value(values, ids.CHALLENGED_NAME) or "Not given"
        email = _value(values, ids.CHALLENGED_EMAIL)
        who = f"{name} ({email})" if email else name
    return [("Agency", plain(agency.name if agency else "Not chosen")), ("Professional", plain(who))]


def _long_text(label: str, value: str) -> list[Element]:
    return [text(plain(label), weight="Bolder", spacing="Small"), text(plain(value or "Not given"))]


def _told(policy: Policy, start: int, preview: Decision, raiser_id: str | None) -> list[tuple[str, str]]:
    """Who the raise would tell, from its notifications: by the part the procedure gives them at the starting
    stage, then anyone else told (the agency's escalation contacts, people standing in), then each part the
    procedure names that nobody holds, said plainly."""
    stage = policy.stage(start)
    parties = preview.challenge.parties
    told = preview.notifications
    lines: list[tuple[str, str]] = []
    named: set[str] = set()
    to_act: set[str] = set()
    nobody: dict[RoleId, str] = {}
    for label, verb, roles in (
        ("To act", "asked to act", stage.challenged_side),
        ("Consulted", "consulted", stage.consult),
        ("Informed", "informed", stage.informed),
        ("Copied in", "copied in", policy.copied_in_at(start)),
    ):
        names: list[str] = []
        for role in roles:
            title = policy.role_title(role)
            holder = parties.get(role)
            if holder is not None and raiser_id is not None and holder.person_id == raiser_id:
                names.append(f"You ({title})")
                continue
            people = [n.recipient for n in told if role in n.roles]
            if not people:
                nobody.setdefault(role, verb)
            for contact in people:
                named.add(contact.key)
                if label == "To act":
                    to_act.add(contact.key)
                names.append(_named(contact, title))
        if names:
            lines.append((label, plain(and_list(names))))
    # Asked to act besides the challenged side (the raiser's side above stage 1, people standing in), and told
    # with no part named above (the agency's escalation contacts).
    for label, others in (
        ("Also asked to act", [n for n in told if n.action_needed and n.recipient.key not in to_act]),
        ("Also told", [n for n in told if not n.action_needed and n.recipient.key not in named]),
    ):
        if others:
            names = [_named(n.recipient, roles_text(n.roles, policy)) for n in others]
            lines.append((label, plain(and_list(names))))
    for role, verb in nobody.items():
        if any(way.who == "named" for way in policy.role(role).found):
            why = f"nobody is named on this form, so nobody is {verb} in it"
        else:
            why = (
                f"nobody is recorded in the directory who can hold this part, so nobody is {verb} in it; "
                f"ask the {policy.short_name} business unit to add them"
            )
        lines.append((policy.role_title(role), plain(why)))
    return lines


def _named(contact: Contact, title: str) -> str:
    """ "Megan Bowen (Professional)"; a mailbox named for its part, "Business Manager for QRT", by that name."""
    return title if contact.name == title or not title else f"{contact.name} ({title})"


def raise_cancelled_card() -> Card:
    """Said when the raiser cancels: nothing was sent, and the answers are gone."""
    return card(
        [
            heading("Challenge not raised", size="Medium"),
            text("Nothing was sent, and your answers have been discarded. Type raise to start again."),
        ]
    )


#: Shown above the current step when a button of any other raising card is pressed.
OUT_OF_DATE = (
    "That card was out of date (a later card of this form replaced it), so nothing was changed. "
    "Here is where your form is now."
)


def raise_ended_card(how: str, *, hours: int | None = None) -> Card:
    """Said when a button of a form that has ended is pressed: `how` is "expired", "cancelled" or "ended"
    (not known: raised by someone else's card, or ended so long ago it is forgotten). Nothing is changed."""
    if how == "expired":
        kept = f"{hours} hours" if hours is not None else "a limited time"
        title = "This form has expired"
        words = (
            f"Unfinished forms are kept for {kept}, then their answers are deleted, so nothing was sent. "
            "Type raise to start again."
        )
    elif how == "cancelled":
        title = "This form was cancelled"
        words = "Nothing was sent, and its answers were discarded. Type raise to start again."
    else:
        title = "This form has ended"
        words = "Nothing was changed. Type raise to start a new challenge, or my challenges to see yours."
    return card([heading(title, size="Medium"), text(words)])


def raise_draft_open_card(
    *, policy: Policy | None, step_title: str, started: str, draft_id: str, revision: int
) -> Card:
    """Said when `raise` is asked for while the person has a form open: go on with it, or discard it and
    start again. `started` is when it was started, as shown to people."""
    what = f"under the {policy.short_name} procedure " if policy is not None else ""
    data = {ids.DRAFT_ID: draft_id, ids.REVISION: revision}
    return card(
        [
            heading("You have a challenge you have not finished", size="Medium"),
            text(
                plain(
                    f"You started raising a challenge {what}on {started}; it is at: {step_title}. "
                    "Go on with it, or discard its answers and start again."
                )
            ),
        ],
        actions=[
            execute("Continue it", verbs.RAISE_CONTINUE, data, inputs="none", style="positive"),
            execute(
                "Discard it and start again", verbs.RAISE_DISCARD, data, inputs="none", style="destructive"
            ),
        ],
    )
