"""Microsoft 365 Agents Playground accounts for a trial, made from the directory file.

The Playground takes its people from `.m365agentsplayground.yml` in the folder it starts in, and its current
user is whose Teams the window is. Writing that file for any person of the directory, from the directory
itself, lets `scripts/try.sh --as ID` open Teams as anyone of either partnership with no hand-kept copies:
the person's AAD object id and tenant come from the directory, so the bot knows who is acting.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from process.directory import Directory, Person

CONFIG_NAME = ".m365agentsplayground.yml"
#: The Playground's own invented tenant and bot (its defaults), so its windows and the demo directory agree.
PLAYGROUND_TENANT = "00000000-0000-0000-0000-0000000000001"
PLAYGROUND_BOT = {"id": "00000000-0000-0000-0000-00000000000011", "name": "Test Bot"}
#: The Playground's schema wants exactly this many users besides the current one.
OTHER_USERS = 5
#: Chat, team and channel ids are derived from the person's id, so a window's 1:1 chat keeps its id across
#: restarts and no two windows share one.
_IDS = uuid.UUID("6d0f3b52-21a4-4c39-9e0b-5f1a7c3e2d10")


class UnknownPerson(LookupError):
    """Nobody with a Playground account answers to the name given; the message lists who does."""


@dataclass(frozen=True)
class Account:
    """A person of the directory who can sign in to the Playground (has an AAD object id)."""

    person: Person
    #: Position in the directory: the Playground's user id is `user-id-N`, as its six default users have.
    index: int
    agency: str
    partnership: str
    roles: tuple[str, ...]

    @property
    def id(self) -> str:
        return self.person.id

    def describe(self) -> str:
        """Who this is, in a line: job, agency, partnership and any part the procedures give them."""
        job = self.person.job_title or "no job title recorded"
        line = f"{job}, {self.agency} ({self.partnership})"
        return f"{line}; {', '.join(self.roles)}" if self.roles else line

    def user(self) -> dict[str, str]:
        """The person as the Playground's config file writes a user."""
        given, _, surname = self.person.name.partition(" ")
        email = self.person.email or f"{self.person.id}@example.invalid"
        return {
            "id": f"user-id-{self.index}",
            "name": self.person.name,
            "userPrincipleName": email,  # sic: the Playground's own spelling
            "aadObjectId": self.person.aad_object_id or "",
            "givenName": given,
            "surname": surname or given,
            "email": email,
        }


def accounts(directory: Directory) -> list[Account]:
    """Everyone in the directory who can sign in to Teams, in the directory's order."""
    roles: dict[str, list[str]] = {}
    for agency in directory.agencies.values():
        if agency.safeguarding_lead_id:
            roles.setdefault(agency.safeguarding_lead_id, []).append(f"safeguarding lead of {agency.name}")
    for (partnership, role), contacts in directory.partnership_roles.items():
        for contact in contacts:
            if contact.person_id:
                roles.setdefault(contact.person_id, []).append(
                    f"{_partnership_name(partnership)} {role.replace('_', ' ')}"
                )
    found: list[Account] = []
    for index, person in enumerate(directory.people.values()):
        if not person.aad_object_id:
            continue
        works_at = directory.agency(person.agency_id)
        found.append(
            Account(
                person=person,
                index=index,
                agency=works_at.name if works_at else person.agency_id,
                partnership=_partnership_name(works_at.partnership_id) if works_at else "no partnership",
                roles=tuple(roles.get(person.id, ())),
            )
        )
    return found


def choose(everyone: Sequence[Account], wanted: Iterable[str]) -> list[Account]:
    """The accounts named by id (or full name), in the order asked, each once; `UnknownPerson` otherwise."""
    chosen: list[Account] = []
    unknown: list[str] = []
    for name in wanted:
        key = name.strip().lower()
        match = next(
            (a for a in everyone if key in (a.id.lower(), a.person.name.lower())),
            None,
        )
        if match is None:
            unknown.append(name)
        elif match not in chosen:
            chosen.append(match)
    if unknown:
        raise UnknownPerson(
            f"no one called {', '.join(repr(n) for n in unknown)} has a Playground account; "
            f"choose from: {', '.join(a.id for a in everyone)}"
        )
    return chosen


def config(account: Account, everyone: Sequence[Account]) -> dict[str, Any]:
    """The Playground's config file making `account` the current user (its schema: version 0.1.1)."""
    # The five other users it lists (for its group chat and team) are, first, people of the same partnership.
    others = [a for a in everyone if a != account]
    others.sort(key=lambda a: (a.partnership != account.partnership, a.index))
    if len(others) < OTHER_USERS:
        raise ValueError(
            f"the Playground needs {OTHER_USERS + 1} people with AAD object ids in the directory, "
            f"and it has {len(everyone)}"
        )

    def derived(kind: str) -> str:
        return str(uuid.uuid5(_IDS, f"{kind}/{account.id}"))

    return {
        "version": "0.1.1",
        "tenantId": account.person.tenant_id or PLAYGROUND_TENANT,
        "bot": dict(PLAYGROUND_BOT),
        "currentUser": account.user(),
        "users": [other.user() for other in others[:OTHER_USERS]],
        "personalChat": {"id": derived("personal-chat")},
        "groupChat": {"id": derived("group-chat"), "name": "Group Chat"},
        "team": {
            "id": f"team-{account.id}",
            "name": "My Team",
            "aadGroupId": derived("team"),
            "channels": [{"id": f"channel-general-{account.id}", "name": "General"}],
        },
    }


def write_config(account: Account, everyone: Sequence[Account], folder: Path) -> Path:
    """Write `account`'s config file into `folder` (made if missing), where its Playground is started."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / CONFIG_NAME
    header = (
        f"# {account.person.name}'s Teams in the Agents Playground, made from the directory file by\n"
        "# `challenge-bot playground accounts`; every person here is invented.\n"
    )
    path.write_text(header + yaml.safe_dump(config(account, everyone), sort_keys=False), encoding="utf-8")
    return path


def table(everyone: Sequence[Account]) -> str:
    """The people one can be, one a line: id, name and who they are."""
    width = max((len(a.id) for a in everyone), default=2)
    name_width = max((len(a.person.name) for a in everyone), default=4)
    lines = [f"{'ID'.ljust(width)}  {'NAME'.ljust(name_width)}  WHO"]
    lines += [f"{a.id.ljust(width)}  {a.person.name.ljust(name_width)}  {a.describe()}" for a in everyone]
    return "\n".join(lines)


def _partnership_name(partnership_id: str) -> str:
    return partnership_id.replace("_", " ").title()
