"""Fixtures of the end-to-end tests; the machinery is in playground_harness.py."""

from __future__ import annotations

from playground_harness import (
    bot as bot,
)
from playground_harness import (
    e2e_workdir as e2e_workdir,
)
from playground_harness import (
    open_browser as open_browser,
)
from playground_harness import (
    playground as playground,
)
from playground_harness import (
    pytest_collection_modifyitems as pytest_collection_modifyitems,
)
