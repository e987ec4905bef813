"""Invented people for engine tests: one distinct person for every role of a challenge, in both partnerships.

Nobody here is real. Person ids say which role they hold, so a failing assertion reads as the procedure.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from process.challenge import ChildDetails, RaiseRequest
from process.directory import Agency, Contact, Directory, Person
from process.policy import Role

#: Monday 23 November 2026, 10:00 in London (GMT).
MONDAY_MORNING = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)

INVENTED_CHILD = ChildDetails(
    name="Jordan Testchild", date_of_birth=date(2019, 3, 14), agency_reference="INV-0001"
)


def _people(p: str) -> list[Person]:
    """Partnership `p`: raiser agency `{p}_a`, challenged agency `{p}_b`, partnership unit `{p}_u`."""
    a, b, u = f"{p}_a", f"{p}_b", f"{p}_u"
    return [
        Person(
            f"{p}_raiser",
            "Riley Raiser",
            a,
            f"raiser@{p}.example",
            job_roles=frozenset({"iro"}),
            line_manager_id=f"{p}_raiser_lm",
            aad_object_id=f"aad-{p}-raiser",
        ),
        Person(
            f"{p}_raiser_lm", "Lee Raiserline", a, f"raiser.lm@{p}.example", line_manager_id=f"{p}_raiser_sm"
        ),
        Person(f"{p}_raiser_sm", "Sasha Raisersenior", a, f"raiser.sm@{p}.example"),
        Person(f"{p}_raiser_sl", "Sol Raiserlead", a, f"raiser.sl@{p}.example"),
        Person(
            f"{p}_raiser_colleague",
            "Casey Raisermate",
            a,
            f"raiser.mate@{p}.example",
            job_roles=frozenset({"iro"}),
        ),
        Person(
            f"{p}_challenged",
            "Charlie Challenged",
            b,
            f"challenged@{p}.example",
            line_manager_id=f"{p}_challenged_lm",
            aad_object_id=f"aad-{p}-challenged",
        ),
        Person(
            f"{p}_challenged_lm",
            "Morgan Challengedline",
            b,
            f"challenged.lm@{p}.example",
            line_manager_id=f"{p}_challenged_sm",
        ),
        Person(f"{p}_challenged_sm", "Avery Challengedsenior", b, f"challenged.sm@{p}.example"),
        Person(f"{p}_challenged_sl", "Jamie Challengedlead", b, f"challenged.sl@{p}.example"),
        Person(f"{p}_challenged_colleague", "Drew Challengedmate", b, f"challenged.mate@{p}.example"),
        Person(f"{p}_bm", "Blair Businessmanager", u, f"bm@{p}.example"),
        Person(f"{p}_admin", "Ash Admin", u, f"admin@{p}.example"),
        Person(f"{p}_hos", "Harper Headofsafeguarding", u, f"hos@{p}.example"),
        Person(f"{p}_scrutineer", "Sky Scrutineer", u, f"scrutineer@{p}.example"),
        Person(f"{p}_executive", "Emery Executive", u, f"executive@{p}.example"),
        Person(f"{p}_qrt", "Quinn Qrt", u, f"qrt@{p}.example"),
        Person(f"{p}_unit_colleague", "Rowan Unitmate", u, f"unit.mate@{p}.example"),
        Person(f"{p}_outsider", "Oakley Outsider", b, f"outsider@{p}.example"),
        # An agency reached only through mailboxes: a professional with no manager recorded, and its lead.
        Person(f"{p}_lone", "Lou Lonely", f"{p}_c", f"lone@{p}.example", aad_object_id=f"aad-{p}-lone"),
        Person(f"{p}_c_lead", "Cam Mailboxlead", f"{p}_c", f"c.lead@{p}.example"),
        Person(f"{p}_c_clerk", "Kit Clerk", f"{p}_c", f"c.clerk@{p}.example"),
        # A raiser with no manager recorded, in an agency with no safeguarding lead.
        Person(f"{p}_solo", "Sol Solo", f"{p}_d", f"solo@{p}.example", job_roles=frozenset({"iro"})),
        Person(f"{p}_d_deputy", "Dee Deputy", f"{p}_d", f"deputy@{p}.example"),
    ]


def mailbox(p: str, stage: int) -> Contact:
    """The mailbox agency's escalation contact for a stage: a shared inbox, never a person."""
    return Contact(
        name=f"Safeguarding Inbox {stage}", email=f"inbox{stage}@{p}-c.example", phone="0100 000 0000"
    )


