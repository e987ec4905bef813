"""The end-to-end harness: the real bot, the Microsoft 365 Agents Playground and headless Chromium.

(Kept out of conftest.py so the tests can import its classes by a name no other test folder uses.)

Each test module gets a bot process on a fresh SQLite file and a free port, and Playgrounds pointed at it;
`open_browser` starts a `playground_driver.js` process that the test steers one step at a time. Screenshots
go to `test-artifacts/e2e/`. Every process is stopped when the fixture ends, whether the test passed or not.

Without Chromium the tests are skipped, except under `CI=true` where a missing browser is a failure
(scripts/install.sh installs it when `CI=true` or `E2E=1`).
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Sink

from bot.playground import accounts, choose, write_config
from process.directory_file import load_directory_file
from tests.support.database import in_ci

REPO = Path(__file__).resolve().parents[2]
E2E_DIR = Path(__file__).resolve().parent
NODE_DIR = REPO / "tests" / "node"
PLAYGROUND_CLI = NODE_DIR / "node_modules" / "@microsoft" / "m365agentsplayground" / "cli.js"
DRIVER = E2E_DIR / "playground_driver.js"
ARTIFACTS = REPO / "test-artifacts" / "e2e"
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
START_TIMEOUT_S = 40.0
STEP_TIMEOUT_S = 60.0


def _missing_tools() -> list[str]:
    missing = []
    if not Path(CHROMIUM).exists():
        missing.append(f"Chromium at {CHROMIUM} (Debian package `chromium`; `E2E=1 scripts/install.sh`)")
    if shutil.which("node") is None:
        missing.append("Node.js")
    if not PLAYGROUND_CLI.exists() or not (NODE_DIR / "node_modules" / "playwright-core").is_dir():
        missing.append("the npm packages in tests/node (`npm ci --prefix tests/node`)")
    return missing


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip the e2e tests with the reason when the browser or Node tools are absent, except in CI."""
    missing = _missing_tools()
    if not missing or in_ci():
        return
    skip = pytest.mark.skip(reason="end-to-end tests need " + "; ".join(missing))
    for item in items:
        if "e2e" in item.keywords:
            item.add_marker(skip)


def free_port() -> int:
    """A TCP port nobody on loopback is listening on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _stop(process: subprocess.Popen[Any], timeout: float = 8.0) -> None:
    """Stop a process started in its own session (and its children), politely first."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=timeout)


def _get(url: str, timeout: float = 2.0) -> int:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as err:
        return int(err.code)
    except OSError:
        return 0


def _wait_until(check: Any, what: str, process: subprocess.Popen[Any], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        if check():
            return
        time.sleep(0.2)
    raise RuntimeError(f"{what} not ready after {START_TIMEOUT_S:.0f}s:\n{log.read_text()[-3000:]}")


@dataclass
class BotProcess:
    """The bot under test: `python -m bot` in local mode on its own SQLite file, with a trial's shared clock,
    sending mail to a mail server on loopback that accepts and drops everything (as `scripts/try.sh` gives
    the trial one), so mailboxes are told as in a real deployment."""

    workdir: Path
    port: int = field(default_factory=free_port)
    mail_port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    mail: Controller | None = None

    @property
    def database_url(self) -> str:
        return "sqlite+aiosqlite:///" + str(self.workdir / "challenge-bot.db")

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/messages"

    @property
    def log_file(self) -> Path:
        return self.workdir / "bot.log"

    @property
    def clock_file(self) -> Path:
        """The trial's clock, shared by the bot and `tick` as in `scripts/try.sh`."""
        return self.workdir / "clock.json"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("Microsoft")}
        env.update(
            PORT=str(self.port),
            DATABASE_URL=self.database_url,
            TRIAL_CLOCK_FILE=str(self.clock_file),
            PYTHONUNBUFFERED="1",
            SMTP_HOST="127.0.0.1",
            SMTP_PORT=str(self.mail_port),
            SMTP_STARTTLS="false",
            SMTP_FROM="challenge-bot@localhost",
        )
        return env

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.mail = Controller(Sink(), hostname="127.0.0.1", port=self.mail_port)
        self.mail.start()
        with self.log_file.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "bot"],
                cwd=REPO,
                env=self.env(),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        ready = f"http://127.0.0.1:{self.port}/readyz"
        _wait_until(lambda: _get(ready) == 200, "the bot", self.process, self.log_file)

    def tick(self, now: str) -> subprocess.CompletedProcess[str]:
        """One deadline pass at the instant `now` (ISO 8601) against this bot's database; the bot's clock moves
        there too."""
        return subprocess.run(
            [sys.executable, "-m", "bot", "tick", "--now", now],
            cwd=REPO,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=STEP_TIMEOUT_S,
            check=False,
        )

    def log(self) -> str:
        return self.log_file.read_text(errors="replace") if self.log_file.exists() else ""

    def stop(self) -> None:
        if self.process is not None:
            _stop(self.process)
        if self.mail is not None:
            self.mail.stop()
            self.mail = None


