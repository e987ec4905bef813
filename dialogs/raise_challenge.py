"""Raising a challenge: the partnership's form, one step per card, then a review card and confirm.

Where a person is in the form is their draft (`storage.drafts`), in the database: one open draft per person,
kept for a limited time, holding the step, a revision and what was typed (the child's details beside the
raised challenges' own). Nothing of the form is kept in bot state, so two turns of one conversation (a
double click) never clash over it: each press is checked against the draft and applied compare-and-set on
its revision, and raising deletes the draft in the raise's own transaction, one challenge per draft.

Every raising card's buttons carry the draft id, the step and the revision the card showed. A press on any
card but the current one changes nothing: the second press of a double click (the same button, the same
inputs) is shown where the first left the form (or the challenge it raised), any other old card is told it was
out of date and shown the current step, and a card of a form that has ended says so.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import replace
from datetime import date, timedelta
from typing import Any

from botbuilder.core import TurnContext

from cards import inputs as ids
from cards import verbs
from cards.errors import message_card
from cards.raise_form import (
    OUT_OF_DATE,
    RAISE_STEPS,
    STEP_TITLES,
    raise_cancelled_card,
    raise_draft_open_card,
    raise_ended_card,
    raise_request_from,
    raise_review_card,
    raise_step_card,
    validate_raise_step,
)
from cards.times import day, moment
from dialogs.replies import CardAction, show_card
from dialogs.service import ChallengeService
from dialogs.views import challenge_view
from process.challenge import Decision, Refused
from process.directory import Person
from process.policy import Policy
from storage.db import UNSTORABLE
from storage.drafts import Draft, DraftChild, DraftStore
from storage.errors import AlreadyRaised, DraftNotCurrent

log = logging.getLogger(__name__)

REVIEW = "review"

#: The child's details among the form's answers: kept in `draft_child_details`, not with the other answers.
CHILD_INPUTS = (ids.CHILD_NAME, ids.DATE_OF_BIRTH, ids.AGENCY_REFERENCE)

class RaiseChallengeFlow:
    """Walks the raiser through the form, one card per step, from the person's draft."""

    def __init__(self, service: ChallengeService, drafts: DraftStore, ttl: timedelta) -> None:
        self.service = service
        self.drafts = drafts
        self.ttl = ttl

    # ----- what the Teams handler calls -------------------------------------------------------------------

    async def start(self, context: TurnContext, person: Person) -> None:
        """`raise` typed, or the welcome card's button: a new form, or the one the person has open."""
        refusals = await self._refusals(person)
        if refusals and len(refusals) == len(self.service.policies):
            await show_card(
                context,
                message_card("You cannot raise a challenge here", " ".join(dict.fromkeys(refusals.values()))),
            )
            return
        draft, new = await self.drafts.start(person.id, self._steps(None)[0], self.service.clock(), self.ttl)
        if new or draft.revision == 0:
            # Nothing typed yet (or a second press of the same button): just the form.
            await self._show(context, person, draft)
            return
        await show_card(
            context,
            raise_draft_open_card(
                policy=self._policy(draft.answers),
                step_title=STEP_TITLES.get(draft.step, "Check your challenge"),
                started=moment(draft.created_at),
                draft_id=draft.id,
                revision=draft.revision,
            ),
        )

    async def on_text(self, context: TurnContext, person: Person, text: str) -> bool:
        """Typed text while the person's form is open: `cancel` ends it, anything else shows where it is.
        False when no form is open (the text is then not for the form)."""
        now = self.service.clock()
        draft = await self.drafts.open_for(person.id, now)
        if draft is None:
            return False
        if text == "cancel":
            await self.drafts.cancel(draft.id, person.id, now)
            await show_card(context, raise_cancelled_card())
        else:
            await self._show(
                context, person, draft, notice="Use the card to go on with the form, or type cancel."
            )
        return True

    async def on_card(self, context: TurnContext, person: Person, action: CardAction) -> None:
        """A button of a raising card (`raise.*`), checked against the draft it names."""
        if action.verb == verbs.RAISE_START:
            await self.start(context, person)
            return
        draft_id = action.text(ids.DRAFT_ID)
        if action.verb == verbs.RAISE_DISCARD:
            await self._discard(context, person, draft_id)
            return
        draft = await self._open_draft(context, person, draft_id, action.verb)
        if draft is None:
            return
        if action.verb == verbs.RAISE_CONTINUE:
            await self._show(context, person, draft)
            return
        steps, index = self._position(draft)
        revision = action.data.get(ids.REVISION)
        if revision != draft.revision or action.text(ids.STEP) != steps[index] or isinstance(revision, bool):
            await self._moved_on(context, person, draft.id, action.verb, revision, action.data)
            return
        if action.verb == verbs.RAISE_CANCEL:
            await self._cancel(context, person, draft)
        elif action.verb == verbs.RAISE_BACK:
            back = steps[max(0, index - 1)]
            await self._advance(context, person, draft, action.verb, back, draft.answers, draft.child)
        elif action.verb == verbs.RAISE_NEXT and steps[index] != REVIEW:
            await self._next(context, person, draft, action)
        elif action.verb == verbs.RAISE_CONFIRM and steps[index] == REVIEW:
            await self._confirm(context, person, draft)
        else:
            await self._show(context, person, draft)

    # ----- the steps --------------------------------------------------------------------------------------

    async def _next(self, context: TurnContext, person: Person, draft: Draft, action: CardAction) -> None:
        steps, index = self._position(draft)
        step = steps[index]
        # Only the inputs this step's card has: anything else in the data (a forged key, another step's
        # answer) is not the person's answer to this step.
        asked = _input_ids(await self._card(person, draft))
        entered = _entered(action.data, asked)
        unreadable = {
            key: "This has a character that cannot be stored; please type it again."
            for key, value in action.data.items()
            if key in asked and isinstance(value, str) and UNSTORABLE.search(value)
        }
        before = _values(draft)
        values = {**before, **entered}
        if step == "process" and values.get(ids.POLICY_ID) != before.get(ids.POLICY_ID):
            # A different procedure has different questions: drop answers that belonged to the old one.
            values = {ids.POLICY_ID: values.get(ids.POLICY_ID, "")}
        policy = self._policy(values)
        errors = validate_raise_step(
            step,
            values,
            policy=policy,
            directory=await self.service.directory(),
            today=self._today(policy),
            policies=list(self.service.policies.values()),
            raiser_agency_id=person.agency_id,
            now=self.service.clock(),
        )
        errors = {**errors, **unreadable}
        if step == "process" and not errors:
            refused = (await self._refusals(person)).get(values.get(ids.POLICY_ID, ""))
            if refused:
                errors = {ids.POLICY_ID: refused}
        steps = self._steps(policy)
        following = step if errors else steps[min(self._index(steps, step) + 1, len(steps) - 1)]
        answers, child = _split(values)
        await self._advance(
            context,
            person,
            draft,
            verbs.RAISE_NEXT,
            following,
            answers,
            child,
            errors=errors,
            data=action.data,
        )

    async def _advance(
        self,
        context: TurnContext,
        person: Person,
        draft: Draft,
        verb: str,
        step: str,
        answers: dict[str, str],
        child: DraftChild,
        *,
        errors: dict[str, str] | None = None,
        data: Mapping[str, Any] | None = None,
    ) -> None:
        now = self.service.clock()
        moved = await self.drafts.advance(draft, verb=verb, step=step, answers=answers, child=child, now=now)
        if moved is None:
            # Another press of this card (or of another) got there first: nothing of this one is written.
            await self._moved_on(context, person, draft.id, verb, draft.revision, data)
            return
        await self._show(context, person, moved, errors=errors)

    async def _confirm(self, context: TurnContext, person: Person, draft: Draft) -> None:
        values = _values(draft)
        policy = self._policy(values)
        if policy is None:
            await show_card(context, message_card("Cannot raise", "Start again with raise."))
            return
        try:
            request = raise_request_from(values, policy=policy)
            decision = await self.service.raise_challenge(
                person.id, policy.id, request, draft_id=draft.id, draft_revision=draft.revision
            )
        except AlreadyRaised as raised:
            await self._show_raised(context, person, raised.challenge_id)
            return
        except DraftNotCurrent:
            await self._moved_on(context, person, draft.id, verbs.RAISE_CONFIRM, draft.revision)
            return
        except (Refused, ValueError) as refused:
            reason = refused.reason if isinstance(refused, Refused) else "Go back and check the answers."
            await self._show(context, person, draft, notice=reason)
            return
        await show_card(context, await self._raised_card(person, decision.challenge))

    async def _cancel(self, context: TurnContext, person: Person, draft: Draft) -> None:
        """Cancel the form; a second press (which finds it cancelled) is answered the same way."""
        if await self.drafts.cancel(draft.id, person.id, self.service.clock()):
            await show_card(context, raise_cancelled_card())
            return
        current = await self.drafts.get(draft.id)
        if current is not None and current.status == "cancelled":
            await show_card(context, raise_cancelled_card())
        else:
            await self._moved_on(context, person, draft.id, verbs.RAISE_CANCEL, draft.revision)

    async def _discard(self, context: TurnContext, person: Person, draft_id: str) -> None:
        """Discard the open form and start a new one; a second press shows the new one again."""
        now = self.service.clock()
        fresh = await self.drafts.restart(draft_id, person.id, self._steps(None)[0], now, self.ttl)
        if fresh is not None:
            await self._show(context, person, fresh)
            return
        draft = await self._open_draft(context, person, draft_id, verbs.RAISE_DISCARD)
        if draft is not None:
            await self._show(context, person, draft, notice=OUT_OF_DATE)

    # ----- old cards ----------------------------------------------------------------------------------------

    async def _moved_on(
        self,
        context: TurnContext,
        person: Person,
        draft_id: str,
        verb: str,
        revision: object,
        data: Mapping[str, Any] | None = None,
    ) -> None:
        """A press on a card the form has moved on from: the form as it is now. The second press of a double
        click (the card the last change was made from, the same button, and for Next the same inputs as that
        change stored) is shown it without a warning; any other press (a correction typed on that card) is
        told the card was out of date, and nothing of it is written."""
        draft = await self._open_draft(context, person, draft_id, verb)
        if draft is None:
            return
        repeat = revision == draft.revision - 1 and verb == draft.last_verb and not isinstance(revision, bool)
        if repeat and verb == verbs.RAISE_NEXT:
            repeat = await self._same_inputs(person, draft, data or {})
        await self._show(context, person, draft, notice=None if repeat else OUT_OF_DATE)

    async def _same_inputs(self, person: Person, draft: Draft, data: Mapping[str, Any]) -> bool:
        """Whether a press of Next gives, for each input of its step's card, what the draft holds: read the way
        `_next` reads them, so the second press of a double click matches what the first stored."""
        step = data.get(ids.STEP)
        steps, _ = self._position(draft)
        if not isinstance(step, str) or step not in steps or step == REVIEW:
            return False
        asked = _input_ids(await self._card(person, replace(draft, step=step)))
        stored = _values(draft)
        return all(stored.get(key, "") == value for key, value in _entered(data, asked).items())

    async def _open_draft(
        self, context: TurnContext, person: Person, draft_id: str, verb: str
    ) -> Draft | None:
        """The person's open draft `draft_id`; None, once answered, for a card naming no draft of theirs or one
        that has ended."""
        draft = await self.drafts.get(draft_id) if draft_id else None
        if draft is None or draft.person_id != person.id:
            await self._not_a_draft(context, person, draft_id)
            return None
        if not draft.is_open(self.service.clock()):
            await self._ended(context, person, draft, verb)
            return None
        return draft

    async def _not_a_draft(self, context: TurnContext, person: Person, draft_id: str) -> None:
        """A card naming no draft of this person's: the challenge it raised, else the person's open form
        (the card was out of date), else the form has ended."""
        if draft_id and len(draft_id) <= 64:
            challenge_id = await self.service.repository.raised_from(draft_id)
            if challenge_id is not None and await self._show_raised(context, person, challenge_id):
                return
        draft = await self.drafts.open_for(person.id, self.service.clock())
        if draft is not None:
            await self._show(context, person, draft, notice=OUT_OF_DATE)
        else:
            await show_card(context, raise_ended_card("ended"))

    async def _ended(self, context: TurnContext, person: Person, draft: Draft, verb: str) -> None:
        if draft.status == "open":
            # Past its time but not purged yet: expire it now, deleting its answers.
            await self.drafts.open_for(person.id, self.service.clock())
        if draft.status == "cancelled" and verb == verbs.RAISE_CANCEL:
            await show_card(context, raise_cancelled_card())
            return
        how = "cancelled" if draft.status == "cancelled" else "expired"
        await show_card(context, raise_ended_card(how, hours=int(self.ttl.total_seconds() // 3600)))

    async def _show_raised(self, context: TurnContext, person: Person, challenge_id: str) -> bool:
        """The challenge a draft became, to its raiser; False (nothing shown) to anyone else."""
        challenge = await self.service.find(challenge_id)
        if challenge is None or challenge.raised_by != person.id:
            return False
        await show_card(context, await self._raised_card(person, challenge))
        return True

    async def _raised_card(self, person: Person, challenge: Any) -> dict[str, Any]:
        return await challenge_view(
            self.service,
            challenge,
            person,
            audience="party",
            notice=f"Challenge {challenge.reference} raised. {await self.service.told_words(challenge)}",
        )

    # ----- helpers ----------------------------------------------------------------------------------------

    def _steps(self, policy: Policy | None) -> list[str]:
        steps = list(RAISE_STEPS)
        if len(self.service.policies) == 1:
            steps.remove("process")
        if policy is not None and not (policy.urgent_start_stages or policy.reasoned_starts):
            steps.remove("urgency")
        return [*steps, REVIEW]

    def _step_counts(self, policy: Policy | None) -> list[int]:
        """The number of steps: known once the procedure is; until then, each procedure's number."""
        if policy is not None:
            return [len(self._steps(policy))]
        return sorted({len(self._steps(p)) for p in self.service.policies.values()})

    @staticmethod
    def _index(steps: list[str], step: str) -> int:
        return steps.index(step) if step in steps else 0

    def _position(self, draft: Draft) -> tuple[list[str], int]:
        """The form's steps and where the draft is among them (its first step, should its own step no
        longer be one of them, e.g. after the deployment's procedures changed)."""
        policy = self._policy(_values(draft))
        steps = self._steps(policy)
        # No procedure chosen (or one no longer served here): the form is at choosing one.
        return steps, self._index(steps, draft.step) if policy is not None else 0

    def _policy(self, values: dict[str, str]) -> Policy | None:
        policy_id = values.get(ids.POLICY_ID)
        if not policy_id and len(self.service.policies) == 1:
            policy_id = next(iter(self.service.policies))
        return self.service.policies.get(policy_id) if isinstance(policy_id, str) else None

    def _today(self, policy: Policy | None) -> date | None:
        """Today in the partnership's time zone, for checking dates such as the date of birth."""
        return self.service.calendar(policy.id).local_date(self.service.clock()) if policy else None

    async def _refusals(self, person: Person) -> dict[str, str]:
        """Why the person may not raise, by procedure (procedures they may raise under are left out)."""
        refusals: dict[str, str] = {}
        for policy_id in self.service.policies:
            engine = await self.service.engine(policy_id)
            try:
                engine.may_raise(person.id)
            except Refused as refused:
                refusals[policy_id] = refused.reason
        return refusals

    async def _linkable(
        self, raiser: Person, policy: Policy | None, values: dict[str, str]
    ) -> list[tuple[str, str]]:
        """The raiser's resolved challenges a reoccurring issue may be linked to, as (reference, label)."""
        if policy is None or not policy.recurring_start_stages:
            return []
        found = await self.service.linkable(raiser.id, policy.id, values.get(ids.CHALLENGED_AGENCY_ID, ""))
        calendar = self.service.calendar(policy.id)
        return [
            (c.reference, f"{c.reference}, {c.status.value} {day(calendar.local_date(c.closed_at))}")
            if c.closed_at
            else (c.reference, c.reference)
            for c in found
        ]

    async def _preview(self, person: Person, policy: Policy, values: dict[str, str]) -> Decision | None:
        """What raising the form would do, as the engine would decide it now (None if it would refuse): the
        same engine answer the raise uses, so the review card names only those its notifications go to."""
        try:
            request = raise_request_from(values, policy=policy)
            earlier = await self.service.earlier(request, person.id)
            engine = await self.service.engine(policy.id)
            preview = engine.raise_challenge(
                request,
                person.id,
                self.service.clock(),
                challenge_id="preview",
                reference="preview",
                earlier=earlier,
            )
        except (Refused, ValueError):
            return None
        return preview

    async def _show(
        self,
        context: TurnContext,
        person: Person,
        draft: Draft,
        *,
        errors: dict[str, str] | None = None,
        notice: str | None = None,
    ) -> None:
        await show_card(context, await self._card(person, draft, errors=errors, notice=notice))

    async def _card(
        self,
        person: Person,
        draft: Draft,
        *,
        errors: dict[str, str] | None = None,
        notice: str | None = None,
    ) -> dict[str, Any]:
        """The card of the draft's current step (the review card at the end)."""
        values = _values(draft)
        policy = self._policy(values)
        steps, index = self._position(draft)
        step = steps[index]
        counts = self._step_counts(policy)
        directory = await self.service.directory()
        if step == REVIEW and policy is not None:
            card = raise_review_card(
                policy=policy,
                directory=directory,
                values=values,
                error=notice,
                step_number=index + 1,
                step_count=counts[0],
                draft_id=draft.id,
                revision=draft.revision,
                preview=await self._preview(person, policy, values),
                raiser_id=person.id,
                same_child=await self.service.same_child_open(
                    person.id, policy.id, values.get(ids.AGENCY_REFERENCE)
                ),
            )
        else:
            card = raise_step_card(
                step,
                policies=list(self.service.policies.values()),
                policy=policy,
                directory=directory,
                values=values,
                errors=errors or {},
                step_number=index + 1,
                step_count=counts[0] if len(counts) == 1 else counts,
                today=self._today(policy),
                raiser_agency_id=person.agency_id,
                notice=notice,
                linkable=await self._linkable(person, policy, values) if step == "issue" else (),
                draft_id=draft.id,
                revision=draft.revision,
            )
        return card


def _input_ids(card: dict[str, Any]) -> set[str]:
    """The ids of every input on a card."""
    found: set[str] = set()
    stack: list[Any] = [card]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if str(node.get("type", "")).startswith("Input.") and isinstance(node.get("id"), str):
                found.add(node["id"])
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return found


def _entered(data: Mapping[str, Any], asked: set[str]) -> dict[str, str]:
    """A press's answers to the inputs its card asked, as they are stored: anything not text, or with a
    character that cannot be stored, as empty."""
    entered: dict[str, str] = {}
    for key, value in data.items():
        if key in asked:
            text = value if isinstance(value, str) else ""
            entered[key] = "" if UNSTORABLE.search(text) else text
    return entered


def _values(draft: Draft) -> dict[str, str]:
    """The form's answers, the child's details included, as the cards name them."""
    child = {
        ids.CHILD_NAME: draft.child.name,
        ids.DATE_OF_BIRTH: draft.child.date_of_birth,
        ids.AGENCY_REFERENCE: draft.child.agency_reference,
    }
    return {**draft.answers, **{key: value for key, value in child.items() if value is not None}}


def _split(values: dict[str, str]) -> tuple[dict[str, str], DraftChild]:
    """The answers, and the child's details to be kept apart from them."""
    answers = {key: value for key, value in values.items() if key not in CHILD_INPUTS}
    child = DraftChild(
        name=values.get(ids.CHILD_NAME),
        date_of_birth=values.get(ids.DATE_OF_BIRTH),
        agency_reference=values.get(ids.AGENCY_REFERENCE),
    )
    return answers, child
