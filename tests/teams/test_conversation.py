"""Raising, answering, escalating and resolving a challenge in Teams, in process, for both procedures.

Each person talks through their own botbuilder TestAdapter. Alex Wilber (IRO), Megan Bowen (health visitor)
and the rest are the demo directory's invented people.
"""

from __future__ import annotations

from typing import Any

import pytest

from bot.wiring import Runtime
from cards import verbs as v
from process.challenge import (
    ChildDetails,
    ConfirmTimescale,
    ProposeOutcome,
    RaiseRequest,
    Refused,
)
from process.directory import Directory
from storage.directory import DirectoryStore
from tests.cardcheck import assert_valid_card
from tests.teams.harness import CHILD, Person, fill_rochdale_form_up_to_urgency, texts, verbs

ALEX = "00000000-0000-0000-0000-0000000000020"
MEGAN = "00000000-0000-0000-0000-0000000000021"
ADELE = "00000000-0000-0000-0000-0000000000022"
STRANGER = "99999999-0000-0000-0000-000000000099"


def alex(runtime: Runtime, **kw: Any) -> Person:
    return Person(runtime.bot, "Alex Wilber", ALEX, **kw)


def megan(runtime: Runtime, **kw: Any) -> Person:
    return Person(runtime.bot, "Megan Bowen", MEGAN, **kw)


async def walk_durham_form_to_the_issue(person: Person) -> dict[str, Any]:
    """Alex walks Durham's form up to the issue step; returns that step's card."""
    await person.say("raise")
    await person.press_on(person.last_card, v.RAISE_NEXT, policy_id="durham")
    await person.press_on(person.last_card, v.RAISE_NEXT, **CHILD)
    return await person.press_on(
        person.last_card,
        v.RAISE_NEXT,
        challenged_agency_id="health_visiting",
        challenged_person_id="megan",
    )


async def fill_durham_issue(person: Person, **more: str) -> dict[str, Any]:
    """The issue step answered (with `more` inputs); returns the review card."""
    return await person.press_on(
        person.last_card,
        v.RAISE_NEXT,
        issue_category="lack_of_report",
        concern="No health report was sent to the review conference.",
        desired_outcome="A report shared with the family before the next review.",
        **more,
    )


async def raise_durham(person: Person) -> dict[str, Any]:
    """Alex walks Durham's form; returns the challenge card he ends on."""
    await walk_durham_form_to_the_issue(person)
    card = await fill_durham_issue(person)
    assert v.RAISE_CONFIRM in verbs(card)
    return await person.press_on(person.last_card, v.RAISE_CONFIRM)


async def resolved_durham(runtime: Runtime) -> None:
    """DUR-2026-0001, raised by Alex and resolved by him at stage 1."""
    await raise_durham(alex(runtime))
    first = await runtime.service.find("DUR-2026-0001")
    assert first is not None
    # Durham 5.2: the IRO decides whether it is resolved informally, and records it alone.
    done = await runtime.service.act(first, first.version, ProposeOutcome("Report by Friday."), "alex")
    assert done.outcome == "applied", done.notice


async def test_install_sends_the_welcome_card_with_the_immediate_risk_route(runtime: Runtime) -> None:
    cards = await alex(runtime).install()
    assert len(cards) == 1
    assert_valid_card(cards[0])
    words = texts(cards[0])
    assert "immediate risk" in words and "EHASH" in words and "complaints" in words
    assert v.RAISE_START in verbs(cards[0])
    assert await runtime.conversations.for_user(ALEX) is not None


async def test_help_and_unknown_commands_get_the_command_list(runtime: Runtime) -> None:
    person = alex(runtime)
    help_card = await person.say_card("help")
    assert "my challenges" in texts(help_card)
    unknown = await person.say_card("please frobnicate")
    assert "frobnicate" in texts(unknown) and "my challenges" in texts(unknown)
    huge = await person.say_card("x" * 5000)
    assert "my challenges" in texts(huge)


async def test_durham_raise_walks_the_form_and_tells_the_professional(runtime: Runtime) -> None:
    person = alex(runtime)
    card = await raise_durham(person)
    assert_valid_card(card)
    assert "DUR-2026-0001" in texts(card)
    assert "Robin Inventedchild" in texts(card)  # a party's own 1:1 card
    stored = await runtime.service.find("DUR-2026-0001")
    assert stored is not None and stored.stage == 1
    assert stored.parties["challenged_professional"].person_id == "megan"  # type: ignore[index]


