"""PostgreSQL stopped and started again under load (a fast shutdown, then an immediate one, as a crash): the
bot reconnects by itself, says it is not ready while the database is away, answers what arrives meanwhile
with an apology or a 503 (never a 500), and loses nothing it acknowledged.

The database is a private cluster made for the test (`tests.resilience.cluster`), never the machine's shared
server. Skipped with the reason where PostgreSQL's programs are not installed, except under CI=true.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.resilience.cluster import PrivateCluster, postgres_outages
from tests.support.database import skip_unless_ci


@pytest.fixture
def cluster() -> Iterator[PrivateCluster]:
    problem = PrivateCluster.missing()
    if problem is not None:
        skip_unless_ci(f"no private PostgreSQL cluster can be made: {problem}")
    # Not under pytest's temporary folder: its parents are private to root, and the server runs as postgres.
    made = PrivateCluster(Path(tempfile.mkdtemp(prefix="challenge-bot-pg-")))
    try:
        made.init()
        made.start()
        yield made
    finally:
        with contextlib.suppress(RuntimeError):  # not running
            made.stop("immediate")
        shutil.rmtree(made.root, ignore_errors=True)


@pytest.mark.postgres
async def test_the_bot_rides_out_postgres_restarts_and_loses_nothing_acknowledged(
    cluster: PrivateCluster, tmp_path: Path
) -> None:
    figures = await postgres_outages(cluster, tmp_path / "run", modes=("fast", "immediate"), seed=7)
    print(figures.summary())
    verdict = figures.verdict
    assert verdict is not None
    for outage in figures.outages:
        # Not ready while the database is away, and every turn meanwhile answered with an apology or a 503.
        assert set(outage.readyz_down) == {503} and outage.readyz_bodies == {"not ready"}, outage.summary()
        assert outage.turns_down and set(outage.turns_down) <= {"apology", "503"}, outage.summary()
    assert not [status for status in figures.load.statuses if status >= 500 and status != 503], (
        figures.summary()
    )
    assert figures.load.acknowledged > 0
    assert figures.acknowledged_lost == []
    assert verdict.undelivered == [] and verdict.lost == {} and verdict.duplicated == {}, figures.summary()
    # The process lived: a message sent while the database was away was recorded when it came back, so no
    # notification went twice (`Notifier._record_delivery`).
    assert verdict.window_repeats == 0, figures.summary()
    assert figures.audit_status == 0, figures.audit_output
