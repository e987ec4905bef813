"""botbuilder's stock echo bot (the Bot Framework samples' 02.echo-bot), served by aiohttp.

`CloudAdapter` with `ConfigurationBotFrameworkAuthentication`, an `ActivityHandler` that echoes, and no app id
(anonymous, as the challenge bot runs in local mode). Nothing of the challenge bot is imported, so the
process's resident memory is the SDK's own. Run by bench/turn_cost.py as
`python bench/contenders/botbuilder_echo.py`, on the port in PORT.
"""

from __future__ import annotations

import os

from aiohttp import web
from botbuilder.core import ActivityHandler, MessageFactory, TurnContext
from botbuilder.integration.aiohttp import CloudAdapter, ConfigurationBotFrameworkAuthentication
from botbuilder.schema import ChannelAccount


class Config:
    """What the sample's config.py gives, with no app id."""

    PORT = 3978
    APP_ID = ""
    APP_PASSWORD = ""
    APP_TYPE = "MultiTenant"
    APP_TENANTID = ""


class EchoBot(ActivityHandler):
    async def on_members_added_activity(
        self, members_added: list[ChannelAccount], turn_context: TurnContext
    ) -> None:
        for member in members_added:
            if member.id != turn_context.activity.recipient.id:
                await turn_context.send_activity("Hello and welcome!")

    async def on_message_activity(self, turn_context: TurnContext) -> None:
        await turn_context.send_activity(MessageFactory.text(f"Echo: {turn_context.activity.text}"))


ADAPTER = CloudAdapter(ConfigurationBotFrameworkAuthentication(Config()))
BOT = EchoBot()


async def messages(request: web.Request) -> web.Response:
    response: web.Response = await ADAPTER.process(request, BOT)
    return response


async def alive(_request: web.Request) -> web.Response:
    return web.Response()


def main() -> None:
    app = web.Application()
    app.router.add_post("/api/messages", messages)
    app.router.add_get("/api/messages", alive)
    web.run_app(app, host="127.0.0.1", port=int(os.environ["PORT"]), access_log=None, print=None)


if __name__ == "__main__":
    main()
