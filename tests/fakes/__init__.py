"""Fakes at the edges of the bot (the Bot Connector, incoming activities) for tests and benchmarks."""

from tests.fakes.activities import make_activity, post_activity, serve
from tests.fakes.connector import FakeConnector, RecordedRequest

__all__ = ["FakeConnector", "RecordedRequest", "make_activity", "post_activity", "serve"]
