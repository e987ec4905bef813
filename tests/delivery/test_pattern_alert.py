"""Pattern alerts (Durham 5.5): when one agency receives the policy's number of challenges within its days, the
posts the policy names are told once, with the references only, by the deadline clock's pass.

Durham's shipped setting (the partnership's, not the procedure's words) is 3 challenges within 90 days, told to
the Business Manager for QRT and the IRO Service Manager (5.5). `role_directory()` holds only the first, so these
tests follow one recipient; the `tick` test, on the demo directory, both.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from bot.config import Settings
from bot.mailer import Mailer
from bot.scheduler import TickReport
from bot.server import build_adapter
from dialogs.patterns import FULL_LOOK_EVERY, RAISE_SKEW, PatternWatch
from process.challenge import NotificationKind, Withdraw
from process.directory import Contact, Directory
from process.patterns import Raised
from process.policy import Role, load_policy
from storage.db import Database
from storage.directory import DirectoryStore
from storage.outbox import DeliveryStatus, OutboxItem
from storage.patterns import PatternStore
from tests.delivery.conftest import Delivery, MovableClock, SmtpServer, build_delivery
from tests.delivery.test_teams import personal_reference
from tests.delivery.test_tick_command import _environment, _run_tick
from tests.fakes.connector import FakeConnector
from tests.support.people import INVENTED_CHILD, holder, raise_request, role_directory

RAISER = holder("durham", Role.RAISER)
TOLD = holder("durham", Role.QRT_BUSINESS_MANAGER)
TOLD_EMAIL = "qrt@durham.example"
DURHAM = load_policy("durham")
assert DURHAM.pattern_alert is not None and DURHAM.pattern_alert.challenges == 3
assert DURHAM.pattern_alert.tell == (Role.QRT_BUSINESS_MANAGER, "iro_service_manager")


async def raise_some(d: Delivery, times: int, *, every: timedelta = timedelta(hours=1)) -> list[str]:
    """`times` Durham challenges against agency durham_b, `every` apart on the test's clock; their references."""
    references = []
    for _ in range(times):
        decision = await d.service.raise_challenge(RAISER, "durham", raise_request("durham"))
        references.append(decision.challenge.reference)
        d.clock.now += every
    return references


async def alerts(d: Delivery) -> list[OutboxItem]:
    """Every pattern alert queued, whichever challenge carries it."""
    found = []
    for pattern in await PatternStore(d.database).all():
        rows = await d.outbox.for_challenge(pattern.trigger_challenge_id)
        found += [r for r in rows if r.notification.kind is NotificationKind.PATTERN_ALERT]
    return found


def emails_to(smtp: SmtpServer, address: str) -> list[tuple[str, str]]:
    """The pattern alerts emailed to `address` (the Business Manager for QRT is also copied in on each raise)."""
    return [
        (str(m["Subject"]), m.get_payload(decode=True).decode())  # type: ignore[union-attr]
        for rcpts, m in smtp.messages
        if address in rcpts and " challenges to " in str(m["Subject"])
    ]


def with_told(contacts: tuple[Contact, ...], directory: Directory | None = None) -> Directory:
    """The directory with `contacts` as Durham's Business Manager for QRT (nobody, if none)."""
    base = directory or role_directory()
    posts = dict(base.partnership_roles)
    if contacts:
        posts[("durham", Role.QRT_BUSINESS_MANAGER)] = contacts
    else:
        posts.pop(("durham", Role.QRT_BUSINESS_MANAGER), None)
    return Directory(base.people, base.agencies, posts)


