"""An invented directory for storage, bot and scheduler tests: both partnerships, every role, mailboxes too.

Nobody here is real: names, emails (`*.example`), phone numbers and Teams ids are made up. Each partnership
`p` (`durham`, `rochdale`) has the same cast, so a test reads the same for either procedure:

- agency `{p}.raising` (children's services): the raiser (an IRO) with a line manager, who has a senior
  manager, and the agency's safeguarding lead; a colleague who is also an IRO;
- agency `{p}.challenged` (a health trust): the professional challenged, their line manager, the agency's
  senior manager and safeguarding lead, a colleague; escalation contacts per stage: stage 2 the line manager,
  stage 3 the senior manager then the safeguarding team's mailbox (with a phone number and a note);
- agency `{p}.unit` (the partnership's business unit): the partnership role holders. The partnership admin
  is a shared mailbox, and the executive role lists a person then the executive's mailbox.

Person ids are `{p}.{who}` with `who` one of `WHO`; `pid(p, who)` builds one, `aad(p, who)` their Teams id.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from functools import cache
from uuid import uuid4

from process.challenge import ChildDetails, Decision, RaiseRequest
from process.directory import Agency, Contact, Directory, Person
from process.engine import Engine
from process.policy import Role, load_policy

PARTNERSHIPS = ("durham", "rochdale")

#: Monday 23 November 2026, 10:00 in London (GMT): a working day in both partnerships.
MONDAY = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)

#: The invented host tenant (the raising agencies) and another tenant (the challenged agencies).
HOST_TENANT = "0a0a0a0a-0000-4000-8000-000000000001"
OTHER_TENANT = "0b0b0b0b-0000-4000-8000-000000000002"

CHILD = ChildDetails(name="Robin Inventedchild", date_of_birth=date(2018, 6, 1), agency_reference="EX-000123")

#: Everyone's part, by the `who` of their person id, with their name and job title.
WHO: dict[str, tuple[str, str]] = {
    "raiser": ("Indigo Reviewer", "Independent Reviewing Officer"),
    "raiser_manager": ("Lark Reviewmanager", "IRO Team Manager"),
    "raiser_senior": ("Sable Servicehead", "Head of Children's Services"),
    "raiser_lead": ("Wren Safeguardlead", "Safeguarding Lead, Children's Services"),
    "raiser_colleague": ("Ember Reviewmate", "Independent Reviewing Officer"),
    "professional": ("Quill Practitioner", "Health Visitor"),
    "professional_manager": ("Tarn Teamleader", "Health Visiting Team Leader"),
    "agency_senior": ("Vale Seniormanager", "Associate Director of Nursing"),
    "agency_lead": ("Fen Namednurse", "Named Nurse for Safeguarding Children"),
    "professional_colleague": ("Moss Practmate", "Health Visitor"),
    "business_manager": ("Brook Businessman", "Partnership Business Manager"),
    "head_of_safeguarding": ("Heath Safeguardhead", "Head of Safeguarding"),
    "scrutineer": ("Scout Scrutineer", "Independent Scrutineer"),
    "executive": ("Rook Executive", "Partnership Executive Chair"),
    "qrt": ("Quarry Qualityteam", "Business Manager for QRT"),
}

#: Who holds each role of a challenge raised by `raiser` against `professional` (None: a mailbox does).
ROLE_HOLDERS: dict[Role, str | None] = {
    Role.RAISER: "raiser",
    Role.RAISER_LINE_MANAGER: "raiser_manager",
    Role.RAISER_SENIOR_MANAGER: "raiser_senior",
    Role.RAISER_SAFEGUARDING_LEAD: "raiser_lead",
    Role.CHALLENGED_PROFESSIONAL: "professional",
    Role.CHALLENGED_LINE_MANAGER: "professional_manager",
    Role.CHALLENGED_SENIOR_MANAGER: "agency_senior",
    Role.CHALLENGED_SAFEGUARDING_LEAD: "agency_lead",
    Role.BUSINESS_MANAGER: "business_manager",
    Role.PARTNERSHIP_ADMIN: None,
    Role.HEAD_OF_SAFEGUARDING: "head_of_safeguarding",
    Role.INDEPENDENT_SCRUTINEER: "scrutineer",
    Role.EXECUTIVE: "executive",
    Role.QRT_BUSINESS_MANAGER: "qrt",
}

_CHALLENGED_SIDE = {
    "professional",
    "professional_manager",
    "agency_senior",
    "agency_lead",
    "professional_colleague",
}
_UNIT = {"business_manager", "head_of_safeguarding", "scrutineer", "executive", "qrt"}
_LINE_MANAGERS = {
    "raiser": "raiser_manager",
    "raiser_colleague": "raiser_manager",
    "raiser_manager": "raiser_senior",
    "professional": "professional_manager",
    "professional_colleague": "professional_manager",
    "professional_manager": "agency_senior",
}
_SHORT = {"durham": "DSCP", "rochdale": "RBSCP"}


def pid(partnership: str, who: str) -> str:
    """The person id of `who` (a key of `WHO`) in `partnership`."""
    if who not in WHO:
        raise KeyError(f"no one called {who!r} in the invented directory; choose from {sorted(WHO)}")
    return f"{partnership}.{who}"


def aad(partnership: str, who: str) -> str:
    """The (invented) Teams AAD object id of `who` in `partnership`."""
    number = list(WHO).index(who) + 1 + (100 if partnership == "rochdale" else 0)
    return f"00000000-0000-4000-a000-{number:012d}"


def holder(partnership: str, role: Role) -> str:
    """The person id holding `role` on a challenge raised with `raise_form(partnership)`."""
    who = ROLE_HOLDERS[role]
    if who is None:
        raise KeyError(f"{role} is held by a mailbox, not a person")
    return pid(partnership, who)


def admin_mailbox(partnership: str) -> Contact:
    return Contact(
        name=f"{_SHORT[partnership]} Business Unit",
        email=f"business.unit@{partnership}.example",
        note="Shared mailbox, read every working day",
    )


def safeguarding_team_mailbox(partnership: str) -> Contact:
    return Contact(
        name="Health Safeguarding Team",
        email=f"health.safeguarding@{partnership}.example",
        phone="0100 000 0300",
        note="Telephone as well as emailing for stage 3",
    )


def executive_mailbox(partnership: str) -> Contact:
    return Contact(name=f"{_SHORT[partnership]} Executive", email=f"executive@{partnership}.example")


def _person(partnership: str, who: str) -> Person:
    name, title = WHO[who]
    agency = "challenged" if who in _CHALLENGED_SIDE else "unit" if who in _UNIT else "raising"
    manager = _LINE_MANAGERS.get(who)
    return Person(
        id=pid(partnership, who),
        name=name,
        agency_id=f"{partnership}.{agency}",
        email=f"{who.replace('_', '.')}@{partnership}.example",
        job_title=title,
        job_roles=frozenset({"iro"}) if who in ("raiser", "raiser_colleague") else frozenset(),
        line_manager_id=pid(partnership, manager) if manager else None,
        aad_object_id=aad(partnership, who),
        tenant_id=OTHER_TENANT if agency == "challenged" else HOST_TENANT,
        phone="0100 000 0100" if who in ("raiser", "professional") else None,
    )


def invented_directory(partnerships: tuple[str, ...] = PARTNERSHIPS) -> Directory:
    """The whole invented cast of `partnerships` (see the module's docstring)."""
    people: list[Person] = []
    agencies: list[Agency] = []
    roles: dict[tuple[str, Role], tuple[Contact, ...]] = {}
    for p in partnerships:
        cast = {who: _person(p, who) for who in WHO}
        people += cast.values()
        agencies += [
            Agency(
                f"{p}.raising", "Invented Children's Services", p, safeguarding_lead_id=pid(p, "raiser_lead")
            ),
            Agency(
                f"{p}.challenged",
                "Invented Health Trust",
                p,
                safeguarding_lead_id=pid(p, "agency_lead"),
                escalation_contacts={
                    2: (cast["professional_manager"].contact(),),
                    3: (cast["agency_senior"].contact(), safeguarding_team_mailbox(p)),
                },
                escalation_note="Escalations at stage 3 also go to the safeguarding team's mailbox.",
            ),
            Agency(f"{p}.unit", f"{_SHORT[p]} Business Unit", p),
        ]
        for role, who in ROLE_HOLDERS.items():
            if role.startswith(("raiser", "challenged")):
                continue
            if who is None:
                roles[(p, role)] = (admin_mailbox(p),)
            elif role is Role.EXECUTIVE:
                roles[(p, role)] = (cast[who].contact(), executive_mailbox(p))
            else:
                roles[(p, role)] = (cast[who].contact(),)
    return Directory.build(people, agencies, roles)


def engine_for(partnership: str, directory: Directory | None = None) -> Engine:
    """The real engine with the partnership's shipped policy and the invented directory (or `directory`)."""
    if directory is None:
        return _invented_engine(partnership)
    return Engine(load_policy(partnership), directory)


@cache
def _invented_engine(partnership: str) -> Engine:
    # The engine holds no state between calls; sharing one saves rebuilding its holiday calendar.
    return Engine(load_policy(partnership), invented_directory())


def raise_form(partnership: str, **changes: object) -> RaiseRequest:
    """A complete, valid raise form from `{p}.raiser` against `{p}.professional` of `{p}.challenged`."""
    category = {"durham": "lack_of_report", "rochdale": "procedures_not_applied"}[partnership]
    values: dict[str, object] = {
        "child": CHILD,
        "challenged_agency_id": f"{partnership}.challenged",
        "challenged_person_id": pid(partnership, "professional"),
        "issue_category": category,
        "concern": "The health assessment report was not shared before the review.",
        "desired_outcome": "The report is shared with the family and the IRO before the next review.",
    }
    values.update(changes)
    return RaiseRequest(**values)  # type: ignore[arg-type]


def raising(
    engine: Engine,
    *,
    now: datetime = MONDAY,
    challenge_id: str | None = None,
    by: str = "raiser",
    **form_changes: object,
) -> Callable[[str], Decision]:
    """A `build(reference)` for `ChallengeRepository.create`: raises the invented form with the engine."""
    partnership = engine.policy.id
    form = raise_form(partnership, **form_changes)

    def build(reference: str) -> Decision:
        return engine.raise_challenge(
            form, pid(partnership, by), now, challenge_id=challenge_id or str(uuid4()), reference=reference
        )

    return build
