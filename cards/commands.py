"""The commands a person can type to the bot, as shown on the welcome and help cards."""

from __future__ import annotations

from collections.abc import Sequence

from cards import verbs
from cards.layout import Element, execute, facts
from cards.text import plain
from process.policy import Policy


def commands_facts(policies: Sequence[Policy]) -> Element:
    """The typed commands and what each does; `show` names the reference prefixes in use."""
    prefixes = " or ".join(f"{p.reference_prefix}-" for p in policies)
    references = f" (references start {prefixes})" if prefixes else ""
    return facts(
        [
            ("help", "What I can do, and what this process is not for."),
            ("raise", "Raise a challenge on your partnership's form, one step at a time."),
            ("my challenges", "Your open challenges: stage, due date and whose move it is."),
            (plain("show <reference>"), plain(f"One challenge and what you can do on it{references}.")),
        ]
    )


def raise_button() -> Element:
    """Starts the raising form."""
    return execute("Raise a challenge", verbs.RAISE_START, {}, inputs="none", style="positive")
