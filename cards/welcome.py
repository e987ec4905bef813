"""The first card a person sees: what the bot is for, what it is not for, and how to start."""

from __future__ import annotations

from collections.abc import Sequence

from cards.commands import commands_facts, start_buttons
from cards.layout import Card, Element, card, container, heading, section, text
from cards.text import plain
from process.policy import Policy


def guidance(policy: Policy, key: str) -> str:
    """`immediate_risk` or `not_for_complaints` of a policy, marked when it is this service's own wording and
    not the procedure's (the policy's `deployment_text`), so nobody takes it for the partnership's words."""
    words: str = getattr(policy, key)
    if key in policy.deployment_text:
        return f"{words} (This service's guidance: the {policy.short_name} procedure does not say this.)"
    return words


def immediate_risk_block(policies: Sequence[Policy]) -> Element:
    """Each partnership's route for a child at immediate risk, in red, before anything else is offered."""
    items: list[Element] = [
        text("A child at immediate risk is not a challenge.", weight="Bolder", color="Attention")
    ]
    for policy in policies:
        items.append(
            text(plain(f"{policy.short_name}: {guidance(policy, 'immediate_risk')}"), color="Attention")
        )
    return container(items, style="attention")


def retention_text(policy: Policy) -> str:
    """How long the partnership keeps a challenge's record once it has ended (its policy's `retention`)."""
    if policy.retention is None:
        return (
            f"{policy.short_name}: records are kept. No retention period is set by {policy.partnership}'s "
            "procedure, so nothing is erased automatically."
        )
    reason = policy.retention.justification.strip()
    return (
        f"{policy.short_name}: a challenge's child details and everything written in it are erased "
        f"{policy.retention.said} after it ends. {policy.partnership}'s reason: "
        f"{reason}{'' if reason.endswith(('.', '!', '?')) else '.'}"
    )


#: Said on the welcome and help cards in a group chat or channel, above the link to the 1:1 chat.
GROUP_NOTE = (
    "A challenge names a child, so it is raised and worked on in your 1:1 chat with me, never here. Here I "
    "answer help, and show a challenge's reference-level summary to the people involved in it."
)


def welcome_card(policies: Sequence[Policy], *, chat_link: str | None = None) -> Card:
    """What the bot is for; each partnership's immediate-risk route shown prominently; the commands. In a
    group chat or channel, `chat_link` opens the person's 1:1 chat with the bot, where challenges are raised."""
    body: list[Element] = [
        heading("Professional challenge and escalation"),
        text(
            "I help professionals resolve disagreements between agencies about helping or protecting a "
            "child, using your safeguarding children partnership's agreed procedure: raise a challenge, work "
            "through each stage within its working days, and keep the escalation contacts and safeguarding "
            "leads told until there is an agreed outcome."
        ),
        immediate_risk_block(policies),
    ]
    if policies:
        body.append(section("The procedures I run"))
        for policy in policies:
            limit = (
                f", within {policy.total_limit_working_days} working days in all"
                if policy.total_limit_working_days
                else ""
            )
            body.append(
                text(plain(f"{policy.partnership}: {policy.procedure} ({len(policy.stages)} stages{limit})."))
            )
        body.append(section("Not for complaints"))
        for policy in policies:
            body.append(text(plain(f"{policy.short_name}: {guidance(policy, 'not_for_complaints')}")))
        body.append(section("How long records are kept"))
        for policy in policies:
            body.append(text(plain(retention_text(policy))))
    body += [section("What you can type"), commands_facts(policies)]
    if chat_link is not None:
        body.append(text(GROUP_NOTE, subtle=True))
    return card(body, actions=start_buttons(chat_link))
