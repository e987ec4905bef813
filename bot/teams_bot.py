"""The Teams activity handler: typed commands, card buttons, installs. A thin router over the dialogs.

Who is acting always comes from the activity (`from.aadObjectId`), looked up in the partnership directory;
card data only says which challenge and which version the person was looking at.
"""

from __future__ import annotations

import html
import logging
import re
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any
from urllib.parse import quote

from botbuilder.core import ActivityHandler, ConversationState, InvokeResponse, TurnContext
from botbuilder.schema import Activity, AdaptiveCardInvokeResponse, ChannelAccount

from bot.file_export import FormExporter, is_file_consent
from bot.named import named_challenge
from cards import verbs
from cards.commands import show_usage
from cards.describe import whose_move
from cards.errors import chat_card, message_card
from cards.help import help_card
from cards.my_challenges import my_challenges_card
from cards.report import report_card
from cards.welcome import welcome_card
from dialogs.challenge_actions import action_from
from dialogs.monitoring import Monitoring
from dialogs.raise_challenge import RaiseChallengeFlow
from dialogs.replies import ShownCard, card_action, is_card_action, show_card, shown_card
from dialogs.service import ChallengeService
from dialogs.views import Audience, challenge_view
from process.challenge import Challenge, Refused
from process.directory import Person
from process.monitoring import DEFAULT_PRESET, PeriodError, parse_period, preset_period
from storage.drafts import DraftStore
from storage.errors import StateConflictError
from storage.monitoring import MonitoringStore

log = logging.getLogger(__name__)

ADAPTIVE_CARD = "application/vnd.microsoft.card.adaptive"
MAX_COMMAND_CHARS = 200
_SPACES = re.compile(r"\s+")
_MENTION = re.compile(r"<at\b[^>]*>.*?</at>", re.IGNORECASE | re.DOTALL)

RememberConversation = Callable[[TurnContext], Awaitable[None]]


def without_mentions(text: str | None) -> str:
    """What a person typed, without the @mentions Teams puts in the text of a group chat or channel message
    (`<at>Professional challenge</at> help`) and with its HTML entities (`&nbsp;`) read as characters.
    (botbuilder's `remove_recipient_mention` escapes the mention before matching it, so it never removes it.)"""
    return html.unescape(_MENTION.sub(" ", text or "")).replace("\xa0", " ")


def command_of(text: str | None) -> tuple[str, str]:
    """Split typed text into a command and its argument: 'show DUR-2026-0001' -> ('show', 'DUR-2026-0001')."""
    words = _SPACES.sub(" ", (text or "").strip()).lower()
    for command in ("my challenges", "help", "raise", "show", "cancel", "report"):
        if words == command or words.startswith(command + " "):
            return command, (text or "").strip()[len(command) :].strip() if command == "show" else ""
    return "", words


