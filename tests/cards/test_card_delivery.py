"""Who has been told, in words: the notice after a change and the list on a party's card say "told" only of a
delivery the outbox recorded, and a shared chat's card shows no list at all."""

from __future__ import annotations

from datetime import UTC, datetime

from cards.challenge import challenge_card
from cards.delivery import Telling, told_notice, told_section
from tests.cardcheck import assert_valid_card
from tests.cards.scenarios import all_states, readable

AT = datetime(2026, 11, 23, 10, 2, tzinfo=UTC)
MIXED = (
    Telling("Megan Bowen", "told", "teams", AT),
    Telling("Business Manager for QRT", "told", "email", AT),
    Telling("Adele Vance", "pending", "teams"),
    Telling("Health Safeguarding Team", "pending", "email"),
    Telling("Pat Nocontact", "pending", None),
    Telling(
        "Sam Unreachable",
        "failed",
        None,
        report_to=("Alex Wilber", "Partnership admin for DSCP"),
        report_reached=("Alex Wilber",),
    ),
    Telling("Jo Unreported", "failed", None, report_to=("Partnership admin for DSCP",)),
)
#: The raiser was the one not reached, and the partnership has no admin mailbox or business manager.
NOBODY = Telling("Alex Wilber", "failed", None)
#: Only email could reach them, and this service has none set up.
NO_EMAIL = Telling("Health Safeguarding Team", "pending", "email", no_email=True)


def test_the_notice_says_told_only_of_recorded_deliveries_and_how_each_is_being_told() -> None:
    notice = told_notice(MIXED)
    assert notice.startswith("Told: Megan Bowen (Teams), Business Manager for QRT (email). ")
    assert (
        "3 to be told: Adele Vance (Teams), Health Safeguarding Team (email), Pat Nocontact (no Teams or email "
        "known)." in notice
    )
    assert (
        "Could not be told: Sam Unreachable (a report goes to Alex Wilber and Partnership admin for DSCP); "
        "Jo Unreported (a report goes to Partnership admin for DSCP)." in notice
    )
    assert notice.endswith("This card shows when each has been told.")


def test_a_notice_with_nothing_delivered_yet_never_says_told() -> None:
    pending = told_notice([t for t in MIXED if t.progress == "pending"])
    assert "Told" not in pending and pending.startswith("3 to be told: ")
    assert told_notice(()) == "Nobody else needs to be told of this."


def test_the_card_lists_each_one_with_how_and_when_in_london_time() -> None:
    lines = readable({"type": "AdaptiveCard", "body": told_section(MIXED, "Europe/London")}).split("\n")
    assert lines[0] == "Who has been told of the latest change"
    assert lines[1:] == [
        "Megan Bowen: told in Teams, Mon 23 Nov 2026, 10:02",
        "Business Manager for QRT: told by email, Mon 23 Nov 2026, 10:02",
        "Adele Vance: not told yet (Teams)",
        "Health Safeguarding Team: not told yet (email)",
        "Pat Nocontact: not told yet: the directory has no Teams account or email address for them",
        "Sam Unreachable: could not be told; Alex Wilber told of it, to reach them another way",
        "Jo Unreported: could not be told; a report goes to Partnership admin for DSCP",
    ]


def test_when_nobody_can_be_sent_a_report_the_words_say_so_and_never_name_the_raiser() -> None:
    notice = told_notice((NOBODY,))
    assert notice == (
        "Could not be told: Alex Wilber (nobody could be sent a report of it: please make sure they know "
        "another way)."
    )
    assert "raiser" not in notice and "partnership" not in notice
    lines = readable({"type": "AdaptiveCard", "body": told_section((NOBODY,), "Europe/London")}).split("\n")
    assert lines[1] == (
        "Alex Wilber: could not be told; nobody could be sent a report of it: please make sure they know "
        "another way"
    )


def test_one_only_email_could_reach_is_never_shown_as_waiting_when_the_service_has_no_email() -> None:
    notice = told_notice((NO_EMAIL,))
    assert "to be told" not in notice and "(email)" not in notice
    assert notice == (
        "Cannot be told by email, as this service has no email set up: Health Safeguarding Team; please reach "
        "them another way."
    )
    lines = readable({"type": "AdaptiveCard", "body": told_section((NO_EMAIL,), "Europe/London")}).split("\n")
    assert lines[1] == (
        "Health Safeguarding Team: cannot be told by email: this service has no email set up; reach them "
        "another way"
    )


def test_only_a_partys_own_card_shows_who_has_been_told() -> None:
    walk = dict(all_states())["durham: stage 1 just started"]
    for audience in ("party", "group"):
        card = challenge_card(
            walk.challenge,
            policy=walk.policy,
            directory=walk.engine.directory,
            calendar=walk.engine.calendar,
            now=walk.now,
            viewer_id=walk.by("raiser"),
            allowed=(),
            audience=audience,  # type: ignore[arg-type]
            told=MIXED,
        )
        assert_valid_card(card)
        shown = "Megan Bowen: told in Teams" in readable(card)
        assert shown is (audience == "party"), audience
