"""`scripts/try.sh`, the README's one command: it starts the bot and the Playgrounds, prints where to go,
and Ctrl-C stops everything it started."""

from __future__ import annotations

import json
import os
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


def test_try_script_starts_bot_and_playgrounds_and_ctrl_c_stops_them(tmp_path: Path) -> None:
    bot_port, playground_port = free_port(), free_port()
    output = tmp_path / "try.out"
    env = {
        **os.environ,
        "PORT": str(bot_port),
        "PLAYGROUND_PORT": str(playground_port),
        "DATABASE_URL": "sqlite+aiosqlite:///" + str(tmp_path / "try.db"),
        "TRY_RUN_DIR": str(tmp_path / "run"),
    }
    with output.open("wb") as out:
        process = subprocess.Popen(
            ["bash", "scripts/try.sh", "--no-install", "--with-megan"],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            # A terminal's shell does not ignore SIGINT; a test runner's children may, so undo that.
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
    try:
        seen = _wait_for_line(output, "Press Ctrl-C to stop.", process, timeout_s=60)
        alex_url = f"http://localhost:{playground_port}"
        assert f"Open {alex_url} in a browser: you are Alex Wilber" in seen
        megan_url = next(
            word
            for line in seen.splitlines()
            if "Megan Bowen" in line
            for word in line.split()
            if word.startswith("http://localhost:")
        )
        with urllib.request.urlopen(f"http://127.0.0.1:{bot_port}/readyz", timeout=5) as response:
            assert response.status == 200
        assert _current_user(alex_url) == "Alex Wilber"
        assert _current_user(megan_url) == "Megan Bowen"

        started = time.monotonic()
        os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
        assert process.wait(timeout=20) == 130
        assert time.monotonic() - started < 10
        assert not _listening(bot_port)
        assert not _listening(playground_port)
        assert not _listening(int(megan_url.rsplit(":", 1)[1]))
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