class ChallengeBot(ActivityHandler):  # type: ignore[misc]  # botbuilder ships no type hints
    """Routes each Teams activity to the command, dialog or card action it is for."""

    def __init__(
        self,
        service: ChallengeService,
        conversation_state: ConversationState,
        remember_conversation: RememberConversation,
        *,
        drafts: DraftStore,
        draft_ttl: timedelta,
        monitoring: Monitoring | None = None,
    ) -> None:
        self.service = service
        self.monitoring = monitoring or Monitoring(service, MonitoringStore(service.repository.db))
        self.conversation_state = conversation_state
        self.remember_conversation = remember_conversation
        self.raising = RaiseChallengeFlow(service, drafts, draft_ttl)
        self.exporter = FormExporter(service)

    async def on_turn(self, turn_context: TurnContext) -> None:
        await super().on_turn(turn_context)
        try:
            await self.conversation_state.save_changes(turn_context)
        except StateConflictError:
            # Another turn of this conversation saved first. Nothing the bot relies on is kept in
            # conversation state (the raising form is in the database), so this turn's answer stands.
            log.info("conversation state was saved by a concurrent turn; this turn's copy was not saved")

    # ----- installs ---------------------------------------------------------------------------------------

    async def on_installation_update(self, turn_context: TurnContext) -> None:
        await self.remember_conversation(turn_context)

    async def on_members_added_activity(
        self, members_added: list[ChannelAccount], turn_context: TurnContext
    ) -> None:
        await self.remember_conversation(turn_context)
        bot_id = turn_context.activity.recipient.id if turn_context.activity.recipient else None
        if any(member is not None and member.id == bot_id for member in members_added):
            await show_card(
                turn_context, welcome_card(self._policies(), chat_link=self._chat_link(turn_context))
            )

    # ----- typed commands ---------------------------------------------------------------------------------

    async def on_message_activity(self, turn_context: TurnContext) -> None:
        await self.remember_conversation(turn_context)
        text = without_mentions(turn_context.activity.text)
        chat_link = self._chat_link(turn_context)
        if len(text) > MAX_COMMAND_CHARS:
            await show_card(turn_context, help_card(self._policies(), unknown=text, chat_link=chat_link))
            return
        command, argument = command_of(text)
        person = await self._person(turn_context)
        partnerships = await self.monitoring.partnerships_for(person)
        if command == "report" and not partnerships:
            # Only the partnership's post holders know of the report: anyone else is answered as for any
            # words the bot does not know.
            command, argument = "", text
        if chat_link is not None:
            await self._in_group(turn_context, person, command, argument, text, chat_link)
            return
        if command == "help":
            await show_card(turn_context, help_card(self._policies(), reporting=bool(partnerships)))
        elif command == "raise":
            if person is None:
                await show_card(turn_context, self._not_in_directory())
            else:
                await self.raising.start(turn_context, person)
        elif command == "cancel":
            if not await self._to_form(turn_context, person, "cancel"):
                nothing = "There is no challenge being raised here, so there was nothing to cancel."
                await show_card(
                    turn_context, help_card(self._policies(), notice=nothing, reporting=bool(partnerships))
                )
        elif command == "my challenges":
            await self._my_challenges(turn_context, person)
        elif command == "show":
            await self._show(turn_context, person, argument)
        elif command == "report":
            await self._report(turn_context, partnerships, {})
        elif not await self._to_form(turn_context, person, text.strip()):
            await show_card(
                turn_context,
                help_card(self._policies(), unknown=text.strip() or None, reporting=bool(partnerships)),
            )

    async def _in_group(
        self,
        turn_context: TurnContext,
        person: Person | None,
        command: str,
        argument: str,
        text: str,
        chat_link: str,
    ) -> None:
        """A group chat or channel: help is answered here; raising, the raising form, a person's list of
        challenges and any challenge itself belong to their 1:1 chat, which the answer links to. Not even a
        challenge's summary is shown where people with no part in it can read it."""
        if command in ("raise", "my challenges", "cancel", "show", "report"):
            await show_card(turn_context, _to_one_to_one(command, chat_link))
        else:
            unknown = None if command == "help" else text.strip() or None
            await show_card(turn_context, help_card(self._policies(), unknown=unknown, chat_link=chat_link))

    async def _to_form(self, turn_context: TurnContext, person: Person | None, text: str) -> bool:
        """Hand typed text to the person's open raising form (only in their 1:1 chat); False if none."""
        if person is None or not self._personal(turn_context):
            return False
        return await self.raising.on_text(turn_context, person, text)

    async def _my_challenges(self, turn_context: TurnContext, person: Person | None) -> None:
        if person is None:
            await show_card(turn_context, self._not_in_directory())
            return
        rows = [(c, self.service.policy(c.policy_id)) for c in await self.service.mine(person.id)]
        await show_card(
            turn_context,
            my_challenges_card(
                rows,
                viewer_id=person.id,
                calendar_for=lambda policy: self.service.calendar(policy.id),
                now=self.service.clock(),
                whose_move=lambda challenge: whose_move(challenge, self.service.policy(challenge.policy_id)),
                directory=await self.service.directory(),
            ),
        )

    async def _show(self, turn_context: TurnContext, person: Person | None, reference: str) -> None:
        """A challenge's card, for someone who may know of it; the same "not found" for anyone else, whether
        the reference exists or not."""
        if person is None:
            await show_card(turn_context, self._not_in_directory())
            return
        if not reference.strip():
            await show_card(turn_context, message_card("Which challenge?", show_usage(self._policies())))
            return
        challenge = await named_challenge(self.service, turn_context, person, reference)
        if challenge is None:
            return
        card = await challenge_view(self.service, challenge, person, audience=self._audience(turn_context))
        await show_card(turn_context, card)

    async def _report(self, turn_context: TurnContext, partnerships: tuple[str, ...], data: Any) -> None:
        """The monitoring report of one of `partnerships` (those whose post the person holds) for the period
        chosen on the card: a preset, or dates; a period that cannot be used is said so above the default."""

        def chosen(key: str) -> str:
            value = data.get(key) if isinstance(data, dict) else None
            return value.strip()[:40] if isinstance(value, str) else ""

        partnership = chosen("partnership")
        if partnership not in partnerships:
            partnership = partnerships[0]
        preset, since, until = chosen("period"), chosen("since"), chosen("until")
        today = self.monitoring.today()
        notice = None
        try:
            period = parse_period(preset, since, until, today)
        except PeriodError as refused:
            notice = f"{refused} Showing the last 12 months instead."
            preset, since, until = DEFAULT_PRESET, "", ""
            period = preset_period(DEFAULT_PRESET, today)
        stats = await self.monitoring.statistics(partnership, period)
        names = [(p, self.service.policy(p).partnership) for p in partnerships]
        card = report_card(
            stats,
            partnerships=names,
            preset=None if since else preset or DEFAULT_PRESET,
            since=since,
            until=until,
            notice=notice,
        )
        await show_card(turn_context, card)

    # ----- card buttons -----------------------------------------------------------------------------------

    async def on_invoke_activity(self, turn_context: TurnContext) -> InvokeResponse | None:
        if is_file_consent(turn_context):
            # The answer to a file consent card (an exported form): checked again from the activity.
            personal = self._audience(turn_context) == "party"
            return await self.exporter.on_file_consent(
                turn_context, await self._person(turn_context), personal
            )
        if not is_card_action(turn_context):
            # The manifest declares no message extension, task module, sign-in or health check, so Teams
            # sends no other invoke; anything else gets Teams' empty 200 instead of the SDK's 501.
            return InvokeResponse(status=200)
        action = card_action(turn_context)
        if action is None:
            return _card_response(
                message_card("Not understood", "That button sent something I could not read.")
            )
        person = await self._person(turn_context)
        if person is None:
            return _card_response(self._not_in_directory())
        chat_link = self._chat_link(turn_context)
        partnerships = await self.monitoring.partnerships_for(person)
        if action.verb == verbs.REPORT_REFRESH and partnerships:
            if chat_link is not None:
                await show_card(turn_context, _to_one_to_one("report", chat_link))
            else:
                await self._report(turn_context, partnerships, action.data)
        elif action.verb.startswith("raise."):
            if chat_link is not None:
                # The pressed card is replaced by the answer: give back the welcome card (with its
                # immediate-risk guidance), its button now opening the person's 1:1 chat.
                await show_card(turn_context, welcome_card(self._policies(), chat_link=chat_link))
            else:
                await self.raising.on_card(turn_context, person, action)
        elif chat_link is not None:
            # A challenge card's button pressed where others can read the answer: the challenge is shown
            # only in the 1:1 chat, the same answer whichever challenge the button names.
            await show_card(turn_context, _to_one_to_one("show", chat_link))
        elif action.verb == verbs.EXPORT:
            await self.exporter.on_export(turn_context, person, action, self._audience(turn_context))
        elif action.verb == verbs.SHOW:
            await self._show(turn_context, person, action.text("reference") or action.text("challengeId"))
        else:
            await self._challenge_action(turn_context, person, action)
        return _card_response(shown_card(turn_context) or message_card("Done", "Nothing more to show."))

    async def _challenge_action(self, turn_context: TurnContext, person: Person, action: Any) -> None:
        challenge = await named_challenge(self.service, turn_context, person, action.text("challengeId"))
        if challenge is None:
            return
        audience = self._audience(turn_context)

        async def answer(shown: Challenge, notice: str | None = None) -> None:
            await show_card(
                turn_context,
                await challenge_view(self.service, shown, person, audience=audience, notice=notice),
            )

        if action.verb == verbs.REFRESH:
            await answer(challenge)
            return
        if action.version is None:
            await answer(challenge, "That card did not say which version it showed, so nothing was changed.")
            return
        try:
            engine_action = action_from(action, self.service.policy(challenge.policy_id), challenge.stage)
        except Refused as refused:
            await answer(challenge, refused.reason)
            return
        result = await self.service.act(challenge, action.version, engine_action, person.id)
        await answer(result.challenge or challenge, result.notice)

    # ----- helpers ----------------------------------------------------------------------------------------

    def _policies(self) -> list[Any]:
        return list(self.service.policies.values())

    async def _person(self, turn_context: TurnContext) -> Person | None:
        sender = turn_context.activity.from_property
        return await self.service.person_for(sender.aad_object_id if sender else None)

    @staticmethod
    def _personal(turn_context: TurnContext) -> bool:
        conversation = turn_context.activity.conversation
        return bool(conversation) and (conversation.conversation_type or "personal") == "personal"

    @classmethod
    def _chat_link(cls, turn_context: TurnContext) -> str | None:
        """In a group chat or channel, a deep link to the person's 1:1 chat with the bot (Teams: a chat with
        `28:<bot app id>`, the bot's id in the activity); None in a 1:1 chat."""
        if cls._audience(turn_context) == "party":
            return None
        recipient = turn_context.activity.recipient
        return one_to_one_chat_link(recipient.id if recipient else None)

    @classmethod
    def _audience(cls, turn_context: TurnContext) -> Audience:
        """A 1:1 chat ("party") or anywhere others may read ("group"): a group chat, or anything in a channel."""
        return "party" if cls._personal(turn_context) and not _in_channel(turn_context.activity) else "group"

    @staticmethod
    def _not_in_directory() -> dict[str, Any]:
        return message_card(
            "You are not in the directory",
            "I could not find you in the partnership's directory, so I cannot act for you. Ask your "
            "partnership's "
            "business unit to add you with your Microsoft 365 account.",
        )


