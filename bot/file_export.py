"""The Export buttons of a party's 1:1 card, and Teams' file consent that delivers the form.

A bot may send a file in a personal chat only with the person's consent: the bot sends a file consent card
(the file's name, description and size); when the person accepts, Teams creates an upload session in their
OneDrive and sends the bot a `fileConsent/invoke` with its `uploadInfo`; the bot PUTs the bytes to
`uploadInfo.uploadUrl` (with `Content-Range`), then sends a file card for the uploaded file and replaces the
consent card. On decline the consent card is replaced with a line saying nothing was sent.

Everything is checked again on accept, from the activity, never from the card: the accept context is card data
and could be forged, so the person accepting must be a party who may see the challenge, the invoke must come
from a 1:1 chat, and the context's format, version and time must make sense. The context carries no child data
(the challenge id, the format, the version shown, when the export was asked for and the file's size); the file
is made again from the record on accept, at the version and time the consent card was made for, so the size
Teams was told is the size uploaded. A consent card is answered at most once: a second accept of it (at once
or later) uploads nothing, an accept after a decline uploads nothing, and a decline after an accept changes
nothing.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import UTC, datetime
from typing import Any, cast
from urllib.parse import urlsplit

import aiohttp
from botbuilder.core import InvokeResponse, MessageFactory, TurnContext
from botbuilder.schema import ActivityTypes, Attachment

from bot.errors import CHALLENGE_ID_TURN_STATE_KEY
from bot.named import named_challenge
from cards.errors import message_card, not_found_card
from cards.export import consent_answered, file_consent, file_info
from dialogs.export import ExportedForm, export_form
from dialogs.replies import CardAction, show_card
from dialogs.service import ChallengeService
from dialogs.views import Audience, challenge_view, is_party
from forms import FORMATS, Format
from process.challenge import Challenge
from process.directory import Person
from storage.once import claim_once

log = logging.getLogger(__name__)

FILE_CONSENT_INVOKE = "fileConsent/invoke"
UPLOAD_TIMEOUT = aiohttp.ClientTimeout(total=60)
_LOOPBACK = ("127.0.0.1", "localhost", "::1")

ONLY_PARTIES = "Only the people involved in a challenge can export its form, which names the child."
SENT_CONSENT = (
    "I have sent the form as a file card in this chat: accept it and the form is saved to your OneDrive and "
    "shown here."
)


def _attachment(shape: dict[str, Any]) -> Attachment:
    return Attachment(
        content_type=shape["contentType"],
        content_url=shape.get("contentUrl"),
        name=shape.get("name"),
        content=shape.get("content"),
    )


def _upload_url_allowed(url: str) -> bool:
    """An upload URL Teams would give: https, or http to this machine only (a local trial or a test)."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return True
    return parts.scheme == "http" and parts.hostname in _LOOPBACK


