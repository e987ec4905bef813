"""The Export buttons of a party's 1:1 card and Teams' file consent, as people use them: the party presses
Export, gets a file consent card (no child data in it), accepts it and the form is uploaded once to the upload
session Teams made (the fake connector stands in for OneDrive), then shown as a file card, the consent card
replaced. A second accept of the same card (later, or at once from a second device) uploads nothing; a decline
is said; an accept whose context is forged, from someone who is not a party, from a group chat, or for a
challenge changed since, uploads nothing."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import AsyncIterator
from typing import Any

import docx
import pypdfium2 as pdfium
import pytest
from botbuilder.schema import Activity, ActivityTypes

from bot.file_export import FILE_CONSENT_INVOKE, ONLY_PARTIES, SENT_CONSENT
from bot.wiring import Runtime
from cards import verbs as v
from cards.export import FILE_CONSENT, FILE_INFO
from process.challenge import Challenge, Respond
from tests.fakes.connector import FakeConnector
from tests.support.people import INVENTED_CHILD, holder, raise_request
from tests.teams.harness import Person, texts, verbs
from tests.teams.test_strangers import GROUP

SECRETS = (INVENTED_CHILD.name, "Testchild", "INV-0001", "No report was provided")


@pytest.fixture
async def connector() -> AsyncIterator[FakeConnector]:
    async with FakeConnector() as fake:
        yield fake


async def _raised(runtime: Runtime, partnership: str = "rochdale") -> Challenge:
    decision = await runtime.service.raise_challenge(
        holder(partnership, "raiser"), partnership, raise_request(partnership, child=INVENTED_CHILD)
    )
    return decision.challenge


def _person(runtime: Runtime, person_id: str, **conversation: Any) -> Person:
    conversation.setdefault("conversation_id", f"a:personal-{person_id}")
    return Person(runtime.bot, person_id, f"aad-{person_id}", **conversation)


async def _export(
    person: Person, challenge: Challenge, format: str = "pdf"
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Press Export: the card that replaces the pressed one, and the consent card sent in the chat."""
    person.adapter.activity_buffer.clear()
    value = {
        "action": {
            "type": "Action.Execute",
            "verb": v.EXPORT,
            "data": {"challengeId": challenge.id, "version": challenge.version, "format": format},
        }
    }
    await person.adapter.process_activity(
        Activity(type=ActivityTypes.invoke, name="adaptiveCard/action", value=value), person.bot.on_turn
    )
    replies = list(person.adapter.activity_buffer)
    answer = next(a for a in replies if a.type == ActivityTypes.invoke_response).value.body.value
    consents = [
        {"contentType": att.content_type, "name": att.name, "content": att.content}
        for a in replies
        for att in (a.attachments or [])
        if att.content_type == FILE_CONSENT
    ]
    assert len(consents) <= 1
    return answer, (consents[0] if consents else {})


async def _answer_consent(
    person: Person,
    consent: dict[str, Any],
    connector: FakeConnector,
    *,
    action: str = "accept",
    context: Any = None,
    reply_to: str = "consent-1",
) -> list[Activity]:
    """Accept (or decline) the consent card as Teams sends it: `fileConsent/invoke` with the card's context
    and the upload session Teams made."""
    name = consent.get("name") or "form.pdf"
    value = {
        "type": "fileUpload",
        "action": action,
        "context": consent["content"]["acceptContext"] if context is None else context,
        "uploadInfo": {
            "contentUrl": f"https://onedrive.example.invalid/{name}",
            "name": name,
            "uploadUrl": connector.upload_url(name),
            "uniqueId": "unique-1",
            "fileType": name.rsplit(".", 1)[-1],
        },
    }
    person.adapter.activity_buffer.clear()
    before = len(person.adapter.updated_activities)
    await person.adapter.process_activity(
        Activity(type=ActivityTypes.invoke, name=FILE_CONSENT_INVOKE, value=value, reply_to_id=reply_to),
        person.bot.on_turn,
    )
    replies = list(person.adapter.activity_buffer)
    responses = [a for a in replies if a.type == ActivityTypes.invoke_response]
    assert len(responses) == 1 and responses[0].value.status == 200
    return [*replies, *person.adapter.updated_activities[before:]]


def _attachments(activities: list[Activity], content_type: str) -> list[Any]:
    return [att for a in activities for att in (a.attachments or []) if att.content_type == content_type]


def _card_words(activities: list[Activity]) -> str:
    return "\n".join(
        texts(att.content)
        for a in activities
        for att in (a.attachments or [])
        if isinstance(att.content, dict)
    )


