"""People talking to the bot in process, each through botbuilder's own TestAdapter, as Teams would send it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from botbuilder.core import Bot
from botbuilder.core.adapters import TestAdapter
from botbuilder.schema import Activity, ActivityTypes, ChannelAccount, ConversationAccount

from cards import verbs as v

BOT = ChannelAccount(id="28:challenge-bot", name="Professional challenge")

#: The invented child of the raising forms the tests fill in.
CHILD = {"child_name": "Robin Inventedchild", "date_of_birth": "2018-05-02", "agency_reference": "INV-778"}
#: Durham's raising form filled in, step by step: each step's name and the inputs typed on it.
DURHAM_FORM_STEPS: list[tuple[str, dict[str, str]]] = [
    ("process", {"policy_id": "durham"}),
    (
        "child",
        {"child_name": "Robin Inventedchild", "date_of_birth": "2018-05-02", "agency_reference": "INV-9"},
    ),
    ("challenged", {"challenged_agency_id": "health_visiting", "challenged_person_id": "megan"}),
    ("issue", {"issue_category": "lack_of_report", "concern": "No report.", "desired_outcome": "A report."}),
]


def walk(node: Any) -> Iterator[dict[str, Any]]:
    """Every JSON object inside a card, depth first."""
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk(value)


def texts(card: dict[str, Any]) -> str:
    """All words a person could read on the card, in one string."""
    parts = []
    for node in walk(card):
        for key in ("text", "title", "label", "placeholder", "value", "errorMessage"):
            if isinstance(node.get(key), str):
                parts.append(node[key])
    return "\n".join(parts)


def verbs(card: dict[str, Any]) -> list[str]:
    return [n["verb"] for n in walk(card) if n.get("type") == "Action.Execute" and "verb" in n]


def execute_data(card: dict[str, Any], verb: str) -> dict[str, Any]:
    """The data a card's button with `verb` would send (before the person's inputs are merged in)."""
    for node in walk(card):
        if node.get("type") == "Action.Execute" and node.get("verb") == verb:
            return dict(node.get("data") or {})
    raise AssertionError(f"no {verb} button on the card; buttons: {verbs(card)}")


class Person:
    """One Teams user in one conversation with the bot."""

    def __init__(
        self,
        bot: Bot,
        name: str,
        aad_object_id: str,
        *,
        conversation_id: str | None = None,
        conversation_type: str = "personal",
    ) -> None:
        self.bot = bot
        self.name = name
        self.aad_object_id = aad_object_id
        self.adapter = TestAdapter(
            template_or_conversation=Activity(
                channel_id="msteams",
                service_url="https://smba.example.invalid/uk/",
                from_property=ChannelAccount(
                    id=f"29:{aad_object_id}", name=name, aad_object_id=aad_object_id
                ),
                recipient=BOT,
                conversation=ConversationAccount(
                    id=conversation_id or f"a:personal-{aad_object_id}",
                    conversation_type=conversation_type,
                    tenant_id="00000000-0000-0000-0000-0000000000001",
                ),
            )
        )
        self.last_card: dict[str, Any] = {}

    async def _turn(self, activity: Activity) -> list[Activity]:
        self.adapter.activity_buffer.clear()
        await self.adapter.process_activity(activity, self.bot.on_turn)
        return list(self.adapter.activity_buffer)

    async def install(self) -> list[dict[str, Any]]:
        activity = Activity(type=ActivityTypes.conversation_update, members_added=[BOT])
        return self._cards(await self._turn(activity))

    async def say(self, text: str) -> list[dict[str, Any]]:
        """Type `text`; the cards the bot answers with."""
        return self._cards(await self._turn(Activity(type=ActivityTypes.message, text=text)))

    async def say_card(self, text: str) -> dict[str, Any]:
        cards = await self.say(text)
        assert len(cards) == 1, cards
        return cards[0]

    async def press(self, verb: str, data: dict[str, Any] | None = None, **inputs: Any) -> dict[str, Any]:
        """Press a button: Teams sends the card's data merged with the inputs; the answer is the new card."""
        value = {"action": {"type": "Action.Execute", "verb": verb, "data": {**(data or {}), **inputs}}}
        replies = await self._turn(
            Activity(type=ActivityTypes.invoke, name="adaptiveCard/action", value=value)
        )
        responses = [a for a in replies if a.type == ActivityTypes.invoke_response]
        assert len(responses) == 1, replies
        response = responses[0].value
        assert response.status == 200
        self.last_card = response.body.value
        return self.last_card

    async def press_on(self, card: dict[str, Any], verb: str, **inputs: Any) -> dict[str, Any]:
        return await self.press(verb, execute_data(card, verb), **inputs)

    def _cards(self, replies: list[Activity]) -> list[dict[str, Any]]:
        cards = [a.content for r in replies for a in (r.attachments or [])]
        if cards:
            self.last_card = cards[-1]
        return cards


async def fill_rochdale_form_up_to_urgency(
    person: Person, challenged: dict[str, str] | None = None, **issue: str
) -> None:
    """`person` fills Rochdale's form up to the urgency step, against Omar, a teacher at an invented school (or
    whoever `challenged` names); `issue` adds to the issue step's inputs."""
    await person.say_card("raise")
    await person.press_on(person.last_card, v.RAISE_NEXT, policy_id="rochdale")
    await person.press_on(person.last_card, v.RAISE_NEXT, **CHILD)
    await person.press_on(
        person.last_card,
        v.RAISE_NEXT,
        **(challenged or {"challenged_agency_id": "rochdale_school", "challenged_person_id": "omar"}),
    )
    await person.press_on(
        person.last_card,
        v.RAISE_NEXT,
        issue_category="procedures_not_applied",
        concern="The school has not referred a disclosure.",
        desired_outcome="A referral to EHASH today.",
        **issue,
    )