async def test_raise_step_errors_are_shown_by_the_input_and_the_input_is_kept(runtime: Runtime) -> None:
    person = alex(runtime)
    await person.say("raise")
    await person.press_on(person.last_card, v.RAISE_NEXT, policy_id="rochdale")
    card = await person.press_on(
        person.last_card, v.RAISE_NEXT, child_name="", date_of_birth="2099-01-01", agency_reference="KEPT-1"
    )
    assert_valid_card(card)
    words = texts(card)
    assert "KEPT-1" in words and "future" in words.lower()
    back = await person.press_on(person.last_card, v.RAISE_BACK)
    assert "durham" in str(back).lower()


async def test_raise_can_be_cancelled_by_button_or_by_typing(runtime: Runtime) -> None:
    person = alex(runtime)
    await person.say("raise")
    cancelled = await person.press_on(person.last_card, v.RAISE_CANCEL)
    assert "not raised" in texts(cancelled).lower()
    form = await person.say_card("raise")
    typed = await person.say_card("cancel")
    assert "not raised" in texts(typed).lower()
    late = await person.press_on(form, v.RAISE_NEXT, policy_id="durham")
    assert "cancelled" in texts(late).lower() and "raise" in texts(late).lower()
    assert await runtime.service.find("DUR-2026-0001") is None


async def test_cancel_with_no_form_open_says_there_was_nothing_to_cancel(runtime: Runtime) -> None:
    for _ in range(2):  # and typed again
        card = await alex(runtime).say_card("cancel")
        assert_valid_card(card)
        assert "nothing to cancel" in texts(card)
        assert "What I can do" in texts(card)


async def test_raise_in_a_group_chat_is_refused_to_keep_child_data_out(runtime: Runtime) -> None:
    group = alex(runtime, conversation_id="19:group@thread.v2", conversation_type="groupChat")
    card = await group.say_card("raise")
    assert "1:1" in texts(card)


async def test_stranger_not_in_the_directory_cannot_raise(runtime: Runtime) -> None:
    card = await Person(runtime.bot, "Unknown Person", STRANGER).say_card("raise")
    assert "directory" in texts(card)


async def test_someone_who_may_not_raise_under_a_procedure_is_told_at_its_first_step(
    runtime: Runtime,
) -> None:
    # Durham: "Where the Independent Review officer identifies an issue": the IRO raises. Megan is a health
    # visitor: she learns it when she chooses the procedure, not after filling in the form.
    person = megan(runtime)
    await person.say("raise")
    card = await person.press_on(person.last_card, v.RAISE_NEXT, policy_id="durham")
    assert "raised by the IRO" in texts(card)
    assert "Step 1 of" in texts(card)
    # Rochdale's procedure "applies to all professionals": she may go on under it.
    card = await person.press_on(person.last_card, v.RAISE_NEXT, policy_id="rochdale")
    assert "Step 2 of" in texts(card)


async def test_megan_responds_from_her_card_and_the_card_updates_in_place(runtime: Runtime) -> None:
    await raise_durham(alex(runtime))
    her = megan(runtime)
    listing = await her.say_card("my challenges")
    assert_valid_card(listing)
    assert "DUR-2026-0001" in texts(listing)
    assert "Your move: Megan Bowen \\(Professional\\), to respond" in texts(listing)
    card = await her.press(v.SHOW, {"reference": "DUR-2026-0001"})
    assert v.RESPOND in verbs(card)
    updated = await her.press_on(card, v.RESPOND, text="The report was sent this morning.")
    assert_valid_card(updated)
    assert "The report was sent this morning." in texts(updated)
    stored = await runtime.service.find("DUR-2026-0001")
    assert stored is not None and stored.version == 2 and stored.awaiting is not None
    assert stored.awaiting.value == "raiser_side"


async def test_a_replayed_stale_card_gets_the_current_card_and_changes_nothing(runtime: Runtime) -> None:
    await raise_durham(alex(runtime))
    her = megan(runtime)
    card = await her.press(v.SHOW, {"reference": "DUR-2026-0001"})
    await her.press_on(card, v.RESPOND, text="First answer.")
    replay = await her.press_on(card, v.RESPOND, text="Second answer from an old card.")
    assert "out of date" in texts(replay)
    stored = await runtime.service.find("DUR-2026-0001")
    assert stored is not None and stored.version == 2
    assert [e.text for e in stored.entries] == ["First answer."]