async def test_two_challenges_no_alert_the_third_alerts_once_and_a_second_pass_adds_nothing(
    database: Database, smtp_server: SmtpServer
) -> None:
    d = build_delivery(database, MovableClock(), mailer=Mailer(smtp_server.settings()))
    first_two = await raise_some(d, 2)
    report = await d.scheduler.run_once()
    assert report.patterns == 0 and await alerts(d) == []

    third = await raise_some(d, 1)
    report = await d.scheduler.run_once()
    assert report.patterns == 1 and not report.patterns_untold
    assert "patterns=1 patterns_untold=0" in report.summary()
    (row,) = await alerts(d)
    assert row.notification.recipient.person_id == TOLD
    assert row.status is DeliveryStatus.DELIVERED and row.channel == "email"  # no Teams identity: email
    ((subject, body),) = emails_to(smtp_server, TOLD_EMAIL)
    assert subject.startswith("DSCP: 3 challenges to ")
    for reference in [*first_two, *third]:
        assert reference in body
    for child_fact in (INVENTED_CHILD.name, "No report was provided"):
        assert child_fact not in body and child_fact not in subject

    again = await d.scheduler.run_once()
    assert again.patterns == 0 and len(await alerts(d)) == 1
    assert len(emails_to(smtp_server, TOLD_EMAIL)) == 1

    # A further three make a new pattern, with those three only.
    more = await raise_some(d, 3)
    assert (await d.scheduler.run_once()).patterns == 1
    second = (await PatternStore(database).all())[1]
    assert second.references == tuple(more)


async def test_challenges_outside_the_window_are_not_counted(
    database: Database, smtp_server: SmtpServer
) -> None:
    d = build_delivery(database, MovableClock(), mailer=Mailer(smtp_server.settings()))
    refs = await raise_some(d, 3, every=timedelta(days=50))  # day 0, 50, 100: never 3 within 90 days
    assert (await d.scheduler.run_once()).patterns == 0
    d.clock.now -= timedelta(days=30)  # day 120
    refs += await raise_some(d, 1)
    assert (await d.scheduler.run_once()).patterns == 1
    (pattern,) = await PatternStore(database).all()
    assert pattern.references == tuple(refs[1:])  # days 50, 100, 120


async def test_withdrawn_challenges_are_not_counted(database: Database, smtp_server: SmtpServer) -> None:
    d = build_delivery(database, MovableClock(), mailer=Mailer(smtp_server.settings()))
    await raise_some(d, 2)
    decision = await d.service.raise_challenge(RAISER, "durham", raise_request("durham"))
    challenge = decision.challenge
    result = await d.service.act(
        challenge, challenge.version, Withdraw("Raised with the wrong agency."), RAISER
    )
    assert result.outcome == "applied"
    assert (await d.scheduler.run_once()).patterns == 0
    await raise_some(d, 1)
    assert (await d.scheduler.run_once()).patterns == 1


async def test_a_business_manager_who_is_a_mailbox_is_emailed(
    database: Database, smtp_server: SmtpServer
) -> None:
    mailbox = Contact(name="DSCP Business Unit", email="dscp.unit@example.org")
    d = build_delivery(
        database,
        MovableClock(),
        directory=with_told((mailbox,)),
        mailer=Mailer(smtp_server.settings()),
        teams_adapter=build_adapter(Settings()),
    )
    refs = await raise_some(d, 3)
    assert (await d.scheduler.run_once()).patterns == 1
    (row,) = await alerts(d)
    assert row.status is DeliveryStatus.DELIVERED and row.channel == "email"
    ((_, body),) = emails_to(smtp_server, "dscp.unit@example.org")
    assert all(reference in body for reference in refs)