@pytest.mark.parametrize("format", ["pdf", "docx"])
async def test_a_party_exports_the_form_through_file_consent_once(
    everyone: Runtime, connector: FakeConnector, format: str
) -> None:
    challenge = await _raised(everyone)
    raiser = _person(everyone, "rochdale_raiser")
    card = await raiser.say_card(f"show {challenge.reference}")
    assert verbs(card).count(v.EXPORT) == 2

    answer, consent = await _export(raiser, challenge, format)
    assert SENT_CONSENT in texts(answer) and challenge.reference in texts(answer)
    assert consent["name"] == f"{challenge.reference}-RBSCP-Resolution-Notice.{format}"
    content = consent["content"]
    assert content["acceptContext"] == content["declineContext"]
    assert set(content["acceptContext"]) == {"challengeId", "format", "version", "at", "size"}
    assert challenge.reference in content["description"]
    for secret in SECRETS:
        assert secret not in json.dumps(consent, ensure_ascii=False)

    done = await _answer_consent(raiser, consent, connector)
    (upload,) = connector.uploads()
    size = content["sizeInBytes"]
    assert len(upload.raw) == size and upload.content_range == f"bytes 0-{size - 1}/{size}"
    if format == "pdf":
        text = "".join(p.get_textpage().get_text_range() for p in pdfium.PdfDocument(upload.raw))
    else:
        text = "\n".join(
            c.text for t in docx.Document(io.BytesIO(upload.raw)).tables for r in t.rows for c in r.cells
        )
    assert INVENTED_CHILD.name in text and "INV-0001" in text
    (info,) = _attachments(done, FILE_INFO)
    assert info.name == consent["name"] and info.content == {"uniqueId": "unique-1", "fileType": format}
    replaced = [a for a in done if a.id == "consent-1"]
    assert replaced and "The form was sent" in _card_words(replaced)

    # The same consent card accepted again, later and then twice at once from two devices: nothing more.
    again = await _answer_consent(raiser, consent, connector)
    assert not _attachments(again, FILE_INFO)
    other_device = _person(everyone, "rochdale_raiser")
    await asyncio.gather(
        _answer_consent(raiser, consent, connector), _answer_consent(other_device, consent, connector)
    )
    assert len(connector.uploads()) == 1

    # A new Export gives a new consent card, which uploads again.
    _, second = await _export(raiser, challenge, format)
    await _answer_consent(raiser, second, connector, reply_to="consent-2")
    assert len(connector.uploads()) == 2


async def test_a_declined_consent_uploads_nothing_and_says_so(
    everyone: Runtime, connector: FakeConnector
) -> None:
    challenge = await _raised(everyone)
    raiser = _person(everyone, "rochdale_raiser")
    _, consent = await _export(raiser, challenge)
    done = await _answer_consent(raiser, consent, connector, action="decline")
    assert "You declined the file" in _card_words(done)
    assert connector.uploads() == []


async def test_an_accept_for_a_challenge_changed_since_uploads_nothing(
    everyone: Runtime, connector: FakeConnector
) -> None:
    challenge = await _raised(everyone)
    raiser = _person(everyone, "rochdale_raiser")
    _, consent = await _export(raiser, challenge)
    await everyone.service.act(
        challenge, challenge.version, Respond("A reply."), holder("rochdale", "challenged_professional")
    )
    done = await _answer_consent(raiser, consent, connector)
    assert "has changed since you asked" in _card_words(done)
    assert connector.uploads() == []


