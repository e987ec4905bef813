"""The dashboard as served: headers that let Teams frame it and nothing else run in it, the figures only for
the partnership's post holders (their own partnerships), JSON errors, and local mode for this computer only."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer, make_mocked_request

from bot.config import Settings
from bot.dashboard import add_dashboard, plotly_js
from bot.dashboard.auth import TabTokens
from bot.signing_keys import SigningKeyCache
from bot.wiring import Runtime, build_runtime
from dialogs.monitoring import Monitoring
from process.directory_file import DEMO_DIRECTORY
from storage.monitoring import MonitoringStore
from tests.bot.test_dashboard_auth import APP_ID, PUBLISHED, TENANT, jwk, token
from tests.teams.conftest import NOW

PATTI = "00000000-0000-0000-0000-0000000000024"  # business manager of both partnerships
CARLA = "00000000-0000-0000-0000-0000000000029"  # Rochdale's head of safeguarding
ALEX = "00000000-0000-0000-0000-0000000000020"  # a social worker: no partnership post


async def _runtime(tmp_path: Path, **settings: Any) -> tuple[Runtime, Settings]:
    config = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}", directory_file=DEMO_DIRECTORY, **settings
    )
    runtime = await build_runtime(config)
    runtime.service.clock = lambda: NOW
    return runtime, config


@pytest.fixture
async def local(tmp_path: Path) -> AsyncIterator[tuple[TestClient, web.Application]]:
    runtime, settings = await _runtime(tmp_path)
    app = web.Application()
    add_dashboard(app, settings, Monitoring(runtime.service, MonitoringStore(runtime.database)))
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        yield client, app
    await runtime.database.dispose()


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[TestClient]:
    runtime, settings = await _runtime(tmp_path, app_id=APP_ID, app_password="secret", app_tenant_id=TENANT)
    app = web.Application()

    async def fetch() -> list[dict[str, Any]]:
        return [jwk(PUBLISHED, "k1")]

    tokens = TabTokens(APP_ID, TENANT, SigningKeyCache(fetch))
    add_dashboard(app, settings, Monitoring(runtime.service, MonitoringStore(runtime.database)), tokens)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        yield client
    await runtime.database.dispose()


async def test_the_page_may_be_framed_by_teams_and_runs_only_its_own_scripts(local: Any) -> None:
    client, _ = local
    response = await client.get("/dashboard")
    assert response.status == 200 and "<h1>Professional challenge monitoring</h1>" in await response.text()
    policy = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "script-src 'self' https://res.cdn.office.net" in policy
    assert "frame-ancestors 'self' https://teams.microsoft.com https://*.teams.microsoft.com" in policy
    assert "unsafe-eval" not in policy and response.headers["X-Content-Type-Options"] == "nosniff"
    script = await client.get("/dashboard/static/dashboard.js")
    assert script.status == 200 and script.headers["Content-Type"].startswith("text/javascript")
    library = await client.get("/dashboard/plotly.min.js")
    assert library.status == 200 and library.headers["Content-Type"].startswith("text/javascript")
    assert len(await library.read()) == plotly_js().stat().st_size
    for name in ("index.html", "..%2F__init__.py", "nothing.js"):
        missing = await client.get(f"/dashboard/static/{name}")
        assert missing.status == 404 and (await missing.json())["error"]


async def test_local_mode_shows_every_partnership_to_this_computer_only(local: Any) -> None:
    client, app = local
    body = await (await client.get("/dashboard/api/stats")).json()
    assert body["local"] is True and [p["id"] for p in body["partnerships"]] == ["durham", "rochdale"]
    assert body["stats"]["partnership"]["id"] == "durham" and body["stats"]["raised"] == 0
    rochdale = await (await client.get("/dashboard/api/stats?partnership=rochdale&period=3m")).json()
    assert rochdale["stats"]["partnership"]["id"] == "rochdale"
    for path in ("/dashboard", "/dashboard/api/stats"):
        transport = mock.Mock()
        transport.get_extra_info.return_value = ("192.0.2.7", 50000)
        request = make_mocked_request("GET", path, app=app, transport=transport)
        match = await app.router.resolve(request)
        request._match_info = match  # the handler reads nothing from it
        response = await match.handler(request)
        assert response.status == 403


async def test_without_a_valid_token_it_is_401_in_json(served: TestClient) -> None:
    for headers in ({}, {"Authorization": "Bearer nonsense"}, {"Authorization": "Bearer " + token(exp=1)}):
        response = await served.get("/dashboard/api/stats", headers=headers)
        assert response.status == 401 and response.headers["WWW-Authenticate"] == "Bearer"
        assert "sign in" in (await response.json())["error"]


async def test_only_partnership_post_holders_see_figures_of_their_own_partnerships(
    served: TestClient,
) -> None:
    def bearer(oid: str) -> dict[str, str]:
        return {"Authorization": "Bearer " + token(oid=oid)}

    for stranger in (ALEX, "99999999-0000-0000-0000-000000000099"):
        refused = await served.get("/dashboard/api/stats", headers=bearer(stranger))
        assert refused.status == 403 and "business unit" in (await refused.json())["error"]
    patti = await (
        await served.get("/dashboard/api/stats?partnership=rochdale", headers=bearer(PATTI))
    ).json()
    assert patti["local"] is False and [p["id"] for p in patti["partnerships"]] == ["durham", "rochdale"]
    assert patti["stats"]["partnership"]["id"] == "rochdale"
    carla = await (await served.get("/dashboard/api/stats?partnership=durham", headers=bearer(CARLA))).json()
    assert [p["id"] for p in carla["partnerships"]] == ["rochdale"]
    assert carla["stats"]["partnership"]["id"] == "rochdale"  # never Durham's figures
    for query in (
        "since=yesterday",
        "since=2026-05-01&until=2026-04-01",
        "period=forever",
        "since=%F0%9F%99%82",
    ):
        bad = await served.get(f"/dashboard/api/stats?{query}", headers=bearer(PATTI))
        assert bad.status == 400 and (await bad.json())["error"]
    page = await served.get("/dashboard")
    assert page.status == 200  # the page itself holds no figures; it asks with the token


async def test_while_the_keys_cannot_be_had_it_is_503_in_json(tmp_path: Path) -> None:
    runtime, settings = await _runtime(tmp_path, app_id=APP_ID, app_password="secret")

    async def down() -> list[dict[str, Any]]:
        raise OSError("the key endpoint is down")

    app = web.Application()
    tokens = TabTokens(APP_ID, None, SigningKeyCache(down))
    add_dashboard(app, settings, Monitoring(runtime.service, MonitoringStore(runtime.database)), tokens)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        response = await client.get("/dashboard/api/stats", headers={"Authorization": "Bearer " + token()})
        assert response.status == 503 and response.headers["Retry-After"] == "30"
        assert (await response.json())["error"]
    await runtime.database.dispose()


async def test_figures_that_cannot_be_had_are_503_in_json_not_a_500(
    local: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    client, _ = local

    async def unreachable(*_: Any) -> None:
        raise ConnectionRefusedError("the database is down")

    monkeypatch.setattr(Monitoring, "statistics", unreachable)
    response = await client.get("/dashboard/api/stats")
    assert response.status == 503 and response.headers["Retry-After"] == "30"
    assert "try again" in (await response.json())["error"]


async def test_the_served_application_serves_the_dashboard(tmp_path: Path) -> None:
    from bot.server import build_application

    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}", directory_file=DEMO_DIRECTORY
    )
    async with TestClient(TestServer(await build_application(settings), host="127.0.0.1")) as client:
        assert (await client.get("/dashboard")).status == 200
        body = await (await client.get("/dashboard/api/stats?period=3m")).json()
        assert body["local"] is True and body["stats"]["raised"] == 0
