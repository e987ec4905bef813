"""The raising form: every step of both partnerships' forms, with and without errors, the review and cancel.

The step cards keep what was typed, show each error in red right under its input, and speak the
partnership's own form; a form filled in on the cards gives a request the real engine accepts.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from cards import inputs as ids
from cards import verbs
from cards.raise_form import (
    RAISE_STEPS,
    raise_cancelled_card,
    raise_request_from,
    raise_review_card,
    raise_step_card,
    validate_raise_step,
)
from process.directory import Directory
from process.directory_file import load_directory_file
from process.engine import Engine
from process.policy import Policy, Role
from tests.cardcheck import assert_valid_card
from tests.cards.scenarios import DIRECTORY, POLICIES, button_actions, input_ids, of_type, readable
from tests.support.people import MONDAY_MORNING, holder

TODAY = date(2026, 11, 23)
ALL = list(POLICIES.values())
DEMO = load_directory_file()


def filled(partnership: str, **changes: str) -> dict[str, str]:
    """Every answer of the form, as Teams sends them, for a challenge against the invented professional."""
    values = {
        ids.POLICY_ID: partnership,
        ids.CHILD_NAME: "Jordan Testchild",
        ids.DATE_OF_BIRTH: "2019-03-14",
        ids.AGENCY_REFERENCE: "INV-0001",
        ids.CHALLENGED_AGENCY_ID: f"{partnership}_b",
        ids.CHALLENGED_PERSON_ID: f"{partnership}_challenged",
        ids.CHALLENGED_NAME: "",
        ids.CHALLENGED_EMAIL: "",
        ids.ISSUE_CATEGORY: POLICIES[partnership].issue_categories[0].id,
        ids.CONCERN: "No report was provided to the review conference.",
        ids.DESIRED_OUTCOME: "A written report shared with the family before the next review.",
        ids.URGENT: ids.TOGGLE_OFF,
        ids.START_STAGE: "1",
        ids.INFORMAL_EVIDENCE: "",
    }
    values.update(changes)
    return values


def step_card(
    step: str,
    policy: Policy | None,
    values: dict[str, str],
    errors: dict[str, str] | None = None,
    *,
    directory: Directory = DIRECTORY,
    number: int = 2,
    **extra: Any,
) -> dict[str, Any]:
    return raise_step_card(
        step,
        policies=ALL,
        policy=policy,
        directory=directory,
        values=values,
        errors=errors or {},
        step_number=number,
        step_count=len(RAISE_STEPS),
        today=TODAY,
        **extra,
    )


def check(step: str, values: dict[str, str], policy: Policy | None, **extra: Any) -> dict[str, str]:
    return validate_raise_step(step, values, policy=policy, directory=DIRECTORY, today=TODAY, **extra)


CASES = [(p, step) for p in POLICIES for step in RAISE_STEPS]


@pytest.mark.parametrize(("partnership", "step"), CASES)
@pytest.mark.parametrize("directory", [DIRECTORY, DEMO], ids=["role directory", "demo directory"])
def test_every_step_is_a_valid_card_empty_and_filled(
    partnership: str, step: str, directory: Directory
) -> None:
    policy = POLICIES[partnership]
    for number in (1, 3, len(RAISE_STEPS)):
        assert_valid_card(step_card(step, policy, {}, directory=directory, number=number))
        assert_valid_card(step_card(step, policy, filled(partnership), directory=directory, number=number))


@pytest.mark.parametrize(("partnership", "step"), CASES)
def test_each_error_is_shown_in_red_right_under_its_input(partnership: str, step: str) -> None:
    policy = POLICIES[partnership]
    empty = {ids.URGENT: ids.TOGGLE_ON, ids.START_STAGE: "4"} if step == "urgency" else {}
    errors = check(step, empty, policy if step != "process" else None, policies=ALL)
    assert errors, step
    card = step_card(step, policy, empty, errors)
    assert_valid_card(card)
    body = card["body"]
    shown = set(input_ids(card))
    marked = any(field in shown for field in errors)
    assert body[2]["type"] == "Container"
    assert ("Please check the answers marked in red." in readable(body[2])) is marked
    placed = 0
    for index, element in enumerate(body):
        if element.get("id") in errors:
            below = body[index + 1]
            assert below["type"] == "TextBlock" and below["color"] == "Attention"
            assert below["text"].replace("\\", "") == errors[element["id"]].replace("\\", "")
            placed += 1
    assert placed == len([f for f in errors if f in shown])
    for field, message in errors.items():
        if field not in shown:
            assert message in readable(body[2])


@pytest.mark.parametrize(("partnership", "step"), CASES)
def test_what_was_typed_is_kept_on_the_card(partnership: str, step: str) -> None:
    values = filled(partnership)
    card = step_card(step, POLICIES[partnership], values)
    for element in of_type(card, "Input.Text") + of_type(card, "Input.Date"):
        if values.get(element["id"]):
            assert element["value"] == values[element["id"]]
    for element in of_type(card, "Input.ChoiceSet"):
        assert element["value"] == values[element["id"]]


@pytest.mark.parametrize("step", RAISE_STEPS)
def test_buttons_go_next_back_and_cancel_with_the_form_its_step_and_revision(step: str) -> None:
    form = {"draft_id": "draft-1", "revision": 3}
    first = step_card(step, POLICIES["durham"], {}, number=1, **form)
    assert [(a["title"], a["verb"]) for a in first["actions"]] == [
        ("Next", verbs.RAISE_NEXT),
        ("Cancel", verbs.RAISE_CANCEL),
    ]
    last = step_card(step, POLICIES["durham"], {}, number=len(RAISE_STEPS), **form)
    assert [(a["title"], a["verb"]) for a in last["actions"]] == [
        ("Review", verbs.RAISE_NEXT),
        ("Back", verbs.RAISE_BACK),
        ("Cancel", verbs.RAISE_CANCEL),
    ]
    for action in first["actions"] + last["actions"]:
        assert action["data"] == {"step": step, "draftId": "draft-1", "revision": 3}
    assert last["actions"][2]["associatedInputs"] == "none"


def test_process_step_offers_each_partnerships_procedure() -> None:
    card = step_card("process", None, {}, number=1)
    choices = of_type(card, "Input.ChoiceSet")[0]
    assert [c["value"] for c in choices["choices"]] == ["durham", "rochdale"]
    assert (
        "Durham Safeguarding Children Partnership: Multi-Agency Professional Challenge/Resolution"
        in readable(card)
    )


def test_child_step_uses_each_forms_labels_and_keeps_dates_of_birth_in_the_past() -> None:
    durham = step_card("child", POLICIES["durham"], {})
    # The Compliance Challenge Form asks for the family name only.
    assert "Family name" in readable(durham)
    assert input_ids(durham) == [ids.CHILD_NAME]
    rochdale = step_card("child", POLICIES["rochdale"], {})
    words = readable(rochdale)
    assert "Name of Child/Young Person" in words and "D.O.B" in words and "Agency Reference Number" in words
    assert "(optional)" not in words
    assert of_type(rochdale, "Input.Date")[0]["max"] == "2026-11-23"


def test_challenged_step_lists_the_partnerships_agencies_and_people_but_not_the_raisers_own() -> None:
    policy = POLICIES["durham"]
    card = step_card("challenged", policy, {}, raiser_agency_id="durham_a")
    agencies, people = of_type(card, "Input.ChoiceSet")
    assert {c["value"] for c in agencies["choices"]} == {"durham_b", "durham_c", "durham_d", "durham_u"}
    titles = [c["title"] for c in people["choices"]]
    assert "Charlie Challenged — Challenged Agency" in titles
    assert not any("Raiser" in t and "Raising Agency" in t for t in titles)
    assert not any(c["value"].startswith("rochdale") for c in people["choices"])
    assert people["choices"][-1] == {"title": "Not listed: give name and email", "value": ids.NOT_LISTED}
    demo = step_card("challenged", policy, {}, directory=DEMO)
    assert any(
        " — " in t and ", " in t for t in [c["title"] for c in of_type(demo, "Input.ChoiceSet")[1]["choices"]]
    )


def test_issue_step_asks_in_the_partnerships_words() -> None:
    durham = readable(step_card("issue", POLICIES["durham"], {}))
    assert "The IRO's concern" in durham and "What we would like to see happening" in durham
    assert "Reports not shared with family within timescale for meeting" in durham
    rochdale = readable(step_card("issue", POLICIES["rochdale"], {}))
    assert "Summary of Challenge" in rochdale
    assert "Detail desired outcome and resolution, required from this professional challenge" in rochdale
    for card in (step_card("issue", POLICIES["durham"], {}), step_card("issue", POLICIES["rochdale"], {})):
        for area in of_type(card, "Input.Text"):
            if area["id"].startswith(ids.NAMED_PREFIX):
                continue  # an email, not a text to write
            # Teams would cut a longer text silently: the limit is said, and checked when sent.
            assert area["isMultiline"] and "maxLength" not in area
            assert area["placeholder"] == "Up to 4,000 characters"
    # Rochdale stage 1: "Inform the lead professional/ chair at this stage": the raiser may name them.
    assert "Lead professional / chair: their work email (optional; they are told)" in rochdale


def test_rochdale_urgency_step_offers_stages_3_and_4_with_the_telephone_principle() -> None:
    card = step_card("urgency", POLICIES["rochdale"], {})
    words = readable(card)
    start = next(c for c in of_type(card, "Input.ChoiceSet") if c["id"] == ids.START_STAGE)
    assert [c["value"] for c in start["choices"]] == ["1", "3", "4"]
    assert (
        "the onus is on the professional invoking the escalation to contact the relevant person by telephone"
        in words
    )
    assert "Evidence of informal attempts to resolve (required to start at stage 3 or 4)" in words
    assert "Evidence of Informal Challenge at Stages 1-2 and the Outcome" in words
    assert "A child at immediate risk is not a challenge." in words
    assert ids.raise_entry_id("stage_3_steps") in input_ids(card)


def test_durham_urgency_step_has_no_later_start() -> None:
    card = step_card("urgency", POLICIES["durham"], {})
    assert ids.START_STAGE not in input_ids(card)
    assert "Evidence of informal attempts to resolve (optional)" in readable(card)


@pytest.mark.parametrize(
    ("step", "changes", "field", "message"),
    [
        ("child", {ids.CHILD_NAME: " "}, ids.CHILD_NAME, "Please fill in the name of child/young person."),
        ("child", {ids.DATE_OF_BIRTH: "14/03/2019"}, ids.DATE_OF_BIRTH, "like 2019-03-14"),
        ("child", {ids.DATE_OF_BIRTH: "2019-02-30"}, ids.DATE_OF_BIRTH, "like 2019-03-14"),
        ("child", {ids.DATE_OF_BIRTH: "2026-11-24"}, ids.DATE_OF_BIRTH, "in the future"),
        ("child", {ids.DATE_OF_BIRTH: "1990-01-01"}, ids.DATE_OF_BIRTH, "of an adult"),
        ("child", {ids.AGENCY_REFERENCE: ""}, ids.AGENCY_REFERENCE, "agency reference number"),
        ("child", {ids.CHILD_NAME: "x" * 201}, ids.CHILD_NAME, "201 characters; the limit is 200"),
        ("challenged", {ids.CHALLENGED_AGENCY_ID: ""}, ids.CHALLENGED_AGENCY_ID, "Choose the agency"),
        ("challenged", {ids.CHALLENGED_AGENCY_ID: "durham_b"}, ids.CHALLENGED_AGENCY_ID, "RBSCP list"),
        (
            "challenged",
            {ids.CHALLENGED_AGENCY_ID: "rochdale_a"},
            ids.CHALLENGED_AGENCY_ID,
            "between agencies",
        ),
        (
            "challenged",
            {ids.CHALLENGED_PERSON_ID: "rochdale_raiser"},
            ids.CHALLENGED_PERSON_ID,
            "Riley Raiser does not work for Challenged Agency.",
        ),
        (
            "challenged",
            {ids.CHALLENGED_PERSON_ID: "gone"},
            ids.CHALLENGED_PERSON_ID,
            "no longer in the directory",
        ),
        (
            "challenged",
            {ids.CHALLENGED_PERSON_ID: ids.NOT_LISTED, ids.CHALLENGED_NAME: "Pat Newperson"},
            ids.CHALLENGED_EMAIL,
            "Give their work email",
        ),
        (
            "challenged",
            {ids.CHALLENGED_PERSON_ID: "", ids.CHALLENGED_NAME: "Pat", ids.CHALLENGED_EMAIL: "pat at x"},
            ids.CHALLENGED_EMAIL,
            "does not look like an email address",
        ),
        (
            "challenged",
            {ids.CHALLENGED_PERSON_ID: "", ids.CHALLENGED_NAME: "", ids.CHALLENGED_EMAIL: "pat@x.example"},
            ids.CHALLENGED_NAME,
            "give their name",
        ),
        (
            "challenged",
            {
                ids.CHALLENGED_PERSON_ID: "",
                ids.CHALLENGED_NAME: "R",
                ids.CHALLENGED_EMAIL: "raiser@rochdale.example",
            },
            ids.CHALLENGED_EMAIL,
            "someone at another agency",
        ),
        ("issue", {ids.ISSUE_CATEGORY: "made_up"}, ids.ISSUE_CATEGORY, "Choose one of the issues"),
        ("issue", {ids.CONCERN: ""}, ids.CONCERN, "Please fill in Summary of Challenge."),
        (
            "issue",
            {ids.DESIRED_OUTCOME: "y" * 4001},
            ids.DESIRED_OUTCOME,
            "4,001 characters; the limit is 4,000",
        ),
        ("urgency", {ids.START_STAGE: "3"}, ids.START_STAGE, "lets a challenge start at stage 3 when urgent"),
        (
            "urgency",
            {ids.START_STAGE: "2", ids.URGENT: ids.TOGGLE_ON},
            ids.START_STAGE,
            "stage 3 when urgent; stage 4 when urgent",
        ),
        (
            "urgency",
            {ids.START_STAGE: "3", ids.URGENT: ids.TOGGLE_ON},
            ids.INFORMAL_EVIDENCE,
            "Stage 3 needs the evidence of informal challenge",
        ),
        (
            "urgency",
            {
                ids.START_STAGE: "3",
                ids.URGENT: ids.TOGGLE_ON,
                ids.INFORMAL_EVIDENCE: "Spoke twice.",
                ids.raise_entry_id("stage_3_steps"): "A discussion.",
            },
            ids.raise_entry_id("stage_3_steps"),
            "unless the challenge starts at stage 4",
        ),
    ],
)
def test_rochdale_step_answers_are_checked_on_the_card(
    step: str, changes: dict[str, str], field: str, message: str
) -> None:
    values = filled("rochdale", **changes)
    errors = check(step, values, POLICIES["rochdale"], raiser_agency_id="rochdale_a")
    assert field in errors, errors
    assert message in errors[field]


def test_process_step_must_name_a_procedure_on_offer() -> None:
    assert check("process", {}, None) == {ids.POLICY_ID: "Choose the procedure this challenge follows."}
    assert check("process", {ids.POLICY_ID: "elsewhere"}, None, policies=ALL) == {
        ids.POLICY_ID: "Choose one of the procedures listed."
    }
    assert check("process", {ids.POLICY_ID: "rochdale"}, None, policies=ALL) == {}


@pytest.mark.parametrize(
    ("partnership", "changes"),
    [
        ("durham", {ids.DATE_OF_BIRTH: "", ids.AGENCY_REFERENCE: ""}),
        ("rochdale", {}),
        (
            "rochdale",
            {
                ids.CHALLENGED_PERSON_ID: ids.NOT_LISTED,
                ids.CHALLENGED_NAME: "Pat Newperson",
                ids.CHALLENGED_EMAIL: "pat.newperson@school.example",
            },
        ),
        (
            "rochdale",
            {
                ids.URGENT: ids.TOGGLE_ON,
                ids.START_STAGE: "4",
                ids.INFORMAL_EVIDENCE: "Practitioners and line managers spoke twice.",
                ids.raise_entry_id("stage_3_steps"): "A multi-agency discussion was held.",
                ids.raise_entry_id("unresolved_elements"): "School transport.",
            },
        ),
    ],
)
def test_a_form_filled_on_the_cards_is_raised_by_the_engine(
    partnership: str, changes: dict[str, str]
) -> None:
    policy = POLICIES[partnership]
    values = filled(partnership, **changes)
    for step in RAISE_STEPS:
        assert check(step, values, policy if step != "process" else None, policies=ALL) == {}, step
    request = raise_request_from(values)
    engine = Engine(policy, DIRECTORY)
    decision = engine.raise_challenge(
        request, holder(partnership, Role.RAISER), MONDAY_MORNING, challenge_id="c", reference="R-1"
    )
    challenge = decision.challenge
    assert challenge.child.name == "Jordan Testchild"
    assert challenge.stage == int(values[ids.START_STAGE])
    assert challenge.urgent is (values[ids.URGENT] == ids.TOGGLE_ON)
    expected_fields = {
        key.removeprefix(ids.ENTRY_PREFIX): value
        for key, value in values.items()
        if key.startswith(ids.ENTRY_PREFIX)
    }
    assert dict(challenge.fields) == expected_fields
    if changes.get(ids.CHALLENGED_EMAIL):
        assert challenge.parties[Role.CHALLENGED_PROFESSIONAL].email == "pat.newperson@school.example"
    else:
        assert challenge.parties[Role.CHALLENGED_PROFESSIONAL].person_id == f"{partnership}_challenged"


def test_request_keeps_only_the_starting_stages_fields_when_given_the_policy() -> None:
    values = filled(
        "rochdale", **{ids.raise_entry_id("stage_3_steps"): "Held.", ids.raise_entry_id("other"): "x"}
    )
    assert dict(raise_request_from(values, policy=POLICIES["rochdale"]).fields) == {}
    assert dict(raise_request_from(values).fields) == {"stage_3_steps": "Held.", "other": "x"}
    with pytest.raises(ValueError, match="date of birth"):
        raise_request_from(filled("rochdale", **{ids.DATE_OF_BIRTH: "14 March"}))


@pytest.mark.parametrize("partnership", POLICIES)
def test_review_card_shows_everything_entered_with_confirm_back_and_cancel(partnership: str) -> None:
    policy = POLICIES[partnership]
    values = filled(partnership, **{ids.CONCERN: "Concern with [a link](http://x)"})
    card = raise_review_card(
        policy=policy, directory=DIRECTORY, values=values, draft_id="draft-1", revision=4
    )
    assert_valid_card(card)
    words = readable(card)
    absent = {
        "14 Mar 2019": policy.child_fields.date_of_birth == "absent",
        "INV-0001": policy.child_fields.agency_reference == "absent",
    }
    for unasked, missing in absent.items():
        assert (unasked not in words) is missing, unasked
    for expected in (
        "Jordan Testchild",
        "Challenged Agency",
        "Charlie Challenged",
        policy.issue_categories[0].label,
        "Concern with [a link](http://x)",
        values[ids.DESIRED_OUTCOME],
        "Starts at: Stage 1 of",
        # No preview of the raise: nobody is named as told (the role's title is no person).
        "Who will be told\nNobody yet: as the form stands it cannot be raised",
    ):
        assert expected in words, expected
    assert [(a["verb"], a["data"]) for a in card["actions"]] == [
        (verbs.RAISE_CONFIRM, {"step": "review", "draftId": "draft-1", "revision": 4}),
        (verbs.RAISE_BACK, {"step": "review", "draftId": "draft-1", "revision": 4}),
        (verbs.RAISE_CANCEL, {"step": "review", "draftId": "draft-1", "revision": 4}),
    ]
    assert "To act" not in words and "Copied in" not in words


def test_review_card_shows_the_engines_refusal_at_the_top() -> None:
    card = raise_review_card(
        policy=POLICIES["durham"],
        directory=DIRECTORY,
        values=filled("durham"),
        error="The date of birth is in the future.",
    )
    assert_valid_card(card)
    assert "Not raised yet" in readable(card["body"][0])
    assert "The date of birth is in the future." in readable(card["body"][0])


def test_cancelled_card_says_nothing_was_sent() -> None:
    card = raise_cancelled_card()
    assert_valid_card(card)
    assert "Nothing was sent" in readable(card)
    assert not button_actions(card)


def test_challenged_step_without_agencies_says_so_instead_of_an_empty_list() -> None:
    empty = Directory.build(DIRECTORY.people.values(), [])
    card = step_card("challenged", POLICIES["durham"], {}, directory=empty)
    assert_valid_card(card)
    assert "No other agency of the DSCP is in the directory yet" in readable(card)
    assert not input_ids(card)


def test_a_notice_and_errors_about_other_steps_are_shown_at_the_top() -> None:
    card = step_card(
        "issue",
        POLICIES["durham"],
        {},
        {"_notice": "Use the card to go on with the form, or type cancel."},
        notice="Welcome back.",
    )
    assert_valid_card(card)
    assert readable(card["body"][2]) == "Welcome back."
    top = readable(card["body"][3])
    assert top == "Use the card to go on with the form, or type cancel."