async def test_forged_or_misplaced_accepts_upload_nothing(
    everyone: Runtime, connector: FakeConnector
) -> None:
    challenge = await _raised(everyone)
    _, consent = await _export(_person(everyone, "rochdale_raiser"), challenge)
    context = consent["content"]["acceptContext"]

    # Someone the procedure does not involve, with the party's accept context.
    stranger = await _answer_consent(
        _person(everyone, "rochdale_outsider"), consent, connector, reply_to="x-1"
    )
    assert challenge.reference not in _card_words(stranger) and "Not found" in _card_words(stranger)
    # Someone who may know of a challenge but is not a party to it (in Durham, the IRO's line manager), with
    # the accept context of a party's consent card for it.
    durham = await _raised(everyone, "durham")
    _, durham_consent = await _export(_person(everyone, "durham_raiser"), durham)
    manager = await _answer_consent(
        _person(everyone, "durham_raiser_lm"), durham_consent, connector, reply_to="x-2"
    )
    assert ONLY_PARTIES in _card_words(manager)
    # The party, but from a group chat.
    group = _person(everyone, "rochdale_raiser", **GROUP)
    assert not _attachments(await _answer_consent(group, consent, connector, reply_to="x-3"), FILE_INFO)
    # Contexts that are not what the bot wrote.
    raiser = _person(everyone, "rochdale_raiser")
    for n, forged in enumerate(
        [
            None,
            "a string",
            {**context, "format": "exe"},
            {**context, "version": "1"},
            {**context, "at": "yesterday"},
            {**context, "at": "2026-11-23T10:00:00"},
            # Times that no calendar can show (the form is dated in the partnership's time zone).
            {**context, "at": "0001-01-01T00:00:00+14:00"},
            {**context, "at": "9999-12-31T23:59:59-14:00"},
            {**context, "at": "9999-12-31T23:00:00+00:00"},
            {**context, "challengeId": ""},
            {**context, "size": True},
        ]
    ):
        done = await _answer_consent(
            raiser, consent, connector, context=forged if forged is not None else {}, reply_to=f"f-{n}"
        )
        assert "could not read" in _card_words(done), forged
    # An upload address that is neither https nor this machine.
    bad = {**consent, "name": "x.pdf"}
    value_url = connector.upload_url("x.pdf").replace("127.0.0.1", "example.invalid")
    raiser.adapter.activity_buffer.clear()
    await raiser.adapter.process_activity(
        Activity(
            type=ActivityTypes.invoke,
            name=FILE_CONSENT_INVOKE,
            reply_to_id="u-1",
            value={
                "action": "accept",
                "context": context,
                "uploadInfo": {"uploadUrl": value_url, "name": "x.pdf"},
            },
        ),
        raiser.bot.on_turn,
    )
    assert bad and "no upload address I may use" in _card_words(list(raiser.adapter.updated_activities))
    assert connector.uploads() == []


async def test_only_parties_are_offered_export_and_others_are_refused(everyone: Runtime) -> None:
    # In Durham the IRO's line manager may know of the IRO's challenge, but holds no part in it.
    challenge = await _raised(everyone, "durham")
    manager = _person(everyone, "durham_raiser_lm")
    card = await manager.say_card(f"show {challenge.reference}")
    assert challenge.reference in texts(card) and v.EXPORT not in verbs(card)
    answer, consent = await _export(manager, challenge)
    assert ONLY_PARTIES in texts(answer) and consent == {}
    for secret in SECRETS:
        assert secret not in json.dumps(answer, ensure_ascii=False)
    # In a group chat even a party is sent to the 1:1 chat, with no file card.
    answer, consent = await _export(_person(everyone, "durham_raiser", **GROUP), challenge)
    assert consent == {} and "1:1 chat" in texts(answer)
    # A format no button offers.
    answer, consent = await _export(_person(everyone, "durham_raiser"), challenge, "exe")
    assert consent == {} and "format I cannot make" in texts(answer)


@pytest.mark.parametrize(
    "value",
    [
        None,
        [],
        "accept",
        {},
        {"action": "maybe"},
        {"action": ["accept"]},
        {"action": "accept", "uploadInfo": []},
    ],
)
async def test_a_malformed_file_consent_invoke_is_answered_200_and_uploads_nothing(
    everyone: Runtime, connector: FakeConnector, value: Any
) -> None:
    raiser = _person(everyone, "rochdale_raiser")
    raiser.adapter.activity_buffer.clear()
    await raiser.adapter.process_activity(
        Activity(type=ActivityTypes.invoke, name=FILE_CONSENT_INVOKE, value=value), raiser.bot.on_turn
    )
    responses = [a for a in raiser.adapter.activity_buffer if a.type == ActivityTypes.invoke_response]
    assert len(responses) == 1 and responses[0].value.status == 200
    assert connector.uploads() == []


async def test_a_consent_card_answered_once_is_not_answered_again_the_other_way(
    everyone: Runtime, connector: FakeConnector
) -> None:
    """Accepted, then declined (the same card pressed twice, at once or later): the decline must not say
    that nothing was uploaded. Declined, then accepted: nothing is uploaded."""
    challenge = await _raised(everyone)
    raiser = _person(everyone, "rochdale_raiser")
    _, consent = await _export(raiser, challenge)
    await _answer_consent(raiser, consent, connector, reply_to="card-a")
    assert len(connector.uploads()) == 1
    later = await _answer_consent(raiser, consent, connector, action="decline", reply_to="card-a")
    assert "You declined the file" not in _card_words(later)
    _, second = await _export(raiser, challenge)
    await _answer_consent(raiser, second, connector, action="decline", reply_to="card-b")
    again = await _answer_consent(raiser, second, connector, reply_to="card-b")
    assert not _attachments(again, FILE_INFO) and len(connector.uploads()) == 1
    # A decline that does not name its card claims nothing: two of them both say what became of the card.
    for _ in range(2):
        unnamed = await _answer_consent(raiser, second, connector, action="decline", reply_to="")
        assert "You declined the file" in _card_words(unnamed)