def one_to_one_chat_link(bot_id: str | None) -> str:
    """A Teams deep link that opens a 1:1 chat with the bot `bot_id` (`28:<app id>`); Teams' own chat list
    when the id is not a bot's (a test channel, say)."""
    if bot_id and bot_id.startswith("28:"):
        return f"https://teams.microsoft.com/l/chat/0/0?users={quote(bot_id, safe=':')}"
    return "https://teams.microsoft.com/l/chat/0/0"


_ONE_TO_ONE_ONLY = {
    "raise": "A challenge names a child, so it is raised in your 1:1 chat with me, never here.",
    "my challenges": "Your challenges are listed in your 1:1 chat with me, not where others can read them.",
    "cancel": "A challenge being raised is in your 1:1 chat with me: type cancel there.",
    "show": "Challenges are shown in your 1:1 chat with me, never where people with no part in them can read "
    "them: type show and the reference there.",
    "report": "The partnership's monitoring report is shown in your 1:1 chat with me, not where others can "
    "read it: type report there.",
}


def _to_one_to_one(command: str, chat_link: str) -> dict[str, Any]:
    """The answer in a group chat or channel to what belongs in the person's 1:1 chat, with a link to it."""
    return chat_card("Open your 1:1 chat with me", _ONE_TO_ONE_ONLY[command], chat_link)


def _in_channel(activity: Activity) -> bool:
    """Whether Teams says the activity comes from a channel (`channelData.channel.id`). Read as plain data:
    the SDK's own reader raises on channel data of an unexpected shape, and a malformed activity must not fail
    the turn; anything unreadable counts as a channel, the audience that is shown less."""
    data = activity.channel_data
    if data is None:
        return False
    if not isinstance(data, dict):
        return True
    channel = data.get("channel")
    if isinstance(channel, dict):
        return bool(channel.get("id"))
    return channel is not None


def _card_response(card: dict[str, Any]) -> InvokeResponse:
    """The answer Teams expects to `Action.Execute`: the card that replaces the pressed one."""
    return InvokeResponse(
        status=200,
        body=AdaptiveCardInvokeResponse(status_code=200, type=ADAPTIVE_CARD, value=ShownCard(card)),
    )


def reference_of(activity: Activity) -> dict[str, Any]:
    """The conversation reference of `activity`, as plain JSON, for proactive messages later."""
    reference = TurnContext.get_conversation_reference(activity)
    serialized: dict[str, Any] = reference.serialize()
    return serialized
