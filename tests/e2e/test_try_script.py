"""`scripts/try.sh`, the README's one command: it starts the bot and a Playground per person, prints who is
who and the tick command (which works from any folder), and Ctrl-C stops everything it started."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from playground_harness import REPO, free_port

pytestmark = pytest.mark.e2e


def _wait_for_line(output: Path, text: str, process: subprocess.Popen[bytes], timeout_s: float) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        seen = output.read_text(errors="replace")
        if text in seen:
            return seen
        if process.poll() is not None:
            raise AssertionError(f"try.sh exited with {process.returncode}:\n{seen}")
        time.sleep(0.2)
    raise AssertionError(f"try.sh never printed {text!r}:\n{output.read_text(errors='replace')}")


def _current_user(url: str) -> str:
    with urllib.request.urlopen(f"{url}/_internal/v1/config", timeout=5) as response:
        return str(json.load(response)["config"]["currentUser"]["name"])


def _listening(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1):
            return True
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False


def _windows(output: str) -> dict[str, str]:
    """Who is who, as try.sh prints it: the person's name for each address."""
    found = re.findall(r"Open (http://localhost:\d+) in a browser: you are ([^(]+) \(", output)
    return {url: name.strip() for url, name in found}


def test_try_script_starts_bot_and_playgrounds_and_ctrl_c_stops_them(tmp_path: Path) -> None:
    bot_port, playground_port = free_port(), free_port()
    output = tmp_path / "try.out"
    env = {
        **os.environ,
        "PORT": str(bot_port),
        "PLAYGROUND_PORT": str(playground_port),
        "MAIL_PORT": str(free_port()),
        "DATABASE_URL": "sqlite+aiosqlite:///" + str(tmp_path / "try.db"),
        "TRY_RUN_DIR": str(tmp_path / "run"),
    }
    with output.open("wb") as out:
        process = subprocess.Popen(
            ["bash", "scripts/try.sh", "--no-install", "--as", "ruth", "--with-megan"],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            # A terminal's shell does not ignore SIGINT; a test runner's children may, so undo that.
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
    try:
        seen = _wait_for_line(output, "Press Ctrl-C to stop.", process, timeout_s=90)
        windows = _windows(seen)
        # One window per person, in the order asked, the first on PLAYGROUND_PORT.
        assert list(windows.values()) == ["Ruth Okafor", "Alex Wilber", "Megan Bowen"], seen
        assert next(iter(windows)) == f"http://localhost:{playground_port}"
        assert "Social Worker, Children's Social Care (Rochdale)" in seen
        with urllib.request.urlopen(f"http://127.0.0.1:{bot_port}/readyz", timeout=5) as response:
            assert response.status == 200
        for url, name in windows.items():
            assert _current_user(url) == name

        # The printed tick command, run from another folder, works on the trial's database and clock.
        command = next(line.strip() for line in seen.splitlines() if "challenge-bot tick --advance" in line)
        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir()
        ticked = subprocess.run(
            ["bash", "-c", command], cwd=elsewhere, capture_output=True, text=True, timeout=60, check=False
        )
        assert ticked.returncode == 0, (command, ticked.stderr)
        assert ticked.stdout.startswith("reminders=0 deadlines=0"), ticked.stdout
        assert list(elsewhere.iterdir()) == []
        clock = json.loads((tmp_path / "run" / "clock.json").read_text())
        assert clock["offset_seconds"] == 86400

        started = time.monotonic()
        os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
        assert process.wait(timeout=20) == 130
        assert time.monotonic() - started < 10
        assert not _listening(bot_port)
        for url in windows:
            assert not _listening(int(url.rsplit(":", 1)[1]))
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