async def test_an_action_forged_for_someone_elses_part_is_refused(runtime: Runtime) -> None:
    await raise_durham(alex(runtime))
    stored = await runtime.service.find("DUR-2026-0001")
    assert stored is not None
    # Adele is Megan's line manager: a party, but stage 1 is Megan's to answer.
    adele = Person(runtime.bot, "Adele Vance", ADELE)
    forged = {"challengeId": stored.id, "version": stored.version}
    card = await adele.press(v.RESPOND, forged, text="Answering for Megan.")
    assert "Only the professional can respond" in texts(card)
    stranger = Person(runtime.bot, "Unknown Person", STRANGER)
    card = await stranger.press(v.WITHDRAW, forged, reason="Forged.")
    assert "directory" in texts(card)
    after = await runtime.service.find("DUR-2026-0001")
    assert after is not None and after.version == stored.version and after.entries == ()


async def test_escalation_then_agreed_outcome_confirmed_by_both_sides(runtime: Runtime) -> None:
    raiser = alex(runtime)
    card = await raise_durham(raiser)
    card = await raiser.press_on(card, v.ESCALATE, reason="No response within 1 working day.")
    assert "Stage 2" in texts(card)
    adele = Person(runtime.bot, "Adele Vance", ADELE)
    her_card = await adele.press(v.SHOW, {"reference": "DUR-2026-0001"})
    her_card = await adele.press_on(her_card, v.PROPOSE, proposed_outcome="Report to the family by Friday.")
    card = await raiser.press(v.SHOW, {"reference": "DUR-2026-0001"})
    assert v.CONFIRM in verbs(card)
    done = await raiser.press_on(card, v.CONFIRM)
    assert_valid_card(done)
    stored = await runtime.service.find("DUR-2026-0001")
    assert stored is not None and stored.status.value == "resolved"
    assert stored.agreed_outcome == "Report to the family by Friday."


async def test_durham_timescale_cannot_be_changed_from_a_forged_button(runtime: Runtime) -> None:
    card = await raise_durham(alex(runtime))
    assert v.TIMESCALE not in verbs(card)
    stored = await runtime.service.find("DUR-2026-0001")
    assert stored is not None
    refused = await alex(runtime).press(
        v.TIMESCALE, {"challengeId": stored.id, "version": stored.version}, working_days="9"
    )
    assert "fixes stage 1" in texts(refused)


async def test_in_a_group_chat_a_party_is_sent_to_the_1_to_1_chat_and_the_group_learns_nothing(
    runtime: Runtime,
) -> None:
    await raise_durham(alex(runtime))
    group = alex(runtime, conversation_id="19:group@thread.v2", conversation_type="groupChat")
    for typed in ("show DUR-2026-0001", "show DUR-2026-9999", "show"):
        card = await group.say_card(typed)
        assert_valid_card(card)
        words = texts(card)
        assert "DUR-2026-0001" not in words and "1:1 chat" in words, typed
        assert "Megan" not in words and "stage" not in words.lower(), typed
        for secret in CHILD.values():
            assert secret not in str(card)


async def test_someone_not_involved_cannot_open_the_challenge_in_their_chat(runtime: Runtime) -> None:
    await raise_durham(alex(runtime))
    patti_is_a_party = Person(runtime.bot, "Patti Fernandez", "00000000-0000-0000-0000-0000000000024")
    assert "DUR-2026-0001" in texts(await patti_is_a_party.say_card("show DUR-2026-0001"))
    card = await Person(runtime.bot, "Unknown Person", STRANGER).say_card("show DUR-2026-0001")
    assert "Robin" not in str(card)
    missing = await alex(runtime).say_card("show DUR-2026-9999")
    assert "found no challenge of yours with that reference" in texts(missing)


async def test_rochdale_urgent_raise_at_stage_3_needs_informal_evidence(runtime: Runtime) -> None:
    person = alex(runtime)
    await fill_rochdale_form_up_to_urgency(person)
    card = await person.press_on(
        person.last_card, v.RAISE_NEXT, urgent="true", start_stage="3", informal_evidence=""
    )
    assert_valid_card(card)
    assert "evidence" in texts(card).lower()
    card = await person.press_on(
        person.last_card,
        v.RAISE_NEXT,
        urgent="true",
        start_stage="3",
        informal_evidence="Phoned the DSL twice.",
    )
    card = await person.press_on(person.last_card, v.RAISE_CONFIRM)
    assert "RBS-2026-0001" in texts(card)
    stored = await runtime.service.find("RBS-2026-0001")
    assert stored is not None and stored.stage == 3 and stored.urgent


