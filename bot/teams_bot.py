"""The Teams activity handler: typed commands, card buttons, installs. A thin router over the dialogs.

Who is acting always comes from the activity (`from.aadObjectId`), looked up in the partnership directory;
card data only says which challenge and which version the person was looking at.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

from botbuilder.core import ActivityHandler, ConversationState, InvokeResponse, TurnContext
from botbuilder.core.teams import teams_get_channel_id
from botbuilder.dialogs import DialogSet
from botbuilder.schema import Activity, AdaptiveCardInvokeResponse, ChannelAccount

from bot.errors import CHALLENGE_ID_TURN_STATE_KEY
from cards import verbs
from cards.describe import whose_move
from cards.errors import message_card
from cards.help import help_card
from cards.my_challenges import my_challenges_card
from cards.welcome import welcome_card
from dialogs.challenge_actions import action_from
from dialogs.raise_challenge import RAISE_DIALOG_ID, RaiseChallengeDialog
from dialogs.replies import card_action, is_card_action, show_card, shown_card
from dialogs.service import ChallengeService
from dialogs.views import Audience, challenge_view, is_party
from process.challenge import Challenge, Refused
from process.directory import Person

ADAPTIVE_CARD = "application/vnd.microsoft.card.adaptive"
MAX_COMMAND_CHARS = 200
_SPACES = re.compile(r"\s+")

RememberConversation = Callable[[TurnContext], Awaitable[None]]


def command_of(text: str | None) -> tuple[str, str]:
    """Split typed text into a command and its argument: 'show DUR-2026-0001' -> ('show', 'DUR-2026-0001')."""
    words = _SPACES.sub(" ", (text or "").strip()).lower()
    for command in ("my challenges", "help", "raise", "show", "cancel"):
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
    ) -> None:
        self.service = service
        self.conversation_state = conversation_state
        self.remember_conversation = remember_conversation
        self.dialogs = DialogSet(conversation_state.create_property("DialogState"))
        self.dialogs.add(RaiseChallengeDialog(service))

    async def on_turn(self, turn_context: TurnContext) -> None:
        await super().on_turn(turn_context)
        await self.conversation_state.save_changes(turn_context)

    # ----- installs ---------------------------------------------------------------------------------------

    async def on_installation_update(self, turn_context: TurnContext) -> None:
        await self.remember_conversation(turn_context)

    async def on_members_added_activity(
        self, members_added: list[ChannelAccount], turn_context: TurnContext
    ) -> None:
        await self.remember_conversation(turn_context)
        bot_id = turn_context.activity.recipient.id if turn_context.activity.recipient else None
        if any(member is not None and member.id == bot_id for member in members_added):
            await show_card(turn_context, welcome_card(list(self.service.policies.values())))

    # ----- typed commands ---------------------------------------------------------------------------------

    async def on_message_activity(self, turn_context: TurnContext) -> None:
        await self.remember_conversation(turn_context)
        TurnContext.remove_recipient_mention(turn_context.activity)
        text = turn_context.activity.text or ""
        if len(text) > MAX_COMMAND_CHARS:
            await show_card(turn_context, help_card(self._policies(), unknown=text))
            return
        command, argument = command_of(text)
        person = await self._person(turn_context)
        dc = await self.dialogs.create_context(turn_context)
        if command == "help":
            await show_card(turn_context, help_card(self._policies()))
        elif command == "raise":
            if not self._personal(turn_context):
                await show_card(
                    turn_context,
                    message_card(
                        "Raise it in a 1:1 chat",
                        "A challenge names a child, so it is raised in your 1:1 chat with me, never in a "
                        "group. "
                        "Open a chat with me and type raise.",
                    ),
                )
            elif person is None:
                await show_card(turn_context, self._not_in_directory())
            else:
                await dc.cancel_all_dialogs()
                await dc.begin_dialog(RAISE_DIALOG_ID)
        elif command == "cancel":
            if dc.active_dialog is not None:
                await dc.continue_dialog()
            else:
                await show_card(turn_context, help_card(self._policies()))
        elif command == "my challenges":
            await self._my_challenges(turn_context, person)
        elif command == "show":
            await self._show(turn_context, person, argument)
        elif dc.active_dialog is not None:
            await dc.continue_dialog()
        else:
            await show_card(turn_context, help_card(self._policies(), unknown=text.strip() or None))

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
            ),
        )

    async def _show(self, turn_context: TurnContext, person: Person | None, reference: str) -> None:
        challenge = await self.service.find(reference) if reference else None
        if challenge is None:
            await show_card(
                turn_context,
                message_card(
                    "Not found", "There is no challenge with that reference. Type my challenges to see yours."
                ),
            )
            return
        turn_context.turn_state[CHALLENGE_ID_TURN_STATE_KEY] = challenge.id
        audience = self._audience(turn_context)
        if audience == "party" and not is_party(
            challenge, person, await self.service.engine(challenge.policy_id)
        ):
            await show_card(
                turn_context,
                message_card(
                    "Not one of yours",
                    f"You are not involved in {challenge.reference}, so I cannot show it to you.",
                ),
            )
            return
        if person is None:
            await show_card(turn_context, self._not_in_directory())
            return
        card = await challenge_view(self.service, challenge, person, audience=audience)
        await show_card(turn_context, card)

    # ----- card buttons -----------------------------------------------------------------------------------

    async def on_invoke_activity(self, turn_context: TurnContext) -> InvokeResponse | None:
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
        dc = await self.dialogs.create_context(turn_context)
        if action.verb.startswith("raise."):
            if not self._personal(turn_context):
                await show_card(
                    turn_context, message_card("Raise it in a 1:1 chat", "Challenges are raised in 1:1.")
                )
            elif dc.active_dialog is not None and dc.active_dialog.id == RAISE_DIALOG_ID:
                await dc.continue_dialog()
            elif action.verb == verbs.RAISE_START:
                await dc.begin_dialog(RAISE_DIALOG_ID)
            else:
                await show_card(
                    turn_context,
                    message_card(
                        "That form has ended",
                        "It was sent or cancelled already. Type raise to start a new challenge.",
                    ),
                )
        elif action.verb == verbs.SHOW:
            await self._show(turn_context, person, action.text("reference") or action.text("challengeId"))
        else:
            await self._challenge_action(turn_context, person, action)
        return _card_response(shown_card(turn_context) or message_card("Done", "Nothing more to show."))

    async def _challenge_action(self, turn_context: TurnContext, person: Person, action: Any) -> None:
        challenge_id = action.text("challengeId")
        challenge = await self.service.find(challenge_id) if challenge_id else None
        if challenge is None:
            await show_card(turn_context, message_card("Not found", "That challenge no longer exists here."))
            return
        turn_context.turn_state[CHALLENGE_ID_TURN_STATE_KEY] = challenge.id
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
        if result.outcome == "applied":
            await answer(result.challenge or challenge, "Done. Everyone who needs to know has been told.")
        else:
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

    def _audience(self, turn_context: TurnContext) -> Audience:
        return (
            "party"
            if self._personal(turn_context) and not teams_get_channel_id(turn_context.activity)
            else "group"
        )

    @staticmethod
    def _not_in_directory() -> dict[str, Any]:
        return message_card(
            "You are not in the directory",
            "I could not find you in the partnership's directory, so I cannot act for you. Ask your "
            "partnership's "
            "business unit to add you with your Microsoft 365 account.",
        )


def _card_response(card: dict[str, Any]) -> InvokeResponse:
    """The answer Teams expects to `Action.Execute`: the card that replaces the pressed one."""
    return InvokeResponse(
        status=200,
        body=AdaptiveCardInvokeResponse(status_code=200, type=ADAPTIVE_CARD, value=card),
    )


def reference_of(activity: Activity) -> dict[str, Any]:
    """The conversation reference of `activity`, as plain JSON, for proactive messages later."""
    reference = TurnContext.get_conversation_reference(activity)
    serialized: dict[str, Any] = reference.serialize()
    return serialized