class FormExporter:
    """Sends a challenge's form through Teams' file consent, for the parties of the challenge only."""

    def __init__(self, service: ChallengeService) -> None:
        self.service = service

    # ----- the Export button ----------------------------------------------------------------------------

    async def on_export(
        self, turn_context: TurnContext, person: Person, action: CardAction, audience: Audience
    ) -> None:
        """The Export button, pressed in a 1:1 chat (group chats and channels are answered before this)."""
        challenge = await named_challenge(self.service, turn_context, person, action.text("challengeId"))
        if challenge is None:
            return
        if audience != "party" or not is_party(
            challenge, person, await self.service.engine(challenge.policy_id)
        ):
            await self._answer(turn_context, challenge, person, ONLY_PARTIES)
            return
        format = action.text("format")
        if format not in FORMATS:
            await self._answer(
                turn_context, challenge, person, "That button asked for a format I cannot make."
            )
            return
        at = self.service.clock()
        exported = await export_form(self.service, challenge, format, now=at)
        context = {
            "challengeId": challenge.id,
            "format": format,
            "version": challenge.version,
            "at": at.isoformat(),
            "size": len(exported.content),
        }
        description = f"{exported.title} for {challenge.reference} ({format.upper()})"
        consent = file_consent(exported.name, description, len(exported.content), context)
        await turn_context.send_activity(MessageFactory.attachment(_attachment(consent)))
        log.info("file consent sent for challenge %s (%s)", challenge.id, format)
        await self._answer(turn_context, challenge, person, SENT_CONSENT)

    async def _answer(
        self, turn_context: TurnContext, challenge: Challenge, person: Person, notice: str
    ) -> None:
        card = await challenge_view(self.service, challenge, person, audience="party", notice=notice)
        await show_card(turn_context, card)

    # ----- the person's answer to the consent card ------------------------------------------------------

    async def on_file_consent(
        self, turn_context: TurnContext, person: Person | None, personal: bool
    ) -> InvokeResponse:
        """`fileConsent/invoke`: upload on accept (after checking everything again), say so on decline.
        Always answered 200: Teams shows nothing of the invoke's answer."""
        value = turn_context.activity.value if isinstance(turn_context.activity.value, dict) else {}
        answer = value.get("action")
        if not personal or person is None or answer not in ("accept", "decline"):
            return InvokeResponse(status=200)
        if answer == "decline":
            # A consent card is answered once: a decline after an accept (or a second decline) changes
            # nothing and must not say that nothing was uploaded; an accept after a decline uploads nothing.
            # (Only a decline that names its card is claimed: without one the key would be the whole chat's.)
            upload_info = value.get("uploadInfo")
            if turn_context.activity.reply_to_id and not await claim_once(
                self.service.repository.db,
                _consent_key(turn_context, upload_info if isinstance(upload_info, dict) else {}),
                clock=self.service.clock,
            ):
                log.info("a file consent card was declined after it had been answered; nothing changed")
                return InvokeResponse(status=200)
            await self._replace_consent(
                turn_context, "The form was not sent", "You declined the file, so nothing was uploaded."
            )
            return InvokeResponse(status=200)
        context = value.get("context")
        upload = value.get("uploadInfo")
        request = _read_context(context)
        if request is None or not isinstance(upload, dict):
            await turn_context.send_activity(
                MessageFactory.attachment(
                    _attachment(
                        _adaptive(
                            message_card("Not understood", "That file card sent something I could not read.")
                        )
                    )
                )
            )
            return InvokeResponse(status=200)
        challenge_id, format, version, at, size = request
        challenge = await self.service.visible(challenge_id, person)
        if challenge is None:
            await turn_context.send_activity(
                MessageFactory.attachment(_attachment(_adaptive(not_found_card())))
            )
            return InvokeResponse(status=200)
        turn_context.turn_state[CHALLENGE_ID_TURN_STATE_KEY] = challenge.id
        if not is_party(challenge, person, await self.service.engine(challenge.policy_id)):
            await self._replace_consent(turn_context, "The form was not sent", ONLY_PARTIES)
            return InvokeResponse(status=200)
        if not await claim_once(
            self.service.repository.db, _consent_key(turn_context, upload), clock=self.service.clock
        ):
            log.info("file consent for challenge %s accepted again; nothing more uploaded", challenge.id)
            return InvokeResponse(status=200)
        if challenge.version != version:
            await self._replace_consent(
                turn_context,
                "The form was not sent",
                f"{challenge.reference} has changed since you asked for its form: press Export on its card again "
                "for the current one.",
            )
            return InvokeResponse(status=200)
        exported = await export_form(self.service, challenge, format, now=at)
        if len(exported.content) != size:
            await self._replace_consent(
                turn_context, "The form was not sent", "Please press Export on the challenge's card again."
            )
            return InvokeResponse(status=200)
        problem = await self._upload(upload, exported)
        if problem is not None:
            log.warning("the form of challenge %s could not be uploaded: %s", challenge.id, problem)
            await self._replace_consent(
                turn_context,
                "The form was not sent",
                f"Teams did not take the file ({problem}). Press Export on the challenge's card to try again.",
            )
            return InvokeResponse(status=200)
        info = file_info(
            str(upload.get("name") or exported.name),
            str(upload.get("contentUrl") or ""),
            str(upload.get("uniqueId") or ""),
            str(upload.get("fileType") or format),
        )
        await turn_context.send_activity(MessageFactory.attachment(_attachment(info)))
        await self._replace_consent(
            turn_context, "The form was sent", f"{exported.name} is saved to your OneDrive and shown below."
        )
        log.info("the form of challenge %s was uploaded (%s, %d bytes)", challenge.id, format, size)
        return InvokeResponse(status=200)

    async def _upload(self, upload: dict[str, Any], exported: ExportedForm) -> str | None:
        """PUT the file to the upload session Teams made; None when it is stored, else what went wrong."""
        url = upload.get("uploadUrl")
        if not isinstance(url, str) or not _upload_url_allowed(url):
            return "no upload address I may use"
        size = len(exported.content)
        headers = {"Content-Length": str(size), "Content-Range": f"bytes 0-{size - 1}/{size}"}
        try:
            async with (
                aiohttp.ClientSession(timeout=UPLOAD_TIMEOUT) as session,
                session.put(url, data=exported.content, headers=headers) as response,
            ):
                if response.status >= 300:
                    return f"it answered {response.status}"
        except (aiohttp.ClientError, TimeoutError) as error:
            return f"it could not be reached: {type(error).__name__}"
        return None

    async def _replace_consent(self, turn_context: TurnContext, title: str, words: str) -> None:
        """Replace the consent card with what became of it (or say it in the chat when it cannot be found)."""
        card = consent_answered(title, words)
        replied_to = turn_context.activity.reply_to_id
        if replied_to:
            update = MessageFactory.attachment(_attachment(_adaptive(card)))
            update.id = replied_to
            try:
                await turn_context.update_activity(update)
                return
            except Exception as error:
                log.info("the consent card could not be replaced: %s", type(error).__name__)
        await turn_context.send_activity(MessageFactory.attachment(_attachment(_adaptive(card))))


