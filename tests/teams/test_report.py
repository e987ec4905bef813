"""`report`: the partnership's monitoring figures, for its post holders only, in their 1:1 chat."""

from __future__ import annotations

from typing import Any

import pytest

from bot.wiring import Runtime
from cards import verbs as v
from tests.cardcheck import assert_valid_card
from tests.teams.harness import Person, texts, verbs, walk
from tests.teams.test_conversation import ALEX, STRANGER, alex, raise_durham
from tests.teams.test_group_chat import WHERE

PATTI = "00000000-0000-0000-0000-0000000000024"  # business manager of both partnerships


def patti(runtime: Runtime, **kw: Any) -> Person:
    return Person(runtime.bot, "Patti Fernandez", PATTI, **kw)


def inputs(card: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {n["id"]: n for n in walk(card) if str(n.get("type", "")).startswith("Input.")}


async def test_the_business_manager_gets_the_figures_and_can_change_the_period(runtime: Runtime) -> None:
    await raise_durham(alex(runtime))
    manager = patti(runtime)
    card = await manager.say_card("report")
    assert_valid_card(card)
    shown = texts(card)
    assert "Monitoring: Durham Safeguarding Children Partnership" in shown
    assert "24 Nov 2025 to 23 Nov 2026" in shown  # the last 12 months, NOW being 23 November 2026
    assert "Raised in the period" in shown and "Lack of report" in shown
    # The child's name, date of birth and case reference are nowhere on it, nor what was written.
    for secret in ("Robin", "2018", "EX-", "not shared"):
        assert secret not in shown
    fields = inputs(card)
    assert set(fields) == {"partnership", "period", "since", "until"}
    assert [c["value"] for c in fields["partnership"]["choices"]] == ["durham", "rochdale"]
    assert v.REPORT_REFRESH in verbs(card)
    rochdale = await manager.press(v.REPORT_REFRESH, {}, partnership="rochdale", period="3m")
    assert_valid_card(rochdale)
    assert "Monitoring: Rochdale" in texts(rochdale) and "24 Aug 2026 to 23 Nov 2026" in texts(rochdale)
    dated = await manager.press(
        v.REPORT_REFRESH, {}, partnership="durham", since="2026-11-01", until="2026-11-30"
    )
    assert "1 Nov 2026 to 30 Nov 2026" in texts(dated) and "Raised in the period" in texts(dated)
    assert inputs(dated)["since"]["value"] == "2026-11-01"


@pytest.mark.parametrize(
    ("strange", "refused"),
    [
        ({"period": "forever"}, True),
        ({"since": "yesterday"}, True),
        ({"since": "2026-11-30", "until": "2026-01-01"}, True),
        ({"since": "1900-01-01"}, True),
        ({"since": "🙂\ud800"}, True),
        ({"since": "2020-01-01", "until": "2026-11-30"}, True),  # more than five years
        # Not text (a forged payload) reads as not chosen; a partnership not theirs as their first.
        ({"period": ["12m"], "partnership": {"id": "durham"}}, False),
        ({"partnership": "somewhere-else", "period": "12m"}, False),
    ],
)
async def test_strange_periods_get_a_clear_word_and_the_default(
    runtime: Runtime, strange: dict[str, Any], refused: bool
) -> None:
    card = await patti(runtime).press(v.REPORT_REFRESH, {}, **strange)
    assert_valid_card(card)
    shown = texts(card)
    assert "Monitoring: Durham" in shown and "24 Nov 2025 to 23 Nov 2026" in shown
    assert ("Showing the last 12 months instead." in shown) is refused


async def test_anyone_else_is_answered_as_for_words_the_bot_does_not_know(runtime: Runtime) -> None:
    stranger = Person(runtime.bot, "Someone", STRANGER)
    for person in (alex(runtime), stranger):
        answer = await person.say_card("report")
        unknown = await person.say_card("reports")
        assert texts(answer).replace("'report'", "'reports'") == texts(unknown)
        assert "Monitoring" not in texts(answer)
        pressed = await person.press(v.REPORT_REFRESH, {"partnership": "durham"}, period="12m")
        assert "Monitoring" not in texts(pressed)
        assert "monitoring figures" not in texts(await person.say_card("help"))  # report is not even listed
    assert ALEX


async def test_help_lists_report_for_a_post_holder_in_their_1_to_1_chat(runtime: Runtime) -> None:
    said = texts(await patti(runtime).say_card("help"))
    assert "\nreport\nYour partnership's monitoring figures" in said


@pytest.mark.parametrize("where", WHERE)
async def test_in_a_group_the_report_is_only_in_the_1_to_1_chat(runtime: Runtime, where: str) -> None:
    card = await patti(runtime, **WHERE[where]).say_card("report")
    assert "1:1 chat" in texts(card) and "Monitoring" not in texts(card)
    pressed = await patti(runtime, **WHERE[where]).press(v.REPORT_REFRESH, {"partnership": "durham"})
    assert "Monitoring" not in texts(pressed)
    # Someone without a post is answered as for any words the bot does not know, here too.
    other = await alex(runtime, **WHERE[where]).say_card("report")
    assert "I didn't understand 'report'" in texts(other)


async def test_the_same_refresh_twice_and_an_old_card_after_the_post_was_given_up(runtime: Runtime) -> None:
    from dataclasses import replace

    from storage.directory import DirectoryStore

    manager = patti(runtime)
    first = await manager.press(v.REPORT_REFRESH, {}, partnership="rochdale", period="6m")
    again = await manager.press(v.REPORT_REFRESH, {}, partnership="rochdale", period="6m")
    assert first == again
    # Patti hands the business manager's post to someone else: her old card shows her nothing more.
    directory = await runtime.service.directory()
    roles = {
        key: tuple(c for c in contacts if c.person_id != "patti")
        for key, contacts in directory.partnership_roles.items()
    }
    await DirectoryStore(runtime.database).replace_all(replace(directory, partnership_roles=roles))
    await runtime.service.reload_directory()
    stale = await manager.press(v.REPORT_REFRESH, {}, partnership="rochdale", period="6m")
    assert "Monitoring" not in texts(stale)
    typed = await manager.say_card("Report")
    assert "I didn't understand 'Report'" in texts(typed)
