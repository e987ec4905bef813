"""Delivery failures in the procedure's terms: who is told that a notification reached nobody, and what went
wrong, so that the report, the card and the notifier all say the same thing.

The notifier writes its reasons with the phrases below; `causes_of` reads them back, so advice can fit what
actually went wrong (no email set up for the service, no way to reach the person in the directory, Teams
refused the bot) rather than one sentence for every failure.
"""

from __future__ import annotations

import re
from enum import Enum

from process.challenge import Challenge
from process.directory import Contact, Directory
from process.policy import Policy, Role, RoleId

#: The notifier's words for each way a delivery can fail (the start of each part of its recorded reason).
NOT_IN_TEAMS = "Teams: not reachable in Teams (mailbox or no Teams identity)"
NO_MAILER = "email: no SMTP server configured"
NO_ADDRESS = "email: no address"

_TEAMS_REFUSED = re.compile(r"^Teams: Teams answered (403|404)\b")


class Cause(Enum):
    """One reason a notification could not be delivered."""

    #: The directory gives the person no Teams identity (or the recipient is a mailbox).
    NO_TEAMS_IDENTITY = "no_teams_identity"
    #: Teams refused the bot: it was blocked, removed or disabled for the person (403/404).
    TEAMS_REFUSED = "teams_refused"
    #: Teams kept failing, or answered something else that is not retried.
    TEAMS_FAILED = "teams_failed"
    #: This service has no email (SMTP) set up.
    NO_EMAIL_SERVICE = "no_email_service"
    #: The directory has no email address for them.
    NO_ADDRESS = "no_address"
    #: The mail server refused or kept failing.
    EMAIL_FAILED = "email_failed"


def causes_of(reason: str | None) -> frozenset[Cause]:
    """What went wrong, read from a failed delivery's recorded reason ("Teams: ...; email: ...")."""
    causes: set[Cause] = set()
    for part in re.split(r";\s*(?=(?:Teams|email): )", reason or ""):
        part = part.strip()
        if part.startswith((NOT_IN_TEAMS, "Teams: no Teams identity")):
            causes.add(Cause.NO_TEAMS_IDENTITY)
        elif _TEAMS_REFUSED.match(part):
            causes.add(Cause.TEAMS_REFUSED)
        elif part.startswith("Teams: "):
            causes.add(Cause.TEAMS_FAILED)
        elif part.startswith(NO_MAILER):
            causes.add(Cause.NO_EMAIL_SERVICE)
        elif part.startswith(NO_ADDRESS):
            causes.add(Cause.NO_ADDRESS)
        elif part.startswith("email: "):
            causes.add(Cause.EMAIL_FAILED)
    return frozenset(causes)


def report_recipients(
    challenge: Challenge, policy: Policy, directory: Directory, not_reached: Contact
) -> tuple[tuple[RoleId, Contact], ...]:
    """Who is told that a notification could not reach `not_reached`: the raiser and the partnership's admin
    mailbox (or, without one, its business manager), never the one it failed to reach. Empty when there is
    nobody else to tell (the raiser was the one not reached, and the partnership has neither post)."""
    recipients: list[tuple[RoleId, Contact]] = []
    raiser = challenge.parties.get(policy.raiser_role)
    if raiser is not None:
        recipients.append((policy.raiser_role, raiser))
    for post in (Role.PARTNERSHIP_ADMIN, Role.BUSINESS_MANAGER):
        contacts = directory.partnership_contacts(policy.id, post)
        if contacts:
            recipients += [(str(post), contact) for contact in contacts]
            break
    seen = {not_reached.key}
    out: list[tuple[RoleId, Contact]] = []
    for role, contact in recipients:
        if contact.key not in seen:
            seen.add(contact.key)
            out.append((role, contact))
    return tuple(out)