def _consent_key(turn_context: TurnContext, upload: dict[str, Any]) -> str:
    """Which consent card was answered: its activity in this conversation (or, without one, Teams' id for
    the upload), as a digest of bounded length whatever the activity says."""
    activity = turn_context.activity
    card = activity.reply_to_id or str(upload.get("uniqueId") or "")
    digest = hashlib.sha256(f"{activity.conversation.id}\n{card}".encode("utf-8", "replace")).hexdigest()
    return f"file-consent/{digest}"


def _adaptive(card: dict[str, Any]) -> dict[str, Any]:
    return {"contentType": "application/vnd.microsoft.card.adaptive", "content": card}


def _read_context(context: Any) -> tuple[str, Format, int, datetime, int] | None:
    """The accept context as this bot wrote it, or None when any part is missing or malformed."""
    if not isinstance(context, dict):
        return None
    challenge_id, format, version = context.get("challengeId"), context.get("format"), context.get("version")
    at, size = context.get("at"), context.get("size")
    if not isinstance(challenge_id, str) or not challenge_id or format not in FORMATS:
        return None
    if (
        not isinstance(version, int)
        or isinstance(version, bool)
        or not isinstance(size, int)
        or isinstance(size, bool)
    ):
        return None
    if not isinstance(at, str):
        return None
    try:
        when = datetime.fromisoformat(at)
        # Dated in the partnership's time zone on the form: a time no calendar can show (year 1 at +14:00)
        # is not one this bot wrote.
        if when.tzinfo is None or not 2000 <= when.astimezone(UTC).year <= 9998:
            return None
    except (ValueError, OverflowError):
        return None
    return challenge_id, cast(Format, format), version, when, size


def is_file_consent(turn_context: TurnContext) -> bool:
    activity = turn_context.activity
    return bool(activity.type == ActivityTypes.invoke and activity.name == FILE_CONSENT_INVOKE)