PARTNERSHIP_ROLE_HOLDERS = {
    Role.BUSINESS_MANAGER: "bm",
    Role.PARTNERSHIP_ADMIN: "admin",
    Role.HEAD_OF_SAFEGUARDING: "hos",
    Role.INDEPENDENT_SCRUTINEER: "scrutineer",
    Role.EXECUTIVE: "executive",
    Role.QRT_BUSINESS_MANAGER: "qrt",
}

#: Which person (by id suffix) holds each role of a challenge raised by `{p}_raiser` against `{p}_challenged`.
ROLE_HOLDERS = {
    Role.RAISER: "raiser",
    Role.RAISER_LINE_MANAGER: "raiser_lm",
    Role.RAISER_SENIOR_MANAGER: "raiser_sm",
    Role.RAISER_SAFEGUARDING_LEAD: "raiser_sl",
    Role.CHALLENGED_PROFESSIONAL: "challenged",
    Role.CHALLENGED_LINE_MANAGER: "challenged_lm",
    Role.CHALLENGED_SENIOR_MANAGER: "challenged_sm",
    Role.CHALLENGED_SAFEGUARDING_LEAD: "challenged_sl",
    **PARTNERSHIP_ROLE_HOLDERS,
}


def role_directory(partnerships: tuple[str, ...] = ("durham", "rochdale")) -> Directory:
    """A directory where every role of a challenge is held by a different invented person."""
    people: list[Person] = []
    agencies: list[Agency] = []
    roles: dict[tuple[str, str], tuple[Contact, ...]] = {}
    for p in partnerships:
        group = _people(p)
        by_id = {person.id: person for person in group}
        people += group
        agencies += [
            Agency(f"{p}_a", "Raising Agency", p, safeguarding_lead_id=f"{p}_raiser_sl"),
            Agency(
                f"{p}_b",
                "Challenged Agency",
                p,
                safeguarding_lead_id=f"{p}_challenged_sl",
                escalation_contacts={3: (by_id[f"{p}_challenged_sm"].contact(),)},
            ),
            Agency(f"{p}_u", "Partnership Business Unit", p),
            Agency(f"{p}_d", "Agency Without Managers", p),
            Agency(
                f"{p}_c",
                "Mailbox Agency",
                p,
                safeguarding_lead_id=f"{p}_c_lead",
                escalation_contacts={n: (mailbox(p, n),) for n in (1, 2, 3, 4)},
            ),
        ]
        for role, suffix in PARTNERSHIP_ROLE_HOLDERS.items():
            roles[(p, role)] = (by_id[f"{p}_{suffix}"].contact(),)
    return Directory.build(people, agencies, roles)


def holder(partnership: str, role: str) -> str:
    """The id of the person holding `role` in `role_directory()`."""
    return f"{partnership}_{ROLE_HOLDERS[role]}"


def raise_request(partnership: str, **changes: object) -> RaiseRequest:
    """A complete, valid form for a challenge against `{partnership}_challenged`."""
    category = {"durham": "lack_of_report", "rochdale": "procedures_not_applied"}[partnership]
    # Durham's Compliance Challenge Form asks for the family name only.
    child = INVENTED_CHILD if partnership != "durham" else ChildDetails(name=INVENTED_CHILD.name)
    values: dict[str, object] = dict(
        child=child,
        challenged_agency_id=f"{partnership}_b",
        challenged_person_id=f"{partnership}_challenged",
        issue_category=category,
        concern="No report was provided to the review conference.",
        desired_outcome="A written report shared with the family before the next review.",
    )
    values.update(changes)
    return RaiseRequest(**values)  # type: ignore[arg-type]


def police_raise_request() -> RaiseRequest:
    """Rochdale's form against a police officer not in the directory, named with an email address."""
    return raise_request(
        "rochdale",
        challenged_agency_id="rochdale_police",
        challenged_person_id=None,
        challenged_name="PC Invented",
        challenged_email="pc.invented@example.org",
    )
