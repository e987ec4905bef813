"""The package itself offers what a caller needs to load a partnership's policy."""

from __future__ import annotations

import subprocess
import sys

import pytest

import process
import process.policy


def test_load_policy_policy_and_policy_error_come_from_the_package() -> None:
    from process import Policy, PolicyError, load_policy

    assert (Policy, PolicyError, load_policy) == (
        process.policy.Policy,
        process.policy.PolicyError,
        process.policy.load_policy,
    )
    assert isinstance(load_policy("durham"), Policy)
    with pytest.raises(PolicyError):
        load_policy("atlantis")
    assert sorted(process.__all__) == ["Policy", "PolicyError", "load_policy"]


def test_importing_the_package_alone_works_in_a_fresh_interpreter() -> None:
    code = "from process import load_policy; print(load_policy('rochdale').id)"

    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "rochdale"
