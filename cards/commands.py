"""The commands a person can type to the bot, as shown on the welcome and help cards."""

from __future__ import annotations

from collections.abc import Sequence

from cards import verbs
from cards.layout import Element, execute, facts, open_url
from cards.text import plain
from process.policy import Policy


def commands_facts(policies: Sequence[Policy], *, reporting: bool = False) -> Element:
    """The typed commands and what each does; `show` names the reference prefixes in use. `report` is listed
    only for a partnership's post holders (`reporting`), since only they may use it."""
    prefixes = " or ".join(f"{p.reference_prefix}-" for p in policies)
    references = f" (references start {prefixes})" if prefixes else ""
    commands = [
        ("help", "What I can do, and what this process is not for."),
        ("raise", "Raise a challenge on your partnership's form, one step at a time."),
        ("my challenges", "Your open challenges: stage, due date and whose move it is."),
        (plain("show <reference>"), plain(f"One challenge and what you can do on it{references}.")),
        ("cancel", "Stop raising a challenge: the form's answers are discarded and nothing is sent."),
    ]
    if reporting:
        commands.append(
            (
                "report",
                "Your partnership's monitoring figures: open, overdue and resolved challenges, by stage, "
                "agency and issue (you hold one of its posts).",
            )
        )
    return facts(commands)


def show_usage(policies: Sequence[Policy]) -> str:
    """How to use `show`, with an example reference of the first partnership served."""
    example = f"{policies[0].reference_prefix}-2026-0042" if policies else "DUR-2026-0042"
    return (
        f"Type show and the challenge's reference, for example: show {example}. "
        "Type my challenges to see the challenges you have a part in."
    )


def start_buttons(chat_link: str | None) -> list[Element]:
    """How to start a challenge from this card: the raise button in a 1:1 chat; in a group chat or channel
    (`chat_link` given), a link to the person's 1:1 chat with the bot, since a challenge names a child."""
    if chat_link is None:
        return [raise_button()]
    return [open_url("Raise a challenge in our 1:1 chat", chat_link)]


def raise_button() -> Element:
    """Starts the raising form."""
    return execute("Raise a challenge", verbs.RAISE_START, {}, inputs="none", style="positive")
