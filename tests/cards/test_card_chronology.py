"""The chronology on a party's challenge card: newest first, a few entries shown and the rest folded under a
button, times in Europe/London; shared chats never get it; a challenge the retention purge erased says so."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from cards.challenge import CHRONOLOGY_FOLDED_ID, CHRONOLOGY_SHOWN, challenge_card
from process.challenge import AuditEvent, Respond
from process.policy import Role
from tests.cardcheck import assert_valid_card
from tests.cards.scenarios import (
    DIRECTORY,
    PRIVATE_STRINGS,
    Walk,
    everything,
    of_type,
    raised,
    readable,
    unescape,
)


def _card(walk: Walk, viewer_id: str, audience: str = "party", **extra: Any) -> dict[str, Any]:
    options: dict[str, Any] = dict(
        policy=walk.policy,
        directory=DIRECTORY,
        calendar=walk.engine.calendar,
        now=walk.now,
        viewer_id=viewer_id,
        allowed=walk.engine.allowed_actions(walk.challenge, viewer_id, walk.now)
        if audience == "party"
        else (),
        audience=audience,
        events=walk.events,
    )
    options.update(extra)
    return challenge_card(walk.challenge, **options)


def _chronology(card: dict[str, Any]) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """The facts shown, and the facts folded away, of the card's chronology."""
    body = card["body"]
    start = next(i for i, e in enumerate(body) if e.get("text") == "Chronology, newest first")
    shown = body[start + 1]["facts"]
    folded = [e for e in body if e.get("id") == CHRONOLOGY_FOLDED_ID]
    return shown, folded[0]["items"][0]["facts"] if folded else []


def _busy(answers: int) -> Walk:
    walk = raised("durham")
    professional = walk.by(Role.CHALLENGED_PROFESSIONAL)
    for n in range(answers):
        walk = walk.then(Respond(f"Answer number {n + 1}."), professional, minutes=60)
    return walk


def test_a_long_chronology_shows_the_newest_few_and_folds_the_rest() -> None:
    walk = _busy(8)
    card = _card(walk, walk.by(Role.RAISER))
    assert_valid_card(card)
    shown, folded = _chronology(card)
    assert len(shown) == CHRONOLOGY_SHOWN and len(shown) + len(folded) == len(walk.events) == 9
    # Newest first: the last answer at the top, the raise at the very bottom of the folded part.
    newest = walk.events[-1]
    assert shown[0]["value"].startswith(newest.summary) and "Robin" not in shown[0]["value"]
    assert folded[-1]["value"].startswith("Challenge raised at stage 1")
    times = [f["title"] for f in shown + folded]
    assert times == sorted(times, key=lambda t: datetime.strptime(t, "%a %d %b %Y, %H:%M"), reverse=True)
    container = next(e for e in of_type(card, "Container") if e.get("id") == CHRONOLOGY_FOLDED_ID)
    assert container["isVisible"] is False
    toggles = of_type(card, "Action.ToggleVisibility")
    assert [t["targetElements"] for t in toggles] == [[CHRONOLOGY_FOLDED_ID]]
    assert toggles[0]["title"] == "Show or hide 4 earlier entries"
    assert sum(1 for e in of_type(card, "Container") if e.get("id") == CHRONOLOGY_FOLDED_ID) == 1


def test_a_short_chronology_has_nothing_to_fold() -> None:
    walk = _busy(2)
    card = _card(walk, walk.by(Role.RAISER))
    assert_valid_card(card)
    shown, folded = _chronology(card)
    assert len(shown) == 3 and folded == [] and of_type(card, "Action.ToggleVisibility") == []
    assert unescape(shown[-1]["value"]) == f"{walk.events[0].summary} (you)"


def test_times_are_shown_in_london_time_summer_and_winter() -> None:
    walk = raised("durham")
    summer = datetime(2027, 7, 1, 9, 30, tzinfo=UTC)
    events = (
        *walk.events,
        AuditEvent(walk.challenge.id, summer, walk.by(Role.RAISER), 1, "note", "A summer line"),
    )
    card = _card(walk, walk.by(Role.RAISER), events=events)
    shown, _ = _chronology(card)
    assert shown[0]["title"] == "Thu 1 Jul 2027, 10:30"
    assert shown[1]["title"].endswith("10:00") and "Nov 2026" in shown[1]["title"]  # GMT in November


def test_shared_chats_never_get_the_chronology() -> None:
    walk = _busy(8)
    card = _card(walk, walk.by(Role.RAISER), audience="group")
    assert "Chronology" not in readable(card) and "Answer number" not in everything(card)


def test_a_purged_challenge_says_what_was_erased_and_shows_no_words() -> None:
    walk = _busy(3)
    purged_at = walk.now + timedelta(days=7 * 365)
    c = walk.challenge
    erased = replace(
        c,
        child=replace(c.child, name="", date_of_birth=None, agency_reference=None),
        concern="",
        desired_outcome="",
        entries=tuple(replace(e, text="") for e in c.entries),
        purged_at=purged_at,
    )
    events = (
        *tuple(replace(e, summary="", detail={}) for e in walk.events),
        AuditEvent(
            c.id,
            purged_at,
            "system",
            c.stage,
            "purged",
            "The child's details and everything written were erased: DSCP keeps records 6 years",
        ),
    )
    card = _card(replace(walk, challenge=erased, events=events), walk.by(Role.RAISER))
    assert_valid_card(card)
    words = readable(card)
    assert "everything written in this challenge were erased on" in words
    assert "Raised (its words were erased)" in words and "Responded (its words were erased)" in words
    for private in PRIVATE_STRINGS:
        assert private not in everything(card), private
    assert "The child" not in words.splitlines()