async def test_rochdale_raiser_proposes_a_timescale_within_the_cap_and_the_other_side_confirms(
    runtime: Runtime,
) -> None:
    person = alex(runtime)
    await fill_rochdale_form_up_to_urgency(person)
    await person.press_on(
        person.last_card, v.RAISE_NEXT, urgent="false", start_stage="1", informal_evidence=""
    )
    card = await person.press_on(person.last_card, v.RAISE_CONFIRM)
    assert v.TIMESCALE in verbs(card)
    refused = await person.press_on(card, v.TIMESCALE, working_days="11")
    assert "may not exceed 10 working days" in texts(refused)
    proposed = await person.press_on(refused, v.TIMESCALE, working_days="3", note="Agreed by phone.")
    stored = await runtime.service.find("RBS-2026-0001")
    assert stored is not None and stored.timescale_proposal is not None
    # Proposing changes nothing yet, and the proposer cannot confirm it.
    assert "Thu 26 Nov 2026" not in texts(proposed)
    assert v.CONFIRM_TIMESCALE not in verbs(proposed) and v.TIMESCALE in verbs(proposed)
    result = await runtime.service.act(stored, stored.version, ConfirmTimescale(), "omar")
    assert result.outcome == "applied", result.notice
    refreshed = await person.press(v.REFRESH, {"challengeId": stored.id, "version": stored.version + 1})
    assert "Thu 26 Nov 2026" in texts(refreshed)


async def test_a_reoccurring_issue_is_raised_at_stage_3_linked_to_the_iros_resolved_challenge(
    runtime: Runtime,
) -> None:
    # Durham 5.4: "If the issue remains unresolved, or is reoccurring, then the IRO will escalate the matter
    # to the DSCP Business Manager".
    person = alex(runtime)
    await resolved_durham(runtime)
    issue = await walk_durham_form_to_the_issue(person)
    assert "Reoccurring after" in texts(issue) and "DUR-2026-0001" in texts(issue)
    review = await fill_durham_issue(person, recurring_of="DUR-2026-0001")
    assert "Reoccurring after" in texts(review) and "Stage 3 of 5" in texts(review)
    await person.press_on(person.last_card, v.RAISE_CONFIRM)
    second = await runtime.service.find("DUR-2026-0002")
    assert second is not None and second.stage == 3 and second.linked_to == "DUR-2026-0001"


async def test_a_challenge_the_raiser_had_no_part_in_cannot_be_linked(runtime: Runtime) -> None:
    # Lynne is an IRO too, with no part in DUR-2026-0001: linking to it is refused exactly as linking to a
    # reference that does not exist, so she learns nothing about it. (The demo directory also makes her
    # Durham's IRO Service Manager, a partnership post with a part in every Durham challenge: not here.)
    demo = await runtime.service.directory()
    posts = {key: holders for key, holders in demo.partnership_roles.items() if key[1] != "iro_service_manager"}
    await DirectoryStore(runtime.database).replace_all(
        Directory.build(demo.people.values(), demo.agencies.values(), posts)
    )
    await runtime.service.reload_directory()
    await resolved_durham(runtime)
    refusals = []
    for reference in ("DUR-2026-0001", "DUR-2026-0999"):
        request = RaiseRequest(
            child=ChildDetails("Testcase"),
            challenged_agency_id="health_visiting",
            challenged_person_id="megan",
            issue_category="lack_of_report",
            concern="Again.",
            desired_outcome="On time.",
            start_stage=3,
            recurring_of=reference,
        )
        with pytest.raises(Refused) as refused:
            await runtime.service.raise_challenge("lynne", "durham", request)
        refusals.append(refused.value.reason)
    assert refusals[0] == refusals[1]


async def test_show_gives_a_party_the_chronology_newest_first_and_a_stranger_nothing(
    runtime: Runtime,
) -> None:
    raiser = alex(runtime)
    card = await raise_durham(raiser)
    await raiser.press_on(card, v.ESCALATE, reason="No response within 1 working day.")
    shown = await raiser.say_card("show DUR-2026-0001")
    assert_valid_card(shown)
    words = texts(shown)
    assert "Chronology, newest first" in words
    assert words.index("Escalated from stage 1 to stage 2") < words.index("Challenge raised at stage 1")
    stranger = await Person(runtime.bot, "Unknown Person", STRANGER).say_card("show DUR-2026-0001")
    assert "Chronology" not in texts(stranger) and "Escalated" not in texts(stranger)
