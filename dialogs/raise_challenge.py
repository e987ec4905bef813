"""Raising a challenge: the partnership's form, one step per card, then a review card and confirm.

The dialog keeps the person's answers in dialog state (the project's `Storage`), so a half-filled form
survives a restart. Each step is validated on its card; the engine has the last word at confirm.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from botbuilder.dialogs import Dialog, DialogContext, DialogTurnResult

from cards import verbs
from cards.errors import message_card
from cards.raise_form import (
    RAISE_STEPS,
    raise_cancelled_card,
    raise_request_from,
    raise_review_card,
    raise_step_card,
    validate_raise_step,
)
from cards.times import day
from dialogs.replies import CardAction, card_action, show_card
from dialogs.service import ChallengeService
from dialogs.views import challenge_view
from process.challenge import Refused
from process.directory import Person
from process.policy import Policy

REVIEW = "review"
RAISE_DIALOG_ID = "raise_challenge"


class RaiseChallengeDialog(Dialog):  # type: ignore[misc]  # botbuilder ships no type hints
    """Walks the raiser through the form. State: the current step, the steps, the values entered."""

    def __init__(self, service: ChallengeService) -> None:
        super().__init__(RAISE_DIALOG_ID)
        self.service = service

    def _steps(self, policy: Policy | None) -> list[str]:
        steps = list(RAISE_STEPS)
        if len(self.service.policies) == 1:
            steps.remove("process")
        if policy is not None and not (policy.urgent_start_stages or policy.reasoned_starts):
            steps.remove("urgency")
        return [*steps, REVIEW]

    def _policy(self, state: dict[str, Any]) -> Policy | None:
        policy_id = state["values"].get("policy_id")
        if policy_id is None and len(self.service.policies) == 1:
            policy_id = next(iter(self.service.policies))
        return self.service.policies.get(policy_id) if isinstance(policy_id, str) else None

    async def begin_dialog(self, dialog_context: DialogContext, options: object = None) -> DialogTurnResult:
        state = dialog_context.active_dialog.state
        state["values"] = {}
        state["step"] = 0
        # Someone who may not raise under any procedure served here is told now, not after the form.
        refusals = await self._refusals(dialog_context)
        if refusals and len(refusals) == len(self.service.policies):
            await show_card(
                dialog_context.context,
                message_card("You cannot raise a challenge here", " ".join(dict.fromkeys(refusals.values()))),
            )
            return await dialog_context.end_dialog()
        await self._show(dialog_context, state)
        return Dialog.end_of_turn

    async def _refusals(self, dc: DialogContext) -> dict[str, str]:
        """Why the person may not raise, by procedure (procedures they may raise under are left out)."""
        person = await self.service.person_for(dc.context.activity.from_property.aad_object_id)
        refusals: dict[str, str] = {}
        for policy_id in self.service.policies:
            engine = await self.service.engine(policy_id)
            try:
                engine.may_raise(person.id if person else "")
            except Refused as refused:
                refusals[policy_id] = refused.reason
        return refusals

    async def continue_dialog(self, dialog_context: DialogContext) -> DialogTurnResult:
        state = dialog_context.active_dialog.state
        action = card_action(dialog_context.context)
        if action is None or not action.verb.startswith("raise."):
            text = (dialog_context.context.activity.text or "").strip().lower()
            if text == "cancel":
                return await self._cancel(dialog_context)
            await self._show(
                dialog_context, state, notice="Use the card to go on with the form, or type cancel."
            )
            return Dialog.end_of_turn
        if action.verb == verbs.RAISE_CANCEL:
            return await self._cancel(dialog_context)
        if action.verb == verbs.RAISE_BACK:
            state["step"] = max(0, state["step"] - 1)
            await self._show(dialog_context, state)
            return Dialog.end_of_turn
        if action.verb == verbs.RAISE_CONFIRM and self._current(state) == REVIEW:
            return await self._confirm(dialog_context, state)
        if action.verb == verbs.RAISE_NEXT:
            return await self._next(dialog_context, state, action)
        await self._show(dialog_context, state)
        return Dialog.end_of_turn

    def _current(self, state: dict[str, Any]) -> str:
        steps = self._steps(self._policy(state))
        step: str = steps[min(state["step"], len(steps) - 1)]
        return step

    async def _next(self, dc: DialogContext, state: dict[str, Any], action: CardAction) -> DialogTurnResult:
        step = self._current(state)
        if step == REVIEW:
            await self._show(dc, state)
            return Dialog.end_of_turn
        entered = {k: action.text(k) for k in action.data if k not in ("step", "verb")}
        values = {**state["values"], **entered}
        if step == "process" and values.get("policy_id") != state["values"].get("policy_id"):
            # A different procedure has different questions: drop answers that belonged to the old one.
            values = {"policy_id": values.get("policy_id", "")}
        state["values"] = values
        policy = self._policy(state)
        raiser = await self.service.person_for(dc.context.activity.from_property.aad_object_id)
        errors = validate_raise_step(
            step,
            values,
            policy=policy,
            directory=await self.service.directory(),
            today=self._today(policy),
            policies=list(self.service.policies.values()),
            raiser_agency_id=raiser.agency_id if raiser else None,
            now=self.service.clock(),
        )
        if step == "process" and not errors:
            refused = (await self._refusals(dc)).get(values.get("policy_id", ""))
            if refused:
                errors = {"policy_id": refused}
        if errors:
            await self._show(dc, state, errors=errors)
            return Dialog.end_of_turn
        state["step"] += 1
        await self._show(dc, state)
        return Dialog.end_of_turn

    def _today(self, policy: Policy | None) -> date | None:
        """Today in the partnership's time zone, for checking dates such as the date of birth."""
        return self.service.calendar(policy.id).local_date(self.service.clock()) if policy else None

    async def _confirm(self, dc: DialogContext, state: dict[str, Any]) -> DialogTurnResult:
        policy = self._policy(state)
        person = await self.service.person_for(dc.context.activity.from_property.aad_object_id)
        if policy is None or person is None:
            await show_card(dc.context, message_card("Cannot raise", "Start again with raise."))
            return await dc.end_dialog()
        try:
            decision = await self.service.raise_challenge(
                person.id, policy.id, raise_request_from(state["values"], policy=policy)
            )
        except Refused as refused:
            directory = await self.service.directory()
            await show_card(
                dc.context,
                raise_review_card(
                    policy=policy, directory=directory, values=state["values"], error=refused.reason
                ),
            )
            return Dialog.end_of_turn
        card = await challenge_view(
            self.service,
            decision.challenge,
            person,
            audience="party",
            notice=f"Challenge {decision.challenge.reference} raised. {await self.service.told_words(decision)}",
        )
        await show_card(dc.context, card)
        return await dc.end_dialog(decision.challenge.id)

    async def _linkable(
        self, raiser: Person | None, policy: Policy | None, values: dict[str, Any]
    ) -> list[tuple[str, str]]:
        """The raiser's resolved challenges a reoccurring issue may be linked to, as (reference, label)."""
        if raiser is None or policy is None or not policy.recurring_start_stages:
            return []
        found = await self.service.linkable(raiser.id, policy.id, values.get("challenged_agency_id", ""))
        calendar = self.service.calendar(policy.id)
        return [
            (c.reference, f"{c.reference}, {c.status.value} {day(calendar.local_date(c.closed_at))}")
            if c.closed_at
            else (c.reference, c.reference)
            for c in found
        ]

    async def _cancel(self, dc: DialogContext) -> DialogTurnResult:
        await show_card(dc.context, raise_cancelled_card())
        return await dc.cancel_all_dialogs()

    async def _show(
        self,
        dc: DialogContext,
        state: dict[str, Any],
        *,
        errors: dict[str, str] | None = None,
        notice: str = "",
    ) -> None:
        policy = self._policy(state)
        steps = self._steps(policy)
        state["step"] = min(state["step"], len(steps) - 1)
        step = steps[state["step"]]
        directory = await self.service.directory()
        if step == REVIEW and policy is not None:
            card = raise_review_card(
                policy=policy, directory=directory, values=state["values"], error=notice or None
            )
        else:
            raiser = await self.service.person_for(dc.context.activity.from_property.aad_object_id)
            card = raise_step_card(
                step,
                policies=list(self.service.policies.values()),
                policy=policy,
                directory=directory,
                values=state["values"],
                errors=errors or {},
                step_number=state["step"] + 1,
                step_count=len(steps),
                today=self._today(policy),
                raiser_agency_id=raiser.agency_id if raiser else None,
                notice=notice or None,
                linkable=await self._linkable(raiser, policy, state["values"]) if step == "issue" else (),
            )
        await show_card(dc.context, card)
