"""Every action a person can take is declared once in process/actions/ and reaches Teams: it has a button verb,
a builder from the card's inputs, and a form on the challenge card. A new action missing any of these fails
here, not in front of a user."""

from __future__ import annotations

from cards import verbs
from dialogs.challenge_actions import BUILDERS
from process.actions import PERSON_ACTIONS, SPECS
from process.challenge import ACTION_KINDS, ActionKind


def test_every_kind_has_one_declaration_and_every_person_action_a_verb_and_a_builder() -> None:
    assert set(SPECS) == set(ActionKind) == set(ACTION_KINDS.values())
    assert set(verbs.ACTION_VERBS) == set(PERSON_ACTIONS)
    assert set(BUILDERS) == set(verbs.ACTION_VERBS.values())
    assert len(set(verbs.ACTION_VERBS.values())) == len(verbs.ACTION_VERBS)
