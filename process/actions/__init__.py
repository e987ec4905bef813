"""Every action on a challenge, declared once: who may take it at which stage, what it changes, who is told.

A new action is its dataclass in `process.challenge` (its fields) and one module here; the engine, the
cards' offer of it and the deadline clock all go through `SPECS`.
"""

from __future__ import annotations

from process.actions.base import ActionSpec, Turn, written
from process.actions.clock import DeadlinePassedSpec, RemindSpec
from process.actions.ending import CloseSpec, WithdrawSpec
from process.actions.escalate import EscalateSpec
from process.actions.meeting import RecordMeetingSpec
from process.actions.outcome import ConfirmOutcomeSpec, ProposeOutcomeSpec
from process.actions.parts import HandOverSpec, TakePartSpec
from process.actions.respond import RespondSpec
from process.actions.steps import CompleteStepSpec
from process.actions.timescale import ConfirmTimescaleSpec, ProposeTimescaleSpec
from process.challenge import ActionKind

#: In the order cards offer them.
SPECS: dict[ActionKind, ActionSpec] = {
    spec.kind: spec
    for spec in (
        CompleteStepSpec(),
        RespondSpec(),
        ProposeOutcomeSpec(),
        ConfirmOutcomeSpec(),
        EscalateSpec(),
        ProposeTimescaleSpec(),
        ConfirmTimescaleSpec(),
        RecordMeetingSpec(),
        TakePartSpec(),
        HandOverSpec(),
        WithdrawSpec(),
        CloseSpec(),
        RemindSpec(),
        DeadlinePassedSpec(),
    )
}

_missing = set(ActionKind) - set(SPECS)
if _missing:  # pragma: no cover - a new kind without its module fails at import, not at a user's click
    raise ImportError(f"actions without a declaration: {sorted(k.value for k in _missing)}")

#: The actions a person may take, in card order (the clock's own are not offered on cards).
PERSON_ACTIONS: tuple[ActionKind, ...] = tuple(k for k, spec in SPECS.items() if not spec.by_clock)

__all__ = ["PERSON_ACTIONS", "SPECS", "ActionSpec", "Turn", "written"]
