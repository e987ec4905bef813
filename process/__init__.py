"""A partnership's professional challenge procedure: its policy, calendar, directory and engine."""

from process.policy import Policy, PolicyError, load_policy

__all__ = ["Policy", "PolicyError", "load_policy"]
