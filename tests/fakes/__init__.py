"""Fakes at the edges of the bot (the Bot Connector, incoming activities) for tests and benchmarks."""

from tests.fakes.activities import make_activity, post_activity, serve
from tests.fakes.connector import FakeConnector, RecordedRequest
from tests.fakes.rate_limits import RateLimits, drain_time

__all__ = [
    "FakeConnector",
    "RateLimits",
    "RecordedRequest",
    "drain_time",
    "make_activity",
    "post_activity",
    "serve",
]