async def test_a_business_manager_in_teams_gets_a_card_in_their_personal_chat(
    database: Database, smtp_server: SmtpServer, fake_connector: FakeConnector
) -> None:
    base = role_directory()
    people = dict(base.people)
    people[TOLD] = replace(people[TOLD], aad_object_id="aad-durham-bm", tenant_id="tenant-1")
    directory = Directory(people, base.agencies, base.partnership_roles)
    d = build_delivery(
        database,
        MovableClock(),
        directory=directory,
        mailer=Mailer(smtp_server.settings()),
        teams_adapter=build_adapter(Settings()),
    )
    await d.conversations.save(personal_reference(fake_connector.service_url, "aad-durham-bm", "a:bm"))
    refs = await raise_some(d, 3)
    assert (await d.scheduler.run_once()).patterns == 1
    (row,) = await alerts(d)
    assert row.status is DeliveryStatus.DELIVERED and row.channel == "teams"
    cards = [
        a["content"]
        for activity in fake_connector.sent_activities()
        if activity.get("conversation", {}).get("id") == "a:bm"
        for a in activity.get("attachments") or []
    ]
    (card,) = [c for c in cards if "Repeated challenges to" in str(c)]  # also copied in on each raise
    words = str(card)
    assert "Repeated challenges to" in words and all(reference in words for reference in refs)
    assert "the IRO Service Manager would consider escalating the issue" in words  # the policy's guidance
    assert INVENTED_CHILD.name not in words
    assert emails_to(smtp_server, TOLD_EMAIL) == []


async def test_no_business_manager_recorded_is_reported_truthfully_once(
    database: Database, smtp_server: SmtpServer, caplog: pytest.LogCaptureFixture
) -> None:
    d = build_delivery(
        database, MovableClock(), directory=with_told(()), mailer=Mailer(smtp_server.settings())
    )
    await raise_some(d, 3)
    report = await d.scheduler.run_once()
    assert report.patterns == 0
    assert report.patterns_untold == [
        "durham: 3 challenges to durham_b: nobody could be told: the directory has nobody as Business Manager "
        "for QRT, IRO Service Manager"
    ]
    assert "nobody could be told" in caplog.text
    (pattern,) = await PatternStore(database).all()
    assert pattern.told == ()
    assert await alerts(d) == []
    again = await d.scheduler.run_once()
    assert again.patterns_untold == [] and "patterns" not in again.summary()  # said once, not every pass


async def test_racing_passes_tell_a_pattern_once(
    postgres_database: Database, smtp_server: SmtpServer
) -> None:
    d = build_delivery(postgres_database, MovableClock(), mailer=Mailer(smtp_server.settings()))
    await raise_some(d, 3)
    watches = [PatternWatch(d.service, PatternStore(postgres_database)) for _ in range(6)]
    reports = await asyncio.gather(*(w.run(d.clock()) for w in watches))
    assert sum(r.told for r in reports) == 1
    assert len(await PatternStore(postgres_database).all()) == 1
    assert len(await alerts(d)) == 1


async def test_tick_tells_the_posts_the_policy_names_once(
    tmp_path: Path, fake_connector: FakeConnector, smtp_server: SmtpServer
) -> None:
    """Through `challenge-bot tick`: the demo directory's Business Manager for QRT is a mailbox and its IRO
    Service Manager (Lynne Robbins) has no chat with the bot, so both are emailed; a second tick tells nobody
    again."""
    from process.directory_file import load_directory_file
    from storage.migrate import upgrade_database

    url = f"sqlite+aiosqlite:///{tmp_path / 'operator.db'}"
    database = await Database.connect(url)
    try:
        await upgrade_database(database)
        await DirectoryStore(database).replace_all(load_directory_file())
        d = build_delivery(database, MovableClock(), directory=load_directory_file())
        request = raise_request(
            "durham", challenged_agency_id="health_visiting", challenged_person_id="megan"
        )
        refs = [
            (await d.service.raise_challenge("alex", "durham", request)).challenge.reference for _ in range(3)
        ]
    finally:
        await database.dispose()
    env = _environment(url, smtp_server)
    code, out, err = await _run_tick(env, "--now", "2026-11-23T12:00:00+00:00")
    assert code == 0, err
    assert "patterns=1 patterns_untold=0" in out
    for address in ("qrt.business@example.org", "lynner@example.com"):
        ((subject, body),) = emails_to(smtp_server, address)
        assert "Health Visiting Service" in subject and all(reference in body for reference in refs)
        assert "What the procedure says: Where patterns are identified the IRO Service Manager" in body
    assert emails_to(smtp_server, "pattif@example.com") == []  # the DSCP Business Manager: if Lynne escalates

    code, out, err = await _run_tick(env, "--now", "2026-11-23T13:00:00+00:00")
    assert code == 0, err
    assert "patterns=" not in out and len(emails_to(smtp_server, "lynner@example.com")) == 1


