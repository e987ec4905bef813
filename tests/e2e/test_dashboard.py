"""The monitoring dashboard in headless Chromium: an empty partnership and one with a few hundred invented
challenges, at a wide and a narrow (Teams tab on a phone) width. The charts are drawn by plotly (its SVG is
there), every figure in the tables is the server's, nothing is fetched from off this machine, and no error
(a Content Security Policy violation included) is reported. Screenshots go to test-artifacts/e2e/."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from bot.config import Settings
from bot.dashboard import add_dashboard
from bot.wiring import build_runtime
from dialogs.monitoring import Monitoring
from process.directory import Agency
from process.monitoring import preset_period
from storage.directory import DirectoryStore
from storage.monitoring import MonitoringStore
from tests.support.monitoring_seed import seed_challenges
from tests.teams.conftest import NOW

pytestmark = pytest.mark.e2e

E2E_DIR = Path(__file__).resolve().parent
DRIVER = E2E_DIR / "dashboard_driver.js"
ARTIFACTS = E2E_DIR.parents[1] / "test-artifacts" / "e2e"
#: Invented agencies of the invented Durham directory, so the agency charts have something to show; one name
#: is markup, which must be shown as written.
AGENCIES = [
    ("inv_police", "Northshire Police Safeguarding Unit"),
    ("inv_school", "Ysgol Gymraeg Llanfair"),
    ("inv_gp", "Riverside GP Practice"),
    ("inv_mh", "Community Mental Health Team"),
    ("inv_yjs", "Youth Justice Service"),
    ("inv_housing", "Housing Options"),
    ("inv_markup", "<b>Early Help</b> & Family Hubs"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
async def dashboard(tmp_path: Path) -> AsyncIterator[tuple[str, Monitoring]]:
    from process.directory_file import DEMO_DIRECTORY

    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}", directory_file=DEMO_DIRECTORY
    )
    runtime = await build_runtime(settings)
    runtime.service.clock = lambda: NOW
    directory = await runtime.service.directory()
    extended = replace(
        directory,
        agencies={**directory.agencies, **{a: Agency(a, name, "durham") for a, name in AGENCIES}},
    )
    await DirectoryStore(runtime.database).replace_all(extended)
    await runtime.service.reload_directory()
    policy = runtime.service.policy("durham")
    await seed_challenges(
        runtime.database,
        policy,
        runtime.service.calendar("durham"),
        count=400,
        agencies=[a for a, _ in AGENCIES] + ["health_visiting"],
        raiser_agency="dcc_iro",
        first=NOW - timedelta(days=430),
        now=NOW,
    )
    monitoring = Monitoring(runtime.service, MonitoringStore(runtime.database))
    app = web.Application()
    add_dashboard(app, settings, monitoring)
    runner = web.AppRunner(app)
    await runner.setup()
    port = _free_port()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    yield f"http://127.0.0.1:{port}/dashboard", monitoring
    await runner.cleanup()
    await runtime.database.dispose()


async def _open(
    url: str, shot: str, width: int = 1280, token: str = "", refused: bool = False
) -> dict[str, Any]:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    process = await asyncio.create_subprocess_exec(
        "node",
        str(DRIVER),
        url,
        str(ARTIFACTS / shot),
        str(width),
        "900",
        token,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode == 0, err.decode()
    report: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    assert report["blocked"] == [], report
    if refused:  # the browser logs the refused request itself
        assert all("status of 40" in e for e in report["errors"]), report
    else:
        assert report["errors"] == [], report
    return report


def _rows(report: dict[str, Any], table: str) -> list[list[str]]:
    return report["tables"][table][1:]  # without the header row


async def test_a_partnership_with_hundreds_of_challenges(dashboard: tuple[str, Monitoring]) -> None:
    url, monitoring = dashboard
    report = await _open(url, "dashboard-durham.png")
    assert report["rendered"] == "true" and report["localMode"] is True
    assert report["title"] == "Durham Safeguarding Children Partnership"
    assert report["partnerships"] == ["durham", "rochdale"]
    assert report["headings"][0] == "H1 Professional challenge monitoring"
    stats = await monitoring.statistics("durham", preset_period("12m", NOW.date()))
    # The figures shown are the server's.
    assert report["tiles"]["Raised in the period"] == str(stats.raised) and stats.raised > 200
    assert report["tiles"]["Open"] == str(stats.open_total)
    assert report["tiles"]["Overdue"] == str(stats.overdue)
    assert report["tiles"]["Stage 3 and beyond"] == str(len(stats.serious))
    assert _rows(report, "table-agency") == [[c.label, str(c.count)] for c in stats.by_agency]
    assert ["<b>Early Help</b> & Family Hubs"] == [
        r[0] for r in _rows(report, "table-agency") if "Early" in r[0]
    ]
    assert _rows(report, "table-category") == [[c.label, str(c.count)] for c in stats.by_category]
    weeks = _rows(report, "table-trend")
    assert len(weeks) == len(stats.weeks)
    assert [w[-1] for w in weeks] == [str(w.overdue) for w in stats.weeks]
    assert [r[0] for r in _rows(report, "table-repeated")] == [r.agency for r in stats.repeated]
    assert [r[0] for r in _rows(report, "table-serious")] == [m.reference for m in stats.serious]
    # Every chart was drawn by plotly, with marks in it.
    for chart in ("chart-trend", "chart-stages", "chart-agency", "chart-category", "chart-repeated"):
        assert report["charts"][chart]["svg"] >= 1, chart
    assert report["charts"]["chart-trend"]["marks"] > 50
    assert not report["overflowX"]
    narrow = await _open(url, "dashboard-durham-narrow.png", width=480)
    assert narrow["rendered"] == "true" and not narrow["overflowX"]


async def test_an_empty_partnership(dashboard: tuple[str, Monitoring]) -> None:
    url, _ = dashboard
    report = await _open(url + "?partnership=rochdale", "dashboard-empty.png")
    assert report["rendered"] == "true"
    assert report["tiles"]["Raised in the period"] == "0" and report["tiles"]["Open"] == "0"
    assert report["tables"]["table-agency"] == [] or _rows(report, "table-agency") == []
    for chart in ("chart-trend", "chart-stages", "chart-agency"):
        assert report["charts"][chart]["svg"] >= 1, chart


@pytest.fixture
async def in_teams(tmp_path: Path) -> AsyncIterator[str]:
    """The dashboard as deployed (an app id): figures only for a valid tab token, checked against local keys."""
    from bot.dashboard.auth import TabTokens
    from bot.signing_keys import SigningKeyCache
    from process.directory_file import DEMO_DIRECTORY
    from tests.bot.test_dashboard_auth import APP_ID, PUBLISHED, TENANT, jwk

    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}",
        directory_file=DEMO_DIRECTORY,
        app_id=APP_ID,
        app_password="secret",
        app_tenant_id=TENANT,
    )
    runtime = await build_runtime(settings)
    runtime.service.clock = lambda: NOW

    async def keys() -> list[dict[str, Any]]:
        return [jwk(PUBLISHED, "k1")]

    app = web.Application()
    tokens = TabTokens(APP_ID, TENANT, SigningKeyCache(keys))
    add_dashboard(app, settings, Monitoring(runtime.service, MonitoringStore(runtime.database)), tokens)
    runner = web.AppRunner(app)
    await runner.setup()
    port = _free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield f"http://127.0.0.1:{port}/dashboard?inTeams=1"
    await runner.cleanup()
    await runtime.database.dispose()


async def test_in_teams_the_page_sends_the_tabs_token_and_the_server_decides(in_teams: str) -> None:
    from tests.bot.test_dashboard_auth import token

    carla = await _open(
        in_teams, "dashboard-teams.png", token=token(oid="00000000-0000-0000-0000-0000000000029")
    )
    assert carla["rendered"] == "true" and carla["localMode"] is False
    assert carla["title"] == "Rochdale Borough Safeguarding Children Partnership"
    assert carla["partnerships"] == ["rochdale"]
    alex = await _open(
        in_teams,
        "dashboard-teams-refused.png",
        token=token(oid="00000000-0000-0000-0000-0000000000020"),
        refused=True,
    )
    assert (
        alex["rendered"] == "error"
        and alex["status"] == "This dashboard is for the partnership's business unit."
    )
    assert alex["tiles"] == {} and alex["title"] == ""
    expired = await _open(in_teams, "dashboard-teams-expired.png", token=token(exp=1), refused=True)
    assert expired["rendered"] == "error" and "signed in with your work account" in expired["status"]