@dataclass
class PlaygroundProcess:
    """One Agents Playground: one person's Teams, pointed at the bot, on a free port.

    `person` (a demo directory id such as `ruth`) makes that person the current user, with the config file
    `scripts/try.sh --as` writes; without it the Playground's defaults make Alex Wilber the current user.
    """

    workdir: Path
    endpoint: str
    person: str | None = None
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://localhost:{self.port}"

    @property
    def log_file(self) -> Path:
        return self.workdir / "playground.out"

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        if self.person is not None:
            everyone = accounts(load_directory_file())
            write_config(choose(everyone, [self.person])[0], everyone, self.workdir)
        env = dict(os.environ)
        env.update(
            TEAMSAPPTESTER_BROWSER="none",
            M365_AGENTS_PLAYGROUND_LOGFILE=str(self.workdir / "m365agentsplayground.log"),
        )
        command = ["node", str(PLAYGROUND_CLI), "start", "-e", self.endpoint, "-c", "msteams", "--dt"]
        command += ["-p", str(self.port)]
        with self.log_file.open("wb") as log:
            self.process = subprocess.Popen(
                command,
                cwd=self.workdir,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        config = f"{self.url}/_internal/v1/config"
        _wait_until(lambda: _get(config) == 200, "the Playground", self.process, self.log_file)

    def current_user(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.url}/_internal/v1/config", timeout=5) as response:
            return dict(json.load(response)["config"]["currentUser"])

    def stop(self) -> None:
        if self.process is not None:
            _stop(self.process)


class DriverError(AssertionError):
    """A browser step failed: the message carries the driver's error and a screenshot's path."""


class Browser:
    """One headless Chromium on one Playground page, steered a step at a time by `playground_driver.js`."""

    def __init__(self, name: str, profile: Path) -> None:
        self.name = name
        self._stderr: IO[bytes] = tempfile.TemporaryFile()
        self._process = subprocess.Popen(
            ["node", str(DRIVER), str(profile)],
            cwd=E2E_DIR,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            start_new_session=True,
            env={**os.environ, "CHROMIUM_PATH": CHROMIUM},
        )
        self._next = 0
        self.closed: dict[str, Any] | None = None

    def call(self, cmd: str, **args: Any) -> dict[str, Any]:
        """Run one driver command and return its answer; a failed step raises with a screenshot saved."""
        answer = self._ask(cmd, **args)
        if not answer.get("ok"):
            shot = ARTIFACTS / f"FAILED-{self.name}-{cmd}-{self._next}.png"
            if cmd not in ("screenshot", "close"):
                with contextlib.suppress(DriverError):
                    self._ask("screenshot", file=str(shot))
            raise DriverError(f"{self.name}: {cmd} {args} failed: {answer.get('error')} (see {shot.name})")
        return answer

    def _ask(self, cmd: str, **args: Any) -> dict[str, Any]:
        assert self._process.stdin is not None and self._process.stdout is not None
        self._next += 1
        request_id = self._next
        try:
            self._process.stdin.write(json.dumps({"id": request_id, "cmd": cmd, **args}) + "\n")
            self._process.stdin.flush()
        except BrokenPipeError as err:
            raise DriverError(f"{self.name}: the browser driver has exited: {self._stderr_text()}") from err
        deadline = time.monotonic() + STEP_TIMEOUT_S + float(args.get("timeoutMs", 0)) / 1000
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self._process.stdout], [], [], 0.5)
            if not ready:
                if self._process.poll() is not None:
                    raise DriverError(f"{self.name}: the browser driver exited: {self._stderr_text()}")
                continue
            line = self._process.stdout.readline()
            if not line:
                raise DriverError(f"{self.name}: the browser driver closed its output: {self._stderr_text()}")
            answer: dict[str, Any] = json.loads(line)
            if answer.get("id") == request_id:
                return answer
        raise DriverError(f"{self.name}: no answer to {cmd} within {STEP_TIMEOUT_S:.0f}s")

    def _stderr_text(self) -> str:
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace")[-2000:]

    # ----- the steps a test uses --------------------------------------------------------------------------

    def open(self, url: str) -> None:
        self.call("open", url=url)

    def send(self, text: str) -> None:
        self.call("send", text=text)

    def wait_text(self, text: str, timeout_s: float = 15) -> int:
        return int(self.call("waitText", text=text, timeoutMs=int(timeout_s * 1000))["count"])

    def fill(self, button: str, fields: dict[str, str | bool], within: str | None = None) -> None:
        self.call("fill", button=button, fields=fields, within=within)

    def click(self, button: str, within: str | None = None) -> None:
        self.call("click", button=button, within=within)

    def cards(self) -> list[str]:
        return list(self.call("cards")["cards"])

    def messages(self) -> list[str]:
        """The text of every message and card in the open chat, oldest first."""
        return list(self.call("messages")["messages"])

    def wait_for_more_messages(self, than: int, timeout_s: float = 20) -> list[str]:
        """Wait until the chat holds more than `than` messages and cards (a new one arrived); return them."""
        deadline = time.monotonic() + timeout_s
        while True:
            items = self.messages()
            if len(items) > than:
                return items
            if time.monotonic() > deadline:
                raise DriverError(f"{self.name}: still {len(items)} messages after {timeout_s:.0f}s")
            time.sleep(0.3)

    def log(self) -> list[dict[str, Any]]:
        return list(self.call("log")["entries"])

    def wait_log(self, request_type: str, count: int = 1) -> list[dict[str, Any]]:
        return list(self.call("waitLog", type=request_type, count=count)["entries"])

    def log_detail(self, text: str) -> str:
        """The Log Panel's details of the newest entry reading `text`, such as "message 500"."""
        return str(self.call("logDetail", text=text)["text"])

    def screenshot(self, name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        self.call("screenshot", file=str(path))
        return path

    def close(self) -> None:
        if self._process.poll() is None:
            with contextlib.suppress(DriverError, OSError, ValueError):
                self.closed = self._ask("close")
            with contextlib.suppress(OSError, ValueError):
                assert self._process.stdin is not None
                self._process.stdin.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._process.wait(timeout=10)
        _stop(self._process)
        self._stderr.close()


@pytest.fixture(scope="module")
def e2e_workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("e2e")


@pytest.fixture(scope="module")
def bot(e2e_workdir: Path) -> Iterator[BotProcess]:
    """The real bot on a fresh database, for every test of one module."""
    process = BotProcess(workdir=e2e_workdir / "bot")
    try:
        process.start()
        yield process
    finally:
        process.stop()


def running_playground(
    bot: BotProcess, e2e_workdir: Path, person: str | None = None
) -> Iterator[PlaygroundProcess]:
    """A Playground for `person` (None: the Playground's defaults, Alex Wilber), stopped when done; for
    `yield from` in a fixture."""
    process = PlaygroundProcess(
        workdir=e2e_workdir / f"playground-{person or 'alex'}", endpoint=bot.endpoint, person=person
    )
    try:
        process.start()
        yield process
    finally:
        process.stop()


@pytest.fixture(scope="module")
def playground(bot: BotProcess, e2e_workdir: Path) -> Iterator[PlaygroundProcess]:
    """Alex Wilber's Teams: the Playground with its default people."""
    yield from running_playground(bot, e2e_workdir)


@pytest.fixture(scope="module")
def open_browser(e2e_workdir: Path) -> Iterator[Any]:
    """Start a named headless browser (fresh profile); all are closed when the module ends."""
    browsers: list[Browser] = []

    def start(name: str) -> Browser:
        browser = Browser(name, e2e_workdir / f"chromium-{name}")
        browsers.append(browser)
        return browser

    try:
        yield start
    finally:
        for browser in browsers:
            browser.close()


def raise_step(
    browser: Browser, step_title: str, fields: dict[str, str | bool], shot: str, button: str = "Next"
) -> None:
    """Fill one step of the raising form (the card whose heading names the step) and press its button
    (Next, or Review on the last step)."""
    heading = f"Raise a challenge: {step_title}"
    browser.wait_text(heading)
    if fields:
        browser.fill(button, fields, within=heading)
    browser.screenshot(shot)
    browser.click(button, within=heading)
