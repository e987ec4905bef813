"""Turning a pressed button and its inputs into the engine's action.

Card data is the person's input, never proof of who they are or what they may do: it only names the
challenge, the version the card showed and what was typed. Bad or forged input is refused with a reason.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from cards import verbs
from cards.inputs import action_inputs
from dialogs.replies import CardAction
from process.challenge import (
    Action,
    Close,
    CompleteStep,
    ConfirmOutcome,
    ConfirmTimescale,
    Escalate,
    HandOver,
    ProposeOutcome,
    ProposeTimescale,
    RecordMeeting,
    Refused,
    Respond,
    TakePart,
    Withdraw,
)
from process.policy import Policy, RoleId


def _working_days(raw: object) -> int:
    text = str(raw).strip() if isinstance(raw, str | int) and not isinstance(raw, bool) else ""
    try:
        number = float(text)
    except ValueError:
        raise Refused("Give the timescale as a number of working days.", "invalid") from None
    if not number.is_integer():
        raise Refused("Give the timescale as a whole number of working days.", "invalid")
    return int(number)


def _date(raw: str) -> date:
    try:
        return date.fromisoformat(raw.strip())
    except ValueError:
        raise Refused("Give the meeting date as a date, e.g. 2026-11-23.", "invalid") from None


def _role(raw: str, policy: Policy) -> RoleId:
    if raw not in {r.id for r in policy.roles}:
        raise Refused("Choose which part in the challenge you mean.", "invalid")
    return raw


def _escalate(action: CardAction, policy: Policy, stage: int) -> Escalate:
    target = policy.next_stage(stage)
    fields = {f.id: action.text(f.id) for f in target.entry_fields} if target else {}
    return Escalate(action.text("reason"), {k: v for k, v in fields.items() if v.strip()})


BUILDERS: dict[str, Callable[[CardAction, Policy, int], Action]] = {
    verbs.RESPOND: lambda a, p, s: Respond(a.text("text")),
    verbs.PROPOSE: lambda a, p, s: ProposeOutcome(a.text("text")),
    verbs.CONFIRM: lambda a, p, s: ConfirmOutcome(),
    verbs.ESCALATE: _escalate,
    verbs.TIMESCALE: lambda a, p, s: ProposeTimescale(
        _working_days(a.data.get("working_days")), a.text("note")
    ),
    verbs.CONFIRM_TIMESCALE: lambda a, p, s: ConfirmTimescale(),
    verbs.TAKE_PART: lambda a, p, s: TakePart(_role(a.text("role"), p)),
    verbs.COMPLETE_STEP: lambda a, p, s: CompleteStep(a.text("note")),
    verbs.MEETING: lambda a, p, s: RecordMeeting(
        _date(a.text("held_on")),
        a.text("attendees"),
        a.text("key_points"),
        a.text("actions_agreed"),
        a.text("timescales"),
    ),
    verbs.WITHDRAW: lambda a, p, s: Withdraw(a.text("reason")),
    verbs.HAND_OVER: lambda a, p, s: HandOver(
        _role(a.text("role"), p), a.text("to_person_id"), a.text("note")
    ),
    verbs.CLOSE: lambda a, p, s: Close(a.text("outcome")),
}


def action_from(card_action: CardAction, policy: Policy, stage: int) -> Action:
    """The engine action a challenge button asks for; `Refused` when the inputs cannot make one."""
    builder = BUILDERS.get(card_action.verb)
    if builder is None:
        raise Refused("That button is not one this bot knows. Type help to see what it can do.", "invalid")
    # Some forms share a card, so their inputs carry their own ids; read them under the engine's names.
    named = CardAction(card_action.verb, action_inputs(card_action.verb, card_action.data))
    return builder(named, policy, stage)
