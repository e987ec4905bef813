"""Challenges walked through both procedures by the real engine, for rendering every card the bot can show.

Every state a challenge can be in is reached here by the engine's own transitions (raise, respond, propose,
escalate, record a meeting, agree a timescale, hand over, confirm, withdraw, close, miss a deadline), with the
audit events and notifications each step produced. Nobody here is real: the people come from
`tests.support.people` and the child is `INVENTED_CHILD`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from process.challenge import (
    SYSTEM,
    Action,
    AuditEvent,
    Challenge,
    Close,
    ConfirmOutcome,
    ConfirmTimescale,
    DeadlinePassed,
    Escalate,
    HandOver,
    Notification,
    ProposeOutcome,
    ProposeTimescale,
    RecordMeeting,
    Remind,
    Respond,
    TakePart,
    Withdraw,
)
from process.engine import Engine
from process.policy import Policy, Role, load_policy
from tests.support.people import INVENTED_CHILD, MONDAY_MORNING, holder, raise_request, role_directory

PARTNERSHIPS = ("durham", "rochdale")
POLICIES: dict[str, Policy] = {name: load_policy(name) for name in PARTNERSHIPS}
DIRECTORY = role_directory()

#: Written by the invented parties; each is distinctive so a test can look for it on a card.
CONCERN = "No report was provided to the review conference."
DESIRED = "A written report shared with the family before the next review."
RESPONSE = "Zephyr-response: the report will be sent by Friday."
PROPOSAL = "Zephyr-proposal: report shared with the family by Friday."
REASON = "Zephyr-reason: still no report."
MEETING_POINTS = "Zephyr-keypoints: report delays discussed."
OUTCOME = "Zephyr-outcome: an improvement plan was asked for."
WITHDRAWAL = "Zephyr-withdrawal: resolved by telephone."
EVIDENCE = "Zephyr-evidence: practitioners and line managers spoke twice."

#: What identifies the child or repeats what someone wrote: never on a group card or in a notification.
PRIVATE_STRINGS = (
    INVENTED_CHILD.name,
    "Testchild",
    "14 Mar 2019",
    "2019-03-14",
    "INV-0001",
    CONCERN,
    DESIRED,
    "Zephyr",
)

ENTRY_FIELDS: dict[str, dict[int, dict[str, str]]] = {
    "durham": {5: {"reasons_for_escalation": "Zephyr-fields: three conferences missed."}},
    "rochdale": {
        4: {
            "stage_3_steps": "Zephyr-fields: a multi-agency discussion was held.",
            "unresolved_elements": "Zephyr-fields: school transport.",
        }
    },
}


@dataclass(frozen=True)
class Walk:
    """A challenge with everything that happened to it, and the instant it is looked at."""

    partnership: str
    engine: Engine
    challenge: Challenge
    now: datetime
    events: tuple[AuditEvent, ...] = ()
    notifications: tuple[Notification, ...] = ()
    last_notifications: tuple[Notification, ...] = field(default=())

    @property
    def policy(self) -> Policy:
        return self.engine.policy

    def then(self, action: Action, actor_id: str, *, minutes: int = 5) -> Walk:
        """The walk after `actor_id` takes `action`, `minutes` later."""
        now = self.now + timedelta(minutes=minutes)
        decision = self.engine.apply(self.challenge, action, actor_id, now)
        return replace(
            self,
            challenge=decision.challenge,
            now=now,
            events=(*self.events, *decision.events),
            notifications=(*self.notifications, *decision.notifications),
            last_notifications=decision.notifications,
        )

    def by(self, role: str) -> str:
        return holder(self.partnership, role)


def raised(partnership: str, *, urgent_start: int | None = None, lonely: bool = False) -> Walk:
    """A challenge just raised by the invented raiser (at an urgent later stage if `urgent_start`; against
    the agency reached only through mailboxes, whose professional has no manager recorded, if `lonely`)."""
    engine = Engine(POLICIES[partnership], DIRECTORY)
    changes: dict[str, Any] = {}
    if lonely:
        changes = {"challenged_agency_id": f"{partnership}_c", "challenged_person_id": f"{partnership}_lone"}
    if urgent_start is not None:
        changes = {"urgent": True, "start_stage": urgent_start, "informal_evidence": EVIDENCE}
        changes["fields"] = ENTRY_FIELDS[partnership].get(urgent_start, {})
    request = raise_request(partnership, **changes)
    reference = f"{POLICIES[partnership].reference_prefix}-2026-0042"
    decision = engine.raise_challenge(
        request,
        holder(partnership, Role.RAISER),
        MONDAY_MORNING,
        challenge_id=f"{partnership}-c1",
        reference=reference,
    )
    return Walk(
        partnership,
        engine,
        decision.challenge,
        MONDAY_MORNING,
        decision.events,
        decision.notifications,
        decision.notifications,
    )


def escalated_to(partnership: str, stage: int) -> Walk:
    """A challenge escalated stage by stage up to `stage`, each time after the other side responded."""
    walk = raised(partnership)
    while walk.challenge.stage < stage:
        current = walk.policy.stage(walk.challenge.stage)
        walk = walk.then(Respond(RESPONSE), walk.by(current.challenged_side[0]))
        target = walk.challenge.stage + 1
        walk = walk.then(
            Escalate(REASON, ENTRY_FIELDS[partnership].get(target, {})),
            walk.by((current.escalated_by or current.raiser_side)[0]),
        )
    return walk


def states(partnership: str) -> Iterator[tuple[str, Walk]]:
    """Every kind of state, at every stage of the procedure, as (name, walk)."""
    policy = POLICIES[partnership]
    for number in range(1, len(policy.stages) + 1):
        stage = policy.stage(number)
        fresh = escalated_to(partnership, number)
        yield f"stage {number} just started", fresh
        responded = fresh.then(Respond(RESPONSE), fresh.by(stage.challenged_side[0]))
        yield f"stage {number} responded", responded
        if stage.outcome_decided_by == "raiser_side":
            # The raising side decides alone: its proposal resolves; the other side's waits for its confirmation.
            decided = responded.then(ProposeOutcome(PROPOSAL), fresh.by(stage.raiser_side[0]))
            yield f"stage {number} outcome decided by the raising side", decided
            proposer, confirmer = stage.challenged_side[0], stage.raiser_side[0]
        else:
            proposer, confirmer = stage.raiser_side[0], stage.challenged_side[0]
        proposed = responded.then(ProposeOutcome(PROPOSAL), fresh.by(proposer))
        yield f"stage {number} outcome proposed", proposed
        yield f"stage {number} resolved", proposed.then(ConfirmOutcome(), fresh.by(confirmer))
        if stage.meeting is not None:
            meeting = RecordMeeting(
                fresh.now.date(), "Zephyr-attendees", MEETING_POINTS, "Send the report", "5 days"
            )
            yield f"stage {number} meeting recorded", fresh.then(meeting, fresh.by(stage.raiser_side[0]))
        if stage.timescale == "agreed":
            yield (
                f"stage {number} timescale proposed",
                fresh.then(ProposeTimescale(5, "Zephyr-note"), fresh.by(stage.raiser_side[0])),
            )
            yield (
                f"stage {number} timescale agreed",
                fresh.then(ProposeTimescale(5, "Zephyr-note"), fresh.by(stage.raiser_side[0])).then(
                    ConfirmTimescale(), fresh.by(stage.challenged_side[0])
                ),
            )
        if stage.final:
            yield f"stage {number} closed", fresh.then(Close(OUTCOME), fresh.by(stage.closed_by[0]))
        due = fresh.challenge.due_at
        if due is not None:
            late = replace(fresh, now=due - timedelta(minutes=1))
            yield f"stage {number} deadline passed", late.then(DeadlinePassed(), SYSTEM, minutes=61)
    first = raised(partnership)
    reminder_at = first.engine.reminder_at(first.challenge.current)
    assert reminder_at is not None
    before = replace(first, now=reminder_at - timedelta(minutes=1))
    yield "reminded at stage 1", before.then(Remind(), SYSTEM, minutes=1)
    yield "withdrawn at stage 1", first.then(Withdraw(WITHDRAWAL), first.by(Role.RAISER))
    handed = first.then(
        HandOver(Role.CHALLENGED_PROFESSIONAL, f"{partnership}_challenged_colleague", "Zephyr-handover"),
        first.by(Role.CHALLENGED_PROFESSIONAL),
    )
    yield "handed over at stage 1", handed
    for start in policy.urgent_start_stages:
        yield f"urgent start at stage {start}", raised(partnership, urgent_start=start)
    lonely = raised(partnership, lonely=True)
    lonely = lonely.then(Respond(RESPONSE), f"{partnership}_lone")
    lonely = lonely.then(Escalate(REASON), lonely.by(policy.stage(1).raiser_side[0]))
    yield "stage 2 with a part nobody holds", lonely
    yield "stage 2 part taken", lonely.then(TakePart(Role.CHALLENGED_LINE_MANAGER), f"{partnership}_c_lead")


@cache
def all_states() -> tuple[tuple[str, Walk], ...]:
    """Every state of both procedures, named "durham: stage 2 responded"; built once per test session."""
    return tuple((f"{p}: {name}", walk) for p in PARTNERSHIPS for name, walk in states(p))


# ----- reading cards ------------------------------------------------------------------------------------


def elements(node: Any) -> Iterator[dict[str, Any]]:
    """Every JSON object in a card, depth first (elements, actions, show cards, the refresh action)."""
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from elements(value)
    elif isinstance(node, list):
        for item in node:
            yield from elements(item)


def of_type(card: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [e for e in elements(card) if e.get("type") == kind]


def button_actions(card: dict[str, Any]) -> list[dict[str, Any]]:
    """The actions a person can press: everything but the card's refresh action."""
    refresh = card.get("refresh", {}).get("action")
    return [e for e in elements(card) if str(e.get("type", "")).startswith("Action.") and e is not refresh]


