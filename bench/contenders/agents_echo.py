"""The Microsoft 365 Agents SDK's echo agent (its quickstart), served by aiohttp, anonymous.

As the SDK's quickstart and samples write it: an `AgentApplication` with `MemoryStorage`, a `CloudAdapter`
and `Authorization` over a connection manager, a welcome on members added and an echo for every message,
and the route calling `start_agent_process` behind `jwt_authorization_middleware`. With no app id the
quickstart's MSAL connection manager would take no token either; here hosting-core's own `ConnectionManager`
with `AnonymousTokenProvider` and `anonymous_allowed` (what the SDK's testing kit uses for local runs), so the
MSAL package is not needed. Runs in its own virtual environment (var/bench/agents-venv, made by
bench/turn_cost.py) with microsoft-agents-hosting-aiohttp 1.9.0, as
`python bench/contenders/agents_echo.py`, on the port in PORT.
"""

from __future__ import annotations

import os

from aiohttp.web import Application, Request, Response, run_app
from microsoft_agents.hosting.aiohttp import CloudAdapter, jwt_authorization_middleware, start_agent_process
from microsoft_agents.hosting.core import (
    AgentApplication,
    AgentAuthConfiguration,
    AnonymousTokenProvider,
    Authorization,
    ConnectionManager,
    MemoryStorage,
    TurnContext,
    TurnState,
)

AUTH_CONFIGURATION = AgentAuthConfiguration(anonymous_allowed=True)
STORAGE = MemoryStorage()
CONNECTION_MANAGER = ConnectionManager(
    provider_factory=lambda _configuration: AnonymousTokenProvider(),
    connections_configurations={"SERVICE_CONNECTION": AUTH_CONFIGURATION},
)
ADAPTER = CloudAdapter(connection_manager=CONNECTION_MANAGER)
AUTHORIZATION = Authorization(STORAGE, CONNECTION_MANAGER)
AGENT_APP = AgentApplication[TurnState](storage=STORAGE, adapter=ADAPTER, authorization=AUTHORIZATION)


async def _welcome(context: TurnContext, _state: TurnState) -> None:
    await context.send_activity("Welcome to the echo agent. Send a message and it is echoed.")


AGENT_APP.conversation_update("membersAdded")(_welcome)


async def on_message(context: TurnContext, _state: TurnState) -> None:
    await context.send_activity(f"you said: {context.activity.text}")


AGENT_APP.activity("message")(on_message)


async def entry_point(request: Request) -> Response:
    response: Response = await start_agent_process(request, request.app["agent_app"], request.app["adapter"])
    return response


async def alive(_request: Request) -> Response:
    return Response(status=200)


def main() -> None:
    app = Application(middlewares=[jwt_authorization_middleware])
    app.router.add_post("/api/messages", entry_point)
    app.router.add_get("/api/messages", alive)
    app["agent_configuration"] = AUTH_CONFIGURATION
    app["agent_app"] = AGENT_APP
    app["adapter"] = AGENT_APP.adapter
    run_app(app, host="127.0.0.1", port=int(os.environ["PORT"]), access_log=None, print=None)


if __name__ == "__main__":
    main()
