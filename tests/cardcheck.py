"""Checks Adaptive Cards with the official Adaptive Cards library, for every card test in the project.

The library runs in one long-lived Node process (`tests/node/validate_cards.js`) per test session, spoken to
in JSON lines, so checking hundreds of cards costs milliseconds each. It parses each card as Teams would
see it, schema 1.5 with Action.Execute, and any event it logs or any failure its validation reports is a
problem; an empty list means the card is clean.

    from tests.cardcheck import assert_valid_card

    def test_stage_2_card_is_a_valid_adaptive_card() -> None:
        assert_valid_card(stage_2_card(challenge))

Needs Node.js and `npm ci --prefix tests/node` (scripts/install.sh runs it).
"""

from __future__ import annotations

import atexit
import json
import select
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any

import pytest

NODE_DIR = Path(__file__).resolve().parent / "node"
SCRIPT = NODE_DIR / "validate_cards.js"
_REPLY_TIMEOUT_S = 60.0


class CardValidatorError(RuntimeError):
    """The validating Node process could not be started or stopped answering; the card was not judged."""


class CardValidator:
    """One Node process holding the Adaptive Cards library; `validate` sends it a card, reads the verdict."""

    def __init__(self, node: str | None = None) -> None:
        self._node = node or shutil.which("node")
        self._process: subprocess.Popen[str] | None = None
        self._stderr: IO[bytes] | None = None
        self._lock = threading.Lock()
        self._next_id = 0
        self.library_version = ""
        self.target_version = ""

    def _start(self) -> subprocess.Popen[str]:
        if self._node is None:
            raise CardValidatorError("Node.js is needed to check Adaptive Cards: install `node` and npm")
        if not (NODE_DIR / "node_modules" / "adaptivecards").is_dir():
            raise CardValidatorError(
                "the Adaptive Cards library is not installed: run `npm ci --prefix tests/node` "
                "(scripts/install.sh does this)"
            )
        self._stderr = tempfile.TemporaryFile()
        process = subprocess.Popen(
            [self._node, str(SCRIPT)],
            cwd=NODE_DIR,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            encoding="utf-8",
            bufsize=1,
        )
        self._process = process
        hello = self._read_line(process)
        self.library_version = str(hello.get("adaptivecards", ""))
        self.target_version = str(hello.get("targetVersion", ""))
        if hello.get("ready") is not True:
            raise CardValidatorError(f"the card validator did not start: {hello}")
        return process

    def _stderr_text(self) -> str:
        if self._stderr is None:
            return ""
        self._stderr.seek(0)
        return self._stderr.read().decode("utf-8", "replace")[-4000:]

    def _read_line(self, process: subprocess.Popen[str]) -> dict[str, Any]:
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], _REPLY_TIMEOUT_S)
        line = process.stdout.readline() if ready else ""
        if not line:
            self.close()
            raise CardValidatorError(
                f"the card validator stopped answering (exit code {process.poll()}):\n{self._stderr_text()}"
            )
        reply: dict[str, Any] = json.loads(line)
        return reply

    def validate(self, card: Mapping[str, Any]) -> list[str]:
        """The library's problems with `card`, one sentence each; empty when the card is clean."""
        with self._lock:
            process = self._process if self._process and self._process.poll() is None else self._start()
            self._next_id += 1
            request = json.dumps({"id": self._next_id, "card": card}, ensure_ascii=False)
            assert process.stdin is not None
            try:
                process.stdin.write(request + "\n")
                process.stdin.flush()
            except BrokenPipeError as error:
                self.close()
                raise CardValidatorError(f"the card validator has exited:\n{self._stderr_text()}") from error
            reply = self._read_line(process)
            expected_id = self._next_id
        if reply.get("id") != expected_id or not isinstance(reply.get("problems"), list):
            raise CardValidatorError(f"the card validator answered out of turn: {reply}")
        return [str(problem) for problem in reply["problems"]]

    def assert_valid(self, card: Mapping[str, Any]) -> None:
        """Fail with every problem and the card itself when the library finds anything wrong."""
        problems = self.validate(card)
        if problems:
            listed = "\n".join(f"  - {problem}" for problem in problems)
            shown = json.dumps(card, indent=2, ensure_ascii=False)
            if len(shown) > 6000:
                shown = shown[:6000] + "\n  ..."
            raise AssertionError(
                f"Adaptive Card has {len(problems)} problem(s) (adaptivecards {self.library_version}, "
                f"schema {self.target_version}):\n{listed}\ncard:\n{shown}"
            )

    def close(self) -> None:
        """Stop the Node process (it exits when its input closes); the next `validate` starts a new one."""
        process, self._process = self._process, None
        if process is not None:
            if process.stdin is not None and not process.stdin.closed:
                try:
                    process.stdin.close()
                except BrokenPipeError:
                    pass
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            if process.stdout is not None:
                process.stdout.close()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None


_shared = CardValidator()
atexit.register(_shared.close)


def validate_card(card: Mapping[str, Any]) -> list[str]:
    """The official library's problems with `card` (empty = clean), from the session's shared validator."""
    return _shared.validate(card)


def assert_valid_card(card: Mapping[str, Any]) -> None:
    """Fail the test, listing every problem, unless the official library finds `card` clean."""
    _shared.assert_valid(card)


@pytest.fixture(scope="session")
def card_validator() -> Iterator[CardValidator]:
    """The session's shared validator, for tests that prefer a fixture to the module functions."""
    yield _shared
