"""Saying only what is true about delivery: after a raise or an action the bot says who is to be told and how,
says "told" only once the outbox records the delivery, and a party's card lists who has been told of the
latest change, and how, and who is still waiting; a shared chat's summary says nothing of it.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from bot.config import Settings
from bot.mailer import Mailer
from bot.notifier import Notifier
from bot.wiring import Runtime, make_service
from cards import verbs as v
from process.challenge import Escalate, Respond
from storage.outbox import DeliveryStatus, Outbox
from tests.delivery.conftest import SmtpServer
from tests.teams.harness import Person, texts
from tests.teams.test_conversation import alex, megan, raise_durham

#: Who Durham tells when Alex raises a challenge against Megan (the demo directory): Megan acts, the QRT
#: mailbox is copied in.
TOLD_OF_THE_RAISE = ("Megan Bowen (Teams)", "Business Manager for QRT (email)")


def notice_of(card: dict[str, Any]) -> str:
    """The words of the notice at the top of a challenge card."""
    first = card["body"][0]
    assert first["type"] == "Container", card["body"][0]
    return " ".join(item["text"] for item in first["items"])


def told_lines(card: dict[str, Any]) -> list[str]:
    """The lines under "Who has been told of the latest change", unescaped."""
    words = texts(card).split("\n")
    if "Who has been told of the latest change" not in words:
        return []
    start = words.index("Who has been told of the latest change") + 1
    lines = []
    for line in words[start:]:
        if ": " not in line or line.startswith(("Raised", "History")):
            break
        lines.append(line.replace("\\", ""))
    return lines


@pytest.fixture(autouse=True)
def one_clock(runtime: Runtime) -> None:
    """The outbox is dated by the repository's clock: stop it where the service's clock is stopped. These
    tests deliver through a test SMTP server (`notifier`), so the service is one with email set up."""
    runtime.service.repository.clock = runtime.service.clock
    runtime.service.email = True


def notifier(runtime: Runtime, smtp: SmtpServer | None) -> Notifier:
    return Notifier(
        runtime.service,
        Outbox(runtime.database),
        teams=None,
        mailer=Mailer(smtp.settings()) if smtp is not None else None,
        worker_id="test",
    )


async def test_after_a_raise_the_bot_says_who_is_to_be_told_and_not_that_they_were(runtime: Runtime) -> None:
    card = await raise_durham(alex(runtime))

    notice = notice_of(card)
    assert notice.startswith("Challenge DUR-2026-0001 raised. 2 to be told: ")
    for who in TOLD_OF_THE_RAISE:
        assert who.replace("(", "\\(").replace(")", "\\)") in notice
    assert "Told:" not in notice and "been told" not in notice.replace("when each has been told", "")
    assert sorted(told_lines(card)) == [
        "Business Manager for QRT: not told yet (email)",
        "Megan Bowen: not told yet (Teams)",
    ]


async def test_after_an_action_the_bot_says_who_is_to_be_told_then_the_card_shows_who_was(
    runtime: Runtime, smtp_server: SmtpServer
) -> None:
    await raise_durham(alex(runtime))
    await notifier(runtime, smtp_server).drain()
    her = megan(runtime)
    card = await her.press(v.SHOW, {"reference": "DUR-2026-0001"})
    # Her card shows the raise's deliveries: everyone told (by email here: no Teams in this test).
    assert sorted(told_lines(card))[0].startswith("Business Manager for QRT: told by email, Mon 23 Nov 2026")

    updated = await her.press_on(card, v.RESPOND, text="The report was sent this morning.")
    notice = notice_of(updated)
    assert notice.startswith("Done. ") and "to be told: Alex Wilber \\(Teams\\)" in notice
    assert "Told:" not in notice
    assert "Alex Wilber: not told yet (Teams)" in told_lines(updated)

    report = await notifier(runtime, smtp_server).drain()
    assert report.delivered_email >= 1
    again = await her.press_on(updated, v.REFRESH)
    assert "Alex Wilber: told by email, Mon 23 Nov 2026, 10:00" in told_lines(again)
    assert not [line for line in told_lines(again) if "not told yet" in line]


async def test_when_delivery_happened_in_the_turn_the_bot_says_who_was_told(
    runtime: Runtime, smtp_server: SmtpServer
) -> None:
    deliver = notifier(runtime, smtp_server)

    async def deliver_now(_decision: object) -> None:
        await deliver.drain()

    runtime.service.on_commit = deliver_now
    card = await raise_durham(alex(runtime))
    notice = notice_of(card)
    assert "Told: " in notice and "to be told" not in notice
    assert "Megan Bowen \\(email\\)" in notice and "Business Manager for QRT \\(email\\)" in notice


async def test_a_notification_nobody_could_deliver_shows_as_not_told_and_is_reported(
    runtime: Runtime, smtp_server: SmtpServer
) -> None:
    directory = await runtime.service.directory()
    people = dict(directory.people)
    people["megan"] = replace(people["megan"], email=None, aad_object_id=None)
    runtime.service._directory = replace(directory, people=people)
    person = alex(runtime)
    await raise_durham(person)
    # Megan keeps her Teams identity for the bot's turns, but the notifier cannot reach her at all.
    report = await notifier(runtime, smtp_server).drain()
    assert report.failed == 1 and report.reports_queued == 2
    report = await notifier(runtime, smtp_server).drain()
    card = await person.press(v.SHOW, {"reference": "DUR-2026-0001"})
    # The card names who the report reached: the raiser and the partnership's business manager (Durham's
    # demo directory has no admin mailbox).
    assert (
        "Megan Bowen: could not be told; Alex Wilber and Patti Fernandez told of it, to reach them another way"
        in told_lines(card)
    )
    rows = await runtime.service.outbox.for_challenge((await runtime.service.find("DUR-2026-0001")).id)  # type: ignore[union-attr]
    assert sum(1 for r in rows if r.report_of is not None and r.status is DeliveryStatus.DELIVERED) == 2


@pytest.mark.parametrize("conversation_type", ["groupChat", "channel"])
async def test_a_shared_chat_summary_says_nothing_about_delivery(
    runtime: Runtime, conversation_type: str
) -> None:
    await raise_durham(alex(runtime))
    shared = Person(
        runtime.bot,
        "Alex Wilber",
        "00000000-0000-0000-0000-0000000000020",
        conversation_id="19:shared",
        conversation_type=conversation_type,
    )
    card = await shared.press(v.SHOW, {"reference": "DUR-2026-0001"})
    words = texts(card)
    assert "1:1 chat" in words and "DUR-2026-0001" not in words
    assert "told" not in words.lower() and "Business Manager for QRT" not in words


async def test_when_the_raiser_is_not_reached_and_the_partnership_has_nobody_the_words_say_nobody_is_told(
    runtime: Runtime, smtp_server: SmtpServer, caplog: pytest.LogCaptureFixture
) -> None:
    await raise_durham(alex(runtime))
    await notifier(runtime, smtp_server).drain()
    her = megan(runtime)
    card = await her.press(v.SHOW, {"reference": "DUR-2026-0001"})
    # Then the partnership's posts are emptied in the directory, and the notifier (no Teams, no email here)
    # cannot reach Alex, the raiser, with her response.
    directory = await runtime.service.directory()
    runtime.service._directory = replace(directory, partnership_roles={})
    updated = await her.press_on(card, v.RESPOND, text="The report was sent this morning.")

    with caplog.at_level("ERROR", logger="bot.notifier"):
        report = await notifier(runtime, None).drain()
        again = await notifier(runtime, None).drain()
    assert report.failed == 1 and report.reports_queued == 0 and again.failed == 0
    challenge = await runtime.service.find("DUR-2026-0001")
    assert challenge is not None
    errors = [r for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1 and challenge.id in errors[0].getMessage()
    assert "nobody could be sent a report" in errors[0].getMessage()

    lines = told_lines(await her.press_on(updated, v.REFRESH))
    assert (
        "Alex Wilber: could not be told; nobody could be sent a report of it: please make sure they know "
        "another way" in lines
    )
    assert not [line for line in lines if "raiser" in line or "partnership" in line]


async def test_with_no_email_set_up_a_mailbox_is_shown_as_one_email_cannot_reach(runtime: Runtime) -> None:
    # A service built from settings without an SMTP server (the runtime's own settings) has no email.
    runtime.service.email = make_service(Settings(), runtime.database).email
    assert runtime.service.email is False
    card = await raise_durham(alex(runtime))

    notice = notice_of(card)
    assert "1 to be told: Megan Bowen \\(Teams\\)" in notice
    assert "Cannot be told by email, as this service has no email set up: Business Manager for QRT" in notice
    assert "Business Manager for QRT \\(email\\)" not in notice
    assert sorted(told_lines(card)) == [
        "Business Manager for QRT: cannot be told by email: this service has no email set up; reach them "
        "another way",
        "Megan Bowen: not told yet (Teams)",
    ]
    # The notifier agrees: without a mailer the mailbox's notification fails, and the report says why.
    report = await notifier(runtime, None).drain()
    assert report.failed >= 1


async def test_what_an_action_says_of_who_is_told_is_what_the_outbox_records_then(runtime: Runtime) -> None:
    """The words after an action come from the change's own notifications, not read back: they must be the
    words reading the outbox back would give, for each action along a challenge's way."""
    await raise_durham(alex(runtime))
    service = runtime.service
    for who, action in [("megan", Respond("Report attached.")), ("alex", Escalate("Not enough — diolch 🙂"))]:
        challenge = await service.find("DUR-2026-0001")
        assert challenge is not None
        result = await service.act(challenge, challenge.version, action, who)
        assert result.outcome == "applied" and result.challenge is not None
        assert result.notice == f"Done. {await service.told_words(result.challenge)}"
        assert result.decision is not None and result.decision.notifications
