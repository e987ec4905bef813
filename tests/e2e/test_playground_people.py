"""Any demo person's Teams: a Playground whose account is made from the directory (as `try.sh --as` makes it).

A Rochdale social worker opens her Playground window: the bot is installed for her, sends the welcome card,
and knows who she is (the raising form opens rather than "You are not in the directory"). Every other
person's generated config file is accepted by the Playground itself, which checks it against its schema.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playground_harness import BotProcess, Browser, PlaygroundProcess

from bot.playground import accounts
from process.directory_file import load_directory_file

pytestmark = pytest.mark.e2e

WELCOME_HEADING = "Professional challenge and escalation"
NOT_IN_DIRECTORY = "You are not in the directory"


@pytest.fixture(scope="module")
def ruth_playground(bot: BotProcess, e2e_workdir: Path) -> Iterator[PlaygroundProcess]:
    process = PlaygroundProcess(workdir=e2e_workdir / "playground-ruth", endpoint=bot.endpoint, person="ruth")
    try:
        process.start()
        yield process
    finally:
        process.stop()


def test_a_rochdale_social_worker_opens_her_teams_and_gets_the_welcome_card(
    bot: BotProcess, ruth_playground: PlaygroundProcess, open_browser: Callable[[str], Browser]
) -> None:
    me = ruth_playground.current_user()
    assert me["name"] == "Ruth Okafor"
    assert me["aadObjectId"] == load_directory_file().people["ruth"].aad_object_id
    ruth = open_browser("ruth")
    ruth.open(ruth_playground.url)
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
    log = bot.log()
    assert "Traceback" not in log and " ERROR " not in log, log[-3000:]


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
