"""The data encryption key of the test suite: an invented key, used by every test process and by the commands
tests start (they inherit the environment). It is set only when the environment has none, so a test of the
refusal to start without a key passes its own environment explicitly."""

from __future__ import annotations

import os

from storage.crypto import KEY_ENV

#: base64 of 32 bytes, invented for the tests (never a deployment's key).
TEST_DATA_KEY = "dGVzdC1vbmx5IGtleSBvZiB0aGUgdGVzdCBzdWl0ZSE="


def use_test_key() -> None:
    os.environ.setdefault(KEY_ENV, TEST_DATA_KEY)
