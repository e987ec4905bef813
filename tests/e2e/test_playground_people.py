"""Any demo person's Teams: a Playground whose account is made from the directory (as `try.sh --as` makes it).

A Rochdale social worker opens her Playground window: the bot is installed for her, sends the welcome card,
and knows who she is (the raising form opens rather than "You are not in the directory"). She raises a
challenge under Rochdale's procedure against a class teacher, who is told in his own window. Every other
person's generated config file is accepted by the Playground itself, which checks it against its schema.
"""

from __future__ import annotations

import json
import re
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playground_harness import BotProcess, Browser, PlaygroundProcess, raise_step, running_playground

from bot.playground import accounts
from process.directory_file import load_directory_file

pytestmark = pytest.mark.e2e

WELCOME_HEADING = "Professional challenge and escalation"
NOT_IN_DIRECTORY = "You are not in the directory"
ROCHDALE_PROCEDURE = "Rochdale Borough Safeguarding Children Partnership: Professional Challenge and Effective Resolution Process"
REFERENCE = re.compile(r"\bRBS-\d{4}-\d{4}\b")
#: The steps of the story done so far; a later step skips, naming the step, when one failed.
STORY: set[str] = set()


@pytest.fixture(scope="module")
def ruth_playground(bot: BotProcess, e2e_workdir: Path) -> Iterator[PlaygroundProcess]:
    """Ruth Okafor's Teams: a social worker in Rochdale's Children's Social Care."""
    yield from running_playground(bot, e2e_workdir, "ruth")


@pytest.fixture(scope="module")
def omar_playground(bot: BotProcess, e2e_workdir: Path) -> Iterator[PlaygroundProcess]:
    """Omar Aziz's Teams: a class teacher at Moorfield Primary School, in Rochdale."""
    yield from running_playground(bot, e2e_workdir, "omar")


@pytest.fixture(scope="module")
def ruth(ruth_playground: PlaygroundProcess, open_browser: Callable[[str], Browser]) -> Browser:
    browser = open_browser("ruth")
    browser.open(ruth_playground.url)
    return browser


def assert_bot_log_clean(bot: BotProcess) -> None:
    log = bot.log()
    assert "Traceback" not in log and " ERROR " not in log, log[-3000:]


def test_a_rochdale_social_worker_opens_her_teams_and_gets_the_welcome_card(
    bot: BotProcess, ruth_playground: PlaygroundProcess, ruth: Browser
) -> None:
    me = ruth_playground.current_user()
    assert me["name"] == "Ruth Okafor"
    assert me["aadObjectId"] == load_directory_file().people["ruth"].aad_object_id
    ruth.wait_text(WELCOME_HEADING, timeout_s=20)
    welcome = next(c for c in ruth.cards() if WELCOME_HEADING in c)
    assert "Rochdale" in welcome
    ruth.screenshot("08-rochdale-ruth-welcome")
    ruth.send("raise")
    ruth.wait_text("Raise a challenge: The procedure")
    assert not any(NOT_IN_DIRECTORY in m for m in ruth.messages())
    ruth.screenshot("08-rochdale-ruth-raise")
    failed = [e for e in ruth.log() if e["status"] >= 400]
    assert failed == [], failed
    assert_bot_log_clean(bot)
    STORY.add("ruth")


def test_ruth_raises_under_rochdales_procedure_and_the_teacher_is_told_in_his_own_teams(
    bot: BotProcess, ruth: Browser, omar_playground: PlaygroundProcess, open_browser: Callable[[str], Browser]
) -> None:
    if "ruth" not in STORY:
        pytest.skip("builds on Ruth's window, which did not open in this run")
    omar = open_browser("omar")
    omar.open(omar_playground.url)
    omar.wait_text(WELCOME_HEADING, timeout_s=20)
    omar_before = len(omar.messages())

    raise_step(ruth, "The procedure", {"Procedure": ROCHDALE_PROCEDURE}, "09-rochdale-raise-1-procedure")
    raise_step(
        ruth,
        "The child",
        {
            "Name of Child/Young Person": "Example",
            "D.O.B": "2019-03-14",
            "Agency Reference Number": "INV-0042",
        },
        "09-rochdale-raise-2-child",
    )
    raise_step(
        ruth,
        "Who you are challenging",
        {
            "The agency you are challenging": "Moorfield Primary School",
            "The professional you are challenging": "Omar Aziz — Class Teacher, Moorfield Primary School",
        },
        "09-rochdale-raise-3-challenged",
    )
    raise_step(
        ruth,
        "The issue",
        {
            "Identified issue": "Safeguarding arrangements and procedures not being appropriately applied",
            "Summary of Challenge": "A disclosure in class was not passed to the designated safeguarding lead.",
            "Detail desired outcome and resolution, required from this professional challenge": (
                "The disclosure referred today, and the school's procedure followed from now on."
            ),
        },
        "09-rochdale-raise-4-issue",
    )
    raise_step(ruth, "Urgency", {}, "09-rochdale-raise-5-urgency", button="Review")
    ruth.wait_text("Confirm and raise")
    ruth.click("Confirm and raise")
    deadline = time.monotonic() + 20
    while not any(REFERENCE.search(m) for m in ruth.messages()):
        assert time.monotonic() < deadline, ruth.messages()
        time.sleep(0.3)
    reference = next(m for m in (REFERENCE.search(t) for t in ruth.messages()) if m).group(0)
    ruth.screenshot("09-rochdale-ruth-raised")

    told = omar.wait_for_more_messages(omar_before)[omar_before:]
    assert any(reference in m for m in told), told
    assert not any("Example" in m for m in told), "the child's name stays in the challenge's own card"
    omar.screenshot("09-rochdale-omar-told")
    for window in (ruth, omar):
        failed = [e for e in window.log() if e["status"] >= 400]
        assert all(f"{e['type']} {e['status']}" == "message 500" for e in failed), (window.name, failed)
    assert_bot_log_clean(bot)


def test_the_playground_accepts_every_demo_persons_account(bot: BotProcess, e2e_workdir: Path) -> None:
    everyone = accounts(load_directory_file())
    assert len(everyone) == len(load_directory_file().people)
    for account in everyone:
        process = PlaygroundProcess(
            workdir=e2e_workdir / f"accounts-{account.id}", endpoint=bot.endpoint, person=account.id
        )
        try:
            process.start()  # a config file it refuses makes it exit at once: start() raises
            with urllib.request.urlopen(f"{process.url}/_internal/v1/config", timeout=5) as response:
                config = json.load(response)["config"]
            assert config["currentUser"]["aadObjectId"] == account.person.aad_object_id
            assert config["currentUser"]["name"] == account.person.name
            assert len(config["users"]) == 5
        finally:
            process.stop()
