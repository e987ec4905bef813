"""Saying only what is true about delivery: after a raise or an action the bot says who is to be told and how,
says "told" only once the outbox records the delivery, and a party's card lists who has been told of the
latest change, and how, and who is still waiting; a shared chat's summary says nothing of it.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from bot.mailer import Mailer
from bot.notifier import Notifier
from bot.wiring import Runtime
from cards import verbs as v
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
    """The outbox is dated by the repository's clock: stop it where the service's clock is stopped."""
    runtime.service.repository.clock = runtime.service.clock


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
    assert (
        "Megan Bowen: could not be told; the raiser or the partnership has been told, to reach them another way"
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
