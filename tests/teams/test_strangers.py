"""Strangers learn nothing: whoever the procedure does not involve in a challenge gets, on every path, the very
same answer for it as for a reference that does not exist.

Table-driven: every way of asking about a challenge (typed `show` in a 1:1 chat, a group chat and a channel,
the Show and refresh buttons, every action button with a forged challenge id and version, `my challenges`)
x every kind of stranger (of the raiser's or the challenged agency, of the other partnership, not in the
directory) x an existing and a non-existent reference: the replies are compared byte for byte.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from bot.wiring import Runtime
from cards import verbs as v
from process.challenge import Challenge, RaiseRequest, Refused
from tests.support.people import INVENTED_CHILD, holder, raise_request
from tests.teams.harness import Person, texts
from tests.teams.test_refusals import INPUTS

GROUP = {"conversation_id": "19:group@thread.v2", "conversation_type": "groupChat"}
CHANNEL = {"conversation_id": "19:general@thread.tacv2;messageid=1", "conversation_type": "channel"}

#: For a challenge of partnership p (raised by p_raiser of agency p_a against p_challenged of agency p_b):
#: who is a stranger to it, by person id (None: someone signed in to Teams who is not in the directory).
STRANGERS: dict[str, Callable[[str], str | None]] = {
    "colleague in the challenged agency": lambda p: f"{p}_outsider",
    "colleague in the raiser's agency": lambda p: f"{p}_raiser_colleague",
    "business manager of the other partnership": lambda p: f"{_other(p)}_bm",
    "raiser in the other partnership": lambda p: f"{_other(p)}_raiser",
    "not in the directory": lambda p: None,
}


def _other(partnership: str) -> str:
    return "rochdale" if partnership == "durham" else "durham"


def person(runtime: Runtime, person_id: str | None, **conversation: Any) -> Person:
    aad = f"aad-{person_id}" if person_id else "aad-nobody-in-the-directory"
    name = person_id or "Nobody"
    conversation.setdefault("conversation_id", f"a:personal-{aad}-{uuid.uuid4().hex[:6]}")
    return Person(runtime.bot, name, aad, **conversation)


def canonical(reply: Any) -> str:
    return json.dumps(reply, sort_keys=True, ensure_ascii=False)


#: A path: given the person and (reference, challenge id, version) to ask about, the reply.
Path = Callable[[Runtime, str | None, str, str, int], Awaitable[Any]]


def typed_show(where: dict[str, Any]) -> Path:
    async def ask(runtime: Runtime, who: str | None, reference: str, cid: str, version: int) -> Any:
        return await person(runtime, who, **where).say(f"show {reference}")

    return ask


def pressed(verb: str, key: str, inputs: dict[str, Any], where: dict[str, Any]) -> Path:
    async def ask(runtime: Runtime, who: str | None, reference: str, cid: str, version: int) -> Any:
        target = reference if key == "reference" else cid
        return await person(runtime, who, **where).press(verb, {key: target, "version": version}, **inputs)

    return ask


async def listed(runtime: Runtime, who: str | None, reference: str, cid: str, version: int) -> Any:
    return await person(runtime, who).say("my challenges")


PATHS: dict[str, Path] = {
    "show typed in 1:1": typed_show({}),
    "show typed in a group chat": typed_show(GROUP),
    "show typed in a channel": typed_show(CHANNEL),
    "Show button": pressed(v.SHOW, "reference", {}, {}),
    "Show button, challenge id": pressed(v.SHOW, "challengeId", {}, {}),
    "Show button in a group chat": pressed(v.SHOW, "reference", {}, GROUP),
    "refresh": pressed(v.REFRESH, "challengeId", {}, {}),
    "refresh in a group chat": pressed(v.REFRESH, "challengeId", {}, GROUP),
    "refresh by reference": pressed(v.REFRESH, "challengeId", {}, {}),
    **{f"{verb} (forged)": pressed(verb, "challengeId", inputs, {}) for verb, inputs in INPUTS.items()},
    **{
        f"{verb} (forged, by reference)": pressed(verb, "challengeId", inputs, {})
        for verb, inputs in INPUTS.items()
    },
    "a verb no card has (forged)": pressed("challenge.bogus", "challengeId", {}, {}),
    "Export button (forged)": pressed(v.EXPORT, "challengeId", {"format": "pdf"}, {}),
    "Export button by reference (forged)": pressed(v.EXPORT, "challengeId", {"format": "docx"}, {}),
    "Export button in a group chat": pressed(v.EXPORT, "challengeId", {"format": "pdf"}, GROUP),
    "my challenges": listed,
}


async def raised(runtime: Runtime, partnership: str) -> Challenge:
    decision = await runtime.service.raise_challenge(
        holder(partnership, "raiser"),
        partnership,
        raise_request(partnership, child=INVENTED_CHILD),  # type: ignore[arg-type]
    )
    return decision.challenge


@pytest.mark.parametrize("partnership", ["durham", "rochdale"])
async def test_a_stranger_gets_the_same_reply_whether_the_challenge_exists_or_not(
    everyone: Runtime, partnership: str
) -> None:
    challenge = await raised(everyone, partnership)
    missing_reference = challenge.reference[:-4] + "0999"
    missing_id = str(uuid.uuid4())
    compared = 0
    for path_name, path in PATHS.items():
        for stranger_kind, stranger in STRANGERS.items():
            who = stranger(partnership)
            for version in (challenge.version, challenge.version + 7):
                if "by reference" in path_name:
                    exists = await path(everyone, who, challenge.reference, challenge.reference, version)
                    absent = await path(everyone, who, missing_reference, missing_reference, version)
                else:
                    exists = await path(everyone, who, challenge.reference, challenge.id, version)
                    absent = await path(everyone, who, missing_reference, missing_id, version)
                assert canonical(exists) == canonical(absent), (path_name, stranger_kind)
                words = canonical(exists)
                for secret in (challenge.reference, "Charlie Challenged", "Testchild", "INV-0001"):
                    assert secret not in words, (path_name, stranger_kind, secret)
                compared += 1
    assert compared == len(PATHS) * len(STRANGERS) * 2
    stored = await everyone.service.find(challenge.id)
    assert stored is not None and stored.version == challenge.version and stored.entries == ()


@pytest.mark.parametrize(
    "viewer", ["challenged_sl", "bm", "challenged_sm", "raiser_lm"], ids=lambda s: s.replace("_", " ")
)
async def test_those_the_procedure_involves_still_see_it(everyone: Runtime, viewer: str) -> None:
    # The agency's lead (a part), the partnership's business manager (a post), the professional's manager's
    # manager (up the line: may take a vacant part) and the raiser's line manager.
    challenge = await raised(everyone, "durham")
    cards = await person(everyone, f"durham_{viewer}").say(f"show {challenge.reference}")
    assert challenge.reference in texts(cards[0]), viewer
    # In a group chat, not even they are shown it: the answer links to their 1:1 chat.
    cards = await person(everyone, f"durham_{viewer}", **GROUP).say(f"show {challenge.reference}")
    assert challenge.reference not in texts(cards[0]) and "1:1 chat" in texts(cards[0]), viewer


@pytest.mark.parametrize("viewer", ["raiser_lm", "challenged_sm"], ids=lambda s: s.replace("_", " "))
async def test_those_involved_without_a_part_see_no_child_and_no_words(
    everyone: Runtime, viewer: str
) -> None:
    # In Durham the raiser's line manager and the professional's manager's manager may know of a stage 1
    # challenge but hold no part in it: their 1:1 chat shows its reference-level summary, never the child or
    # what was written. The raiser, a party, sees the child.
    challenge = await raised(everyone, "durham")
    assert not challenge.roles_of(f"durham_{viewer}")
    raiser = await person(everyone, holder("durham", "raiser")).say(f"show {challenge.reference}")
    assert "Testchild" in canonical(raiser)
    cards = await person(everyone, f"durham_{viewer}").say(f"show {challenge.reference}")
    assert challenge.reference in texts(cards[0]), viewer
    words = canonical(cards)
    for secret in ("Testchild", "INV-0001", "2019", challenge.concern, challenge.desired_outcome):
        assert secret not in words, (viewer, secret)


@pytest.mark.parametrize("partnership", ["durham", "rochdale"])
async def test_a_partnership_post_the_procedure_gives_a_part_sees_the_child(
    everyone: Runtime, partnership: str
) -> None:
    # Both shipped procedures give the partnership's business manager a part from stage 1 (copied in): a
    # party, shown the child's details in their 1:1 chat like the raiser, though nothing in a group chat.
    challenge = await raised(everyone, partnership)
    assert challenge.roles_of(f"{partnership}_bm")
    cards = await person(everyone, f"{partnership}_bm").say(f"show {challenge.reference}")
    assert "Testchild" in canonical(cards) and challenge.concern in canonical(cards)
    cards = await person(everyone, f"{partnership}_bm", **GROUP).say(f"show {challenge.reference}")
    assert "Testchild" not in canonical(cards) and challenge.reference not in canonical(cards)


async def test_a_reoccurring_issue_cannot_be_linked_to_a_strangers_challenge(everyone: Runtime) -> None:
    # Another IRO of the raiser's agency: linking to the challenge is refused in the words used for a reference
    # that does not exist.
    first = await raised(everyone, "durham")
    reasons = []
    for reference in (first.reference, first.reference[:-4] + "0999"):
        request: RaiseRequest = raise_request("durham", start_stage=3, recurring_of=reference)
        with pytest.raises(Refused) as refused:
            await everyone.service.raise_challenge("durham_raiser_colleague", "durham", request)
        reasons.append(refused.value.reason)
    assert reasons[0] == reasons[1]
