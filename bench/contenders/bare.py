"""The floor: a bare aiohttp handler that answers a message activity the way a bot must, with nothing else.

For a message activity POSTed to /api/messages it POSTs one reply activity to
`{serviceUrl}/v3/conversations/{id}/activities` through one aiohttp client session kept open, then answers
200. Run by bench/turn_cost.py as `python bench/contenders/bare.py`, on the port in PORT.
"""

from __future__ import annotations

import os

from aiohttp import ClientSession, web


async def _open(app: web.Application) -> None:
    app["http"] = ClientSession()


async def _close(app: web.Application) -> None:
    await app["http"].close()


async def messages(request: web.Request) -> web.Response:
    activity = await request.json()
    if activity.get("type") == "message":
        conversation = activity["conversation"]
        url = f"{activity['serviceUrl'].rstrip('/')}/v3/conversations/{conversation['id']}/activities"
        reply = {
            "type": "message",
            "text": f"echo: {activity.get('text', '')}",
            "from": activity.get("recipient"),
            "recipient": activity.get("from"),
            "conversation": conversation,
            "replyToId": activity.get("id"),
        }
        async with request.app["http"].post(url, json=reply) as response:
            await response.read()
            if response.status >= 300:
                return web.Response(status=502)
    return web.Response(status=200)


async def alive(_request: web.Request) -> web.Response:
    return web.Response()


def main() -> None:
    app = web.Application()
    app.router.add_post("/api/messages", messages)
    app.router.add_get("/api/messages", alive)
    app.on_startup.append(_open)
    app.on_cleanup.append(_close)
    web.run_app(app, host="127.0.0.1", port=int(os.environ["PORT"]), access_log=None, print=None)


if __name__ == "__main__":
    main()