def input_ids(node: Any) -> list[str]:
    return [e["id"] for e in elements(node) if str(e.get("type", "")).startswith("Input.")]


_ESCAPE = re.compile(r"\\(.)")


def unescape(value: str) -> str:
    """Text as a markdown renderer shows it: each backslash escape replaced by the character it escapes."""
    return _ESCAPE.sub(r"\1", value)


def readable(card: dict[str, Any]) -> str:
    """All the words a person can read on a card, as rendered (markdown escapes removed), one per line."""
    words: list[str] = []
    for e in elements(card):
        kind = e.get("type")
        if kind == "TextBlock":
            words.append(unescape(e["text"]))
        elif kind == "FactSet":
            for fact in e["facts"]:
                words.append(f"{unescape(fact['title'])}: {unescape(fact['value'])}")
        elif str(kind).startswith("Input."):
            words.append(e.get("label", ""))
            words += [c["title"] for c in e.get("choices", [])]
            if "value" in e:
                words.append(str(e["value"]))
        elif str(kind).startswith("Action."):
            words.append(e.get("title", ""))
    return "\n".join(words)


def everything(card: dict[str, Any]) -> str:
    """The whole card as JSON text, to prove something is nowhere in it (not even in a hidden value)."""
    return json.dumps(card, ensure_ascii=False)
