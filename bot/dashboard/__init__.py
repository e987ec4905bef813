"""The monitoring dashboard: a page, its own script and style, plotly.js, and one JSON endpoint.

- `GET /dashboard`: the page (`static/index.html`), with a strict Content Security Policy that lets Teams
  frame it; `GET /dashboard/static/<file>`: its script and style; `GET /dashboard/plotly.min.js`: the charting
  library, read from the `plotly` pip package's bundled file (the Python library is never imported).
- `GET /dashboard/api/stats?partnership=&period=&since=&until=`: the figures (`process.monitoring`) of one
  partnership the viewer may see, as JSON, with the list of those partnerships. 401 without a valid Teams tab
  token (`bot.dashboard.auth`), 403 for someone who holds no partnership post, 400 for a period that cannot
  be used, 503 while Microsoft's signing keys or the figures cannot be had; JSON error bodies, never a 500.

In local mode (no `MicrosoftAppId`) there is no token: the page says so and shows every partnership, to
loopback peers only (the server listens on loopback then anyway; anyone else is refused with 403).
"""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path
from typing import Any

from aiohttp import web

from bot.config import Settings
from bot.dashboard.auth import NotSignedIn, TabTokens, openid_keys
from bot.errors import AuthenticationUnavailable, describe_exception
from bot.signing_keys import SigningKeyCache
from dialogs.monitoring import Monitoring
from process.monitoring import DEFAULT_PRESET, PRESETS, PeriodError, parse_period

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"
STATIC_FILES = {"dashboard.js": "text/javascript", "dashboard.css": "text/css"}
#: The Teams JavaScript library, loaded from Microsoft's CDN by the page only when it runs inside Teams.
TEAMS_JS = "https://res.cdn.office.net/teams-js/2.22.0/js/MicrosoftTeams.min.js"
#: Where Teams (web, desktop, Outlook and Microsoft 365 hosts) frames a tab from.
FRAME_ANCESTORS = (
    "https://teams.microsoft.com https://*.teams.microsoft.com https://teams.cloud.microsoft "
    "https://*.cloud.microsoft https://*.office.com https://*.microsoft365.com https://*.skype.com"
)
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self' https://res.cdn.office.net",
        # plotly.js sets style attributes and writes one style sheet of its own.
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        f"frame-ancestors 'self' {FRAME_ANCESTORS}",
    ]
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
LOOPBACK_PEERS = frozenset({"127.0.0.1", "::1"})

TABS_KEY = web.AppKey("dashboard_tokens", TabTokens)


def plotly_js() -> Path:
    """plotly.min.js as the `plotly` package ships it, found without importing plotly."""
    spec = importlib.util.find_spec("plotly")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the plotly package is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "package_data" / "plotly.min.js"


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response(
        {"error": message}, status=status, headers={**SECURITY_HEADERS, **(headers or {})}
    )


def add_dashboard(
    app: web.Application, settings: Settings, monitoring: Monitoring, tokens: TabTokens | None = None
) -> None:
    """Serve the dashboard from `app`. With an app id, tokens are checked by `tokens` (by default against
    Microsoft's published keys)."""
    local = settings.local_mode
    if not local and tokens is None:
        assert settings.app_id is not None
        keys = SigningKeyCache(openid_keys())
        tokens = TabTokens(settings.app_id, settings.app_tenant_id, keys)

        async def close_keys(app: web.Application) -> None:
            await keys.aclose()

        app.on_cleanup.append(close_keys)

    async def page(request: web.Request) -> web.StreamResponse:
        if local and request.remote not in LOOPBACK_PEERS:
            return _error(403, "in local mode the dashboard is served to this computer only")
        return web.FileResponse(STATIC / "index.html", headers=SECURITY_HEADERS)

    async def static(request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        if name not in STATIC_FILES:
            return _error(404, "no such file")
        return web.FileResponse(
            STATIC / name, headers={**SECURITY_HEADERS, "Content-Type": STATIC_FILES[name]}
        )

    async def library(request: web.Request) -> web.StreamResponse:
        try:
            path = plotly_js()
        except FileNotFoundError:
            return _error(404, "the charting library is not installed")
        return web.FileResponse(
            path,
            headers={
                **SECURITY_HEADERS,
                "Content-Type": "text/javascript",
                "Cache-Control": "public, max-age=86400",
            },
        )

    async def stats(request: web.Request) -> web.Response:
        try:
            return await _stats(request)
        except (
            Exception
        ) as error:  # a JSON answer whatever happens (the database gone, say), never a 500 page
            log.error("dashboard figures failed: %s", describe_exception(error))
            return _error(
                503, "the figures cannot be had right now; try again shortly", {"Retry-After": "30"}
            )

    async def _stats(request: web.Request) -> web.Response:
        if local:
            if request.remote not in LOOPBACK_PEERS:
                return _error(403, "in local mode the dashboard is served to this computer only")
            partnerships: tuple[str, ...] = tuple(monitoring.service.policies)
        else:
            assert tokens is not None
            try:
                viewer = await tokens.viewer(request.headers.get("Authorization"))
            except NotSignedIn as refused:
                log.info("dashboard request refused: %s", refused)
                return _error(
                    401, "sign in through Teams to see the dashboard", {"WWW-Authenticate": "Bearer"}
                )
            except AuthenticationUnavailable:
                return _error(
                    503, "cannot check sign-ins right now; try again shortly", {"Retry-After": "30"}
                )
            person = await monitoring.service.person_for(viewer.object_id)
            partnerships = await monitoring.partnerships_for(person)
            if not partnerships:
                return _error(403, "the dashboard is for the partnership's business unit")
        query = request.query
        chosen = query.get("partnership", "").strip()
        partnership = chosen if chosen in partnerships else partnerships[0]
        try:
            period = parse_period(
                query.get("period"), query.get("since"), query.get("until"), monitoring.today()
            )
        except PeriodError as refused:
            return _error(400, str(refused))
        figures = await monitoring.statistics(partnership, period)
        body: dict[str, Any] = {
            "local": local,
            "partnerships": [
                {"id": p, "name": monitoring.service.policy(p).partnership} for p in partnerships
            ],
            "presets": [{"value": value, "title": title} for value, title in PRESETS],
            "defaultPreset": DEFAULT_PRESET,
            "stats": figures.as_json(),
        }
        return web.json_response(body, headers=SECURITY_HEADERS)

    app.router.add_get("/dashboard", page)
    app.router.add_get("/dashboard/static/{name}", static)
    app.router.add_get("/dashboard/plotly.min.js", library)
    app.router.add_get("/dashboard/api/stats", stats)
