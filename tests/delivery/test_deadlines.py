"""Time travel: a challenge left alone, walked by the scheduler from one due instant to the next.

The real engine, policies and database; the clock is injected and moved to each instant the scheduler says
it would wake at; every notification goes out by email to a real SMTP server on loopback.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from bot.mailer import Mailer
from process.challenge import SYSTEM, Escalate, NotificationKind
from process.policy import Role
from storage.outbox import DeliveryStatus
from tests.delivery.conftest import Delivery, SmtpServer
from tests.support.people import holder, raise_request


@dataclass
class Step:
    at: datetime
    told: dict[str, set[str]]  # notification kind -> person ids (or mailbox names)


async def walk(
    d: Delivery, challenge_id: str, *, steps: int = 12, raiser_escalates: bool = False
) -> list[Step]:
    """Move the clock to each instant the scheduler would wake at and run a pass there."""
    seen = {item.id for item in await d.outbox.for_challenge(challenge_id)}
    walked: list[Step] = []
    for _ in range(steps):
        nxt = await d.scheduler.next_wake()
        if nxt is None:
            break
        d.clock.now = nxt
        report = await d.scheduler.run_once()
        assert report.delivery.failed == 0, report.delivery.errors
        told: dict[str, set[str]] = {}
        for item in await d.outbox.for_challenge(challenge_id):
            if item.id in seen:
                continue
            seen.add(item.id)
            assert item.status is DeliveryStatus.DELIVERED and item.channel == "email"
            who = item.notification.recipient.person_id or item.notification.recipient.name
            told.setdefault(item.notification.kind.value, set()).add(who)
        walked.append(Step(nxt, told))
        if raiser_escalates and NotificationKind.ESCALATION_DECISION_NEEDED.value in told:
            challenge = await d.service.repository.get(challenge_id)
            assert challenge is not None
            policy = d.service.policy(challenge.policy_id)
            nxt_stage = policy.stage(challenge.stage + 1)
            fields = {f.id: "The deadline passed without a response." for f in nxt_stage.entry_fields}
            # Whoever acts for the raising side at this stage decides to escalate.
            stage = policy.stage(challenge.stage)
            escalator = challenge.parties[(stage.escalated_by or stage.raiser_side)[0]].person_id
            assert escalator is not None
            result = await d.service.act(
                challenge, challenge.version, Escalate("Deadline passed", fields), escalator
            )
            assert result.outcome == "applied", result.notice
            await d.notifier.drain()
    return walked


def london(day: str, hour: int = 17) -> datetime:
    """A UK-winter or summer wall-clock instant given as the UTC instant the calendar stores."""
    value = datetime.fromisoformat(f"{day}T{hour:02d}:00:00+00:00")
    return value.astimezone(UTC)


def durham(role: Role) -> str:
    return holder("durham", role)


def rochdale(role: Role) -> str:
    return holder("rochdale", role)


async def test_durham_challenge_nobody_answers_is_put_to_the_iro_at_each_deadline_up_to_the_final_stage(
    delivery_factory: Callable[..., Delivery], smtp_server: SmtpServer
) -> None:
    d = delivery_factory(mailer=Mailer(smtp_server.settings()))
    decision = await d.service.raise_challenge(durham(Role.RAISER), "durham", raise_request("durham"))
    await d.notifier.drain()
    # Left alone, the clock stops at the first deadline and asks the IRO; nothing moves on by itself.
    alone = await walk(d, decision.challenge.id)
    assert [s.at for s in alone] == [london("2026-11-23"), london("2026-11-24")]
    challenge = await d.service.repository.get(decision.challenge.id)
    assert challenge is not None and challenge.stage == 1 and await d.scheduler.next_wake() is None
    reminder, breach = alone[0].told, alone[1].told
    assert reminder == {"reminder": {durham(Role.CHALLENGED_PROFESSIONAL)}}
    assert breach["escalation_decision_needed"] == {durham(Role.RAISER)}
    assert breach["coming_to_you"] == {durham(Role.CHALLENGED_LINE_MANAGER)}
    assert breach["deadline_passed"] == {durham(Role.CHALLENGED_PROFESSIONAL)}


async def test_durham_iro_escalating_at_each_deadline_reaches_the_final_stage_within_16_working_days(
    delivery_factory: Callable[..., Delivery], smtp_server: SmtpServer
) -> None:
    d = delivery_factory(mailer=Mailer(smtp_server.settings()))
    decision = await d.service.raise_challenge(durham(Role.RAISER), "durham", raise_request("durham"))
    await d.notifier.drain()
    steps = await walk(d, decision.challenge.id, raiser_escalates=True)

    assert [s.at for s in steps] == [
        london("2026-11-23"),  # reminder: one working day before stage 1's deadline
        london("2026-11-24"),  # stage 1 (1 working day) passes: the IRO escalates to stage 2
        london("2026-11-26"),
        london("2026-11-27"),  # stage 2 (3 working days) passes: stage 3
        london("2026-12-03"),
        london("2026-12-04"),  # stage 3 (5 working days) passes: stage 4
        london("2026-12-14"),
        london("2026-12-15"),  # stage 4 (7 working days, the 16th working day) passes: stage 5
    ]
    after_first_escalation = steps[2].told
    assert durham(Role.CHALLENGED_LINE_MANAGER) in after_first_escalation["escalated"]
    assert durham(Role.CHALLENGED_SAFEGUARDING_LEAD) in after_first_escalation["consulted"]
    assert durham(Role.QRT_BUSINESS_MANAGER) in after_first_escalation["copied_in"]
    # Stage 2 passing unresolved: the DSCP Business Manager is told that it will come to them.
    assert durham(Role.BUSINESS_MANAGER) in steps[3].told["coming_to_you"]
    final = await d.outbox.for_challenge(decision.challenge.id)
    # The Business Manager takes it to the Executive (5.4), who is told; the IRO is told of the stage change.
    at_stage_5 = {item.notification.recipient.person_id for item in final if item.notification.stage == 5}
    assert {durham(Role.EXECUTIVE), durham(Role.RAISER)} <= at_stage_5
    escalations = [e for e in await d.service.events(decision.challenge.id) if e.kind == "escalated"]
    assert escalations[-1].actor_id == durham(Role.BUSINESS_MANAGER)
    challenge = await d.service.repository.get(decision.challenge.id)
    assert challenge is not None and challenge.stage == 5
    events = [e.kind for e in await d.service.events(challenge.id)]
    assert events.count("deadline_passed") == 4 and events.count("reminder_sent") == 4
    # Nothing in any email names the child.
    for _, message in smtp_server.messages:
        body = message.get_payload(decode=True)
        assert isinstance(body, bytes)
        assert b"Jordan" not in body and b"Testchild" not in body and b"INV-0001" not in body
        assert "Jordan" not in str(message["Subject"])


async def test_durham_deadlines_skip_the_august_bank_holiday_weekend(
    delivery_factory: Callable[..., Delivery], smtp_server: SmtpServer, clock: object
) -> None:
    d = delivery_factory(mailer=Mailer(smtp_server.settings()))
    d.clock.now = datetime(2026, 8, 28, 9, 0, tzinfo=UTC)  # Friday before the Summer bank holiday (31 Aug)
    decision = await d.service.raise_challenge(durham(Role.RAISER), "durham", raise_request("durham"))
    await d.notifier.drain()
    steps = await walk(d, decision.challenge.id, steps=2)

    # British Summer Time: 17:00 in London is 16:00 UTC.
    assert [s.at for s in steps] == [london("2026-08-28", 16), london("2026-09-01", 16)]
    assert "reminder" in steps[0].told and "escalation_decision_needed" in steps[1].told


async def test_rochdale_across_christmas_asks_the_raiser_and_tells_the_next_contacts(
    delivery_factory: Callable[..., Delivery], smtp_server: SmtpServer
) -> None:
    d = delivery_factory(mailer=Mailer(smtp_server.settings()))
    d.clock.now = datetime(2026, 12, 14, 10, 0, tzinfo=UTC)
    decision = await d.service.raise_challenge(rochdale(Role.RAISER), "rochdale", raise_request("rochdale"))
    await d.notifier.drain()
    steps = await walk(d, decision.challenge.id, steps=16, raiser_escalates=True)

    instants = [s.at for s in steps]
    # 10 working days from 14 Dec skip Christmas Day (Fri) and the Boxing Day substitute (Mon 28th).
    assert instants[:2] == [london("2026-12-29"), london("2026-12-30")]
    # Stage 2 starts on 30 Dec; 10 working days skip New Year's Day.
    assert instants[2:4] == [london("2027-01-13"), london("2027-01-14")]
    breach = steps[1].told
    assert breach["escalation_decision_needed"] == {rochdale(Role.RAISER)}
    assert rochdale(Role.CHALLENGED_LINE_MANAGER) in breach["coming_to_you"]
    assert rochdale(Role.CHALLENGED_PROFESSIONAL) in breach["deadline_passed"]
    for step in steps:
        assert step.at.date() not in {
            datetime(2026, 12, 25).date(),
            datetime(2026, 12, 28).date(),
            datetime(2027, 1, 1).date(),
        }
        assert step.at.weekday() < 5
    challenge = await d.service.repository.get(decision.challenge.id)
    assert challenge is not None and challenge.stage == 4  # Rochdale's final stage
    # The partnership admin is copied in from stage 3 (by email: a mailbox-like unit account).
    stage_three_told = [who for _, message in smtp_server.messages for who in [str(message["To"])]]
    assert "admin@rochdale.example" in stage_three_told
    assert SYSTEM not in stage_three_told
