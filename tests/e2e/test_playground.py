"""What a professional sees in Teams, proved through the Microsoft 365 Agents Playground's own web page.

The bot runs as `python -m bot` on a fresh SQLite file; two Playgrounds stand for two people's Teams (Alex
Wilber, an Independent Reviewing Officer, and Megan Bowen, the health visitor he challenges); headless
Chromium clicks through them. The tests run in file order and share one story: install, help, raise, act,
and a deadline passing. Screenshots of each step are written to test-artifacts/e2e/.

The Playground does not emulate the manifest's command menu, the people picker, @mentions or single sign-on;
docs/PLAYGROUND.md says where those paths are covered instead.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playground_harness import E2E_DIR, BotProcess, Browser, PlaygroundProcess

pytestmark = pytest.mark.e2e

WELCOME_HEADING = "Professional challenge and escalation"
HELP_HEADING = "What I can do"
DURHAM_PROCEDURE = (
    "Durham Safeguarding Children Partnership: Multi-Agency Professional Challenge/Resolution Process "
    "(Compliance Challenge)"
)
REFERENCE = re.compile(r"\b[A-Z]{2,5}-\d{4}-\d{3,}\b")
TIMINGS: dict[str, float] = {}


@pytest.fixture(scope="module")
def megan_playground(bot: BotProcess, e2e_workdir: Path) -> Iterator[PlaygroundProcess]:
    """Megan Bowen's Teams: a second Playground whose current user is Megan."""
    process = PlaygroundProcess(
        workdir=e2e_workdir / "playground-megan",
        endpoint=bot.endpoint,
        config_file=E2E_DIR / "people" / "megan" / ".m365agentsplayground.yml",
    )
    try:
        process.start()
        yield process
    finally:
        process.stop()


@pytest.fixture(scope="module")
def alex(playground: PlaygroundProcess, open_browser: Callable[[str], Browser]) -> Browser:
    """Alex Wilber's Teams window, opened once: opening it installs the bot for him."""
    browser = open_browser("alex")
    browser.open(playground.url)
    return browser


@pytest.fixture(scope="module")
def megan(megan_playground: PlaygroundProcess, open_browser: Callable[[str], Browser]) -> Browser:
    """Megan Bowen's Teams window."""
    browser = open_browser("megan")
    browser.open(megan_playground.url)
    return browser


@pytest.fixture
def timed(request: pytest.FixtureRequest) -> Iterator[None]:
    """Records how long each scenario takes, for the summary at the end of the module."""
    start = time.monotonic()
    yield
    TIMINGS[request.node.name] = time.monotonic() - start


@pytest.fixture(scope="module", autouse=True)
def _report_timings(bot: BotProcess) -> Iterator[None]:
    yield
    if TIMINGS:
        print("\ne2e scenario timings: " + ", ".join(f"{k} {v:.1f}s" for k, v in TIMINGS.items()))


def failures(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Requests in the Log Panel that did not succeed."""
    return [e for e in entries if e["status"] >= 400]


def assert_bot_log_clean(bot: BotProcess) -> None:
    log = bot.log()
    assert "Traceback" not in log, log[-3000:]
    assert " ERROR " not in log, log[-3000:]


def test_welcome_card_appears_when_the_bot_is_installed(
    timed: None, bot: BotProcess, playground: PlaygroundProcess, alex: Browser
) -> None:
    alex.wait_text(WELCOME_HEADING, timeout_s=20)
    cards = alex.cards()
    welcome = next(c for c in cards if WELCOME_HEADING in c)
    assert "Durham" in welcome and "Rochdale" in welcome
    entries = alex.wait_log("conversationUpdate")
    assert {e["type"] for e in entries} >= {"installationUpdate", "conversationUpdate"}
    assert failures(entries) == []
    assert playground.current_user()["name"] == "Alex Wilber"
    alex.screenshot("01-welcome-card")
    assert_bot_log_clean(bot)


def test_help_lists_the_commands(timed: None, bot: BotProcess, alex: Browser) -> None:
    alex.send("help")
    alex.wait_text(HELP_HEADING)
    help_card = next(c for c in alex.cards() if HELP_HEADING in c)
    for command in ("raise", "my challenges", "show"):
        assert command in help_card.lower()
    assert failures(alex.log()) == []
    alex.screenshot("02-help")
    assert_bot_log_clean(bot)


def raise_step(browser: Browser, step_title: str, fields: dict[str, str | bool], shot: str) -> None:
    """Fill one step of the raising form (the card whose heading names the step) and press Next."""
    heading = f"Raise a challenge: {step_title}"
    browser.wait_text(heading)
    if fields:
        browser.fill("Next", fields, within=heading)
    browser.screenshot(shot)
    browser.click("Next", within=heading)


def test_raising_a_challenge_through_the_card_dialog(
    timed: None, bot: BotProcess, alex: Browser, megan: Browser
) -> None:
    megan.wait_text(WELCOME_HEADING, timeout_s=20)
    alex.send("raise")
    raise_step(alex, "The procedure", {"Procedure": DURHAM_PROCEDURE}, "03-raise-1-procedure")
    raise_step(alex, "The child", {"Family name": "Example"}, "03-raise-2-child")
    raise_step(
        alex,
        "Who you are challenging",
        {
            "The agency you are challenging": "Health Visiting Service",
            "The professional you are challenging": "Megan Bowen — Health Visitor, Health Visiting Service",
        },
        "03-raise-3-challenged",
    )
    raise_step(
        alex,
        "The issue",
        {
            "Identified issue": "Lack of report",
            "The IRO's concern": "No health visiting report was shared before the review.",
            "What we would like to see happening": "The report shared three working days before reviews.",
        },
        "03-raise-4-issue",
    )
    alex.wait_text("Confirm and raise")
    alex.screenshot("03-raise-5-review")
    alex.click("Confirm and raise")
    count = alex.wait_text("DUR-", timeout_s=20)
    assert count >= 1
    alex.screenshot("03-raise-6-raised")
    assert failures(alex.log()) == []
    assert_bot_log_clean(bot)


def test_the_challenged_professional_is_told_in_her_own_teams(
    timed: None, bot: BotProcess, alex: Browser, megan: Browser
) -> None:
    megan.wait_text("DUR-", timeout_s=30)
    megan.screenshot("04-megan-told")
    told = [c for c in megan.cards() if "DUR-" in c]
    assert told, megan.cards()
    assert failures(megan.log()) == []
    assert_bot_log_clean(bot)