def test_summary_names_patterns() -> None:
    assert TickReport(patterns=2, patterns_untold=["x"]).summary().endswith("patterns=2 patterns_untold=1")


def counting_recent_reads(d: Delivery) -> list[int]:
    """A counter (its one element) of the pattern watch's reads of a partnership's recent challenges."""
    calls = [0]
    store = d.scheduler.patterns.store
    read = store.raised_since

    async def counted(policy_id: str, since: datetime) -> list[Raised]:
        calls[0] += 1
        return await read(policy_id, since)

    store.raised_since = counted  # type: ignore[method-assign]
    return calls


async def test_a_pass_with_nothing_raised_since_the_last_look_does_not_read_the_recent_challenges(
    database: Database, smtp_server: SmtpServer
) -> None:
    d = build_delivery(database, MovableClock(), mailer=Mailer(smtp_server.settings()))
    reads = counting_recent_reads(d)
    await raise_some(d, 3)
    assert (await d.scheduler.run_once()).patterns == 1
    assert reads == [1]
    d.clock.now += timedelta(minutes=5)
    assert (await d.scheduler.run_once()).patterns == 0
    assert reads == [1]  # nothing raised since: only the newest raise's time was read
    await raise_some(d, 1)
    await d.scheduler.run_once()
    assert reads == [2]
    # However quiet it is, the recent challenges are read again once FULL_LOOK_EVERY has passed.
    d.clock.now += FULL_LOOK_EVERY
    await d.scheduler.run_once()
    assert reads == [3]


async def test_a_raise_stamped_a_little_before_the_last_look_still_completes_a_pattern(
    database: Database, smtp_server: SmtpServer
) -> None:
    # Another instance whose clock is a little behind, or a raise committed just after the look.
    d = build_delivery(database, MovableClock(), mailer=Mailer(smtp_server.settings()))
    await raise_some(d, 2)
    assert (await d.scheduler.run_once()).patterns == 0
    looked = d.clock.now
    d.clock.now = looked - RAISE_SKEW + timedelta(seconds=1)
    await raise_some(d, 1, every=timedelta(0))
    d.clock.now = looked + timedelta(minutes=1)
    assert (await d.scheduler.run_once()).patterns == 1


async def test_a_raise_stamped_long_before_the_last_look_is_counted_at_the_next_full_look(
    database: Database, smtp_server: SmtpServer
) -> None:
    d = build_delivery(database, MovableClock(), mailer=Mailer(smtp_server.settings()))
    await raise_some(d, 2)
    assert (await d.scheduler.run_once()).patterns == 0
    looked = d.clock.now
    d.clock.now = looked - 2 * RAISE_SKEW
    await raise_some(d, 1, every=timedelta(0))
    d.clock.now = looked + timedelta(minutes=1)
    assert (await d.scheduler.run_once()).patterns == 0
    d.clock.now = looked + FULL_LOOK_EVERY
    assert (await d.scheduler.run_once()).patterns == 1


async def test_the_watch_reads_only_the_patterns_told_within_its_look_back(database: Database) -> None:
    d = build_delivery(database, MovableClock())
    await raise_some(d, 3)
    await d.scheduler.run_once()
    (told,) = await PatternStore(database).all()
    store = PatternStore(database)
    assert set(await store.last_triggers("durham")) == {told.agency_id}
    assert set(await store.last_triggers("durham", told.window_end - timedelta(seconds=1))) == {
        told.agency_id
    }
    assert await store.last_triggers("durham", told.window_end) == {}
