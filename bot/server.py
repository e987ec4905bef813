"""The HTTP face of the bot: one endpoint for the Bot Connector, two probes, and the process entry point.

The application factory takes any botbuilder `Bot`, so the Teams handler, the tests' echo bots and the
benchmark all run behind the same request checks: the body is read and parsed once, here, under the rules
of `bot.request_body`, and a bad request gets a 4xx with a short reason before the SDK sees it (the SDK's own
reading answered some of them with a 500); a failed turn gets an apology.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web import RequestPayloadError
from botbuilder.core import Bot, serializer_helper
from botbuilder.integration.aiohttp import CloudAdapter
from botbuilder.schema import Activity, ActivityTypes, AdaptiveCardInvokeResponse
from msrest.exceptions import DeserializationError  # type: ignore[attr-defined]

from bot.activity_body import is_plain_json
from bot.after_answer import answering
from bot.auth import CachingBotFrameworkAuthentication
from bot.config import ConfigError, Settings
from bot.errors import AuthenticationUnavailable, describe_exception, on_turn_error
from bot.keys import use_data_keys
from bot.memory import release_free_memory
from bot.request_body import BadBody, check_activity, check_headers, parse_activity
from bot.signing_keys import FAILURE_MEMORY_SECONDS
from bot.turn_replies import RetryingCloudAdapter

log = logging.getLogger(__name__)

ReadyCheck = Callable[[], Awaitable[bool]]

#: The application's adapter, for startup hooks that send proactive messages (`app[ADAPTER_KEY]`).
ADAPTER_KEY = web.AppKey("adapter", CloudAdapter)
#: The settings the application was made with.
SETTINGS_KEY = web.AppKey("settings", Settings)

READY_CHECK_TIMEOUT_SECONDS = 5.0
_KNOWN_ACTIVITY_TYPES = frozenset(kind.value for kind in ActivityTypes)


def build_adapter(settings: Settings) -> CloudAdapter:
    """A CloudAdapter with cached clients, 401 for every bad token, a turn's replies sent again after a 429
    (`bot.turn_replies`), and an apology for failed turns."""
    adapter = RetryingCloudAdapter(CachingBotFrameworkAuthentication(settings.to_sdk_config()))
    adapter.on_turn_error = on_turn_error
    return adapter


def invoke_body(body: object) -> object:
    """An invoke's answer as JSON. The card that replaces a pressed one is already plain JSON, and is put in
    its envelope as it is (the rule of `bot.activity_body.is_plain_json`, as for cards sent in messages):
    walking it through the SDK's serializer, value by value, took longer than the rest of such a turn's own
    work. Anything else goes through the SDK's serializer."""
    if (
        isinstance(body, AdaptiveCardInvokeResponse)
        and isinstance(body.value, dict)
        and is_plain_json(body.value)
        and isinstance(body.status_code, int)
        and isinstance(body.type, str)
    ):
        return {"statusCode": body.status_code, "type": body.type, "value": body.value}
    return serializer_helper(body)


def create_app(
    settings: Settings,
    bot: Bot,
    adapter: CloudAdapter | None = None,
    ready_check: ReadyCheck | None = None,
) -> web.Application:
    """The aiohttp application: `POST /api/messages`, `GET /healthz`, `GET /readyz`.

    `ready_check` says whether the bot can do its work (database reachable, ...); without one the
    application is ready as soon as it serves. The adapter is made with `build_adapter` unless given.
    """
    adapter = adapter if adapter is not None else build_adapter(settings)
    max_body = settings.max_body_bytes

    async def messages(request: web.Request) -> web.StreamResponse:
        try:
            check_headers(request, max_body)
            body = parse_activity(await _read_body(request, max_body))
            activity_type = check_activity(body)
        except BadBody as refused:
            return _refuse(refused.status, refused.reason)
        try:
            activity = Activity().deserialize(body)
        except DeserializationError:
            return _refuse(400, "the activity does not follow the Bot Framework schema")
        try:
            with answering():
                invoke_response = await adapter.process_activity(
                    request.headers.get("Authorization", ""), activity, bot.on_turn
                )
        except PermissionError:
            return _refuse(401, "a valid Bot Framework token is required", {"WWW-Authenticate": "Bearer"})
        except AuthenticationUnavailable:
            return _refuse(
                503,
                "cannot verify requests right now; try again shortly",
                {"Retry-After": str(round(FAILURE_MEMORY_SECONDS))},
            )
        except Exception as error:
            log.error(
                "request failed: activity=%s error=%s",
                activity_type if activity_type in _KNOWN_ACTIVITY_TYPES else "other",
                describe_exception(error),
            )
            return _refuse(500, "internal error")
        if invoke_response is None:
            return web.Response(status=201)
        if invoke_response.body is None:
            return web.Response(status=invoke_response.status)
        return web.json_response(invoke_body(invoke_response.body), status=invoke_response.status)

    async def expect_continue(request: web.Request) -> web.StreamResponse | None:
        """`Expect: 100-continue`: the headers are checked before the client is told to send the body, so a
        body too large, compressed or of the wrong type is refused without being sent."""
        try:
            check_headers(request, max_body)
        except BadBody as refused:
            return _refuse(refused.status, refused.reason)
        if request.headers.get("Expect", "").lower() != "100-continue":
            return _refuse(417, "the only expectation understood is 100-continue")
        if request.version >= (1, 1):
            await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        return None

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(request: web.Request) -> web.Response:
        ready = True
        if ready_check is not None:
            try:
                async with asyncio.timeout(READY_CHECK_TIMEOUT_SECONDS):
                    ready = bool(await ready_check())
            except Exception as error:
                log.warning("readiness check failed: %s", describe_exception(error))
                ready = False
        return web.json_response({"status": "ready" if ready else "not ready"}, status=200 if ready else 503)

    server_log = logging.getLogger("aiohttp.server")
    if not any(isinstance(existing, UnparsableRequestFilter) for existing in server_log.filters):
        server_log.addFilter(UnparsableRequestFilter())
    # Bodies are never decompressed (the Bot Connector does not compress; `check_headers` refuses any
    # Content-Encoding), so a body that claims gzip but is not is refused with 415, not failed inside aiohttp.
    app = web.Application(client_max_size=max_body, handler_args={"auto_decompress": False})
    app[SETTINGS_KEY] = settings
    app[ADAPTER_KEY] = adapter
    app.router.add_route("POST", "/api/messages", messages, expect_handler=expect_continue)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)

    auth = adapter.bot_framework_authentication
    if isinstance(auth, CachingBotFrameworkAuthentication):

        async def close_clients(app: web.Application) -> None:
            await auth.aclose()

        app.on_cleanup.append(close_clients)
    return app


async def _read_body(request: web.Request, max_body: int) -> bytes:
    """The whole body; a client that goes away before sending it is logged in one line, not a traceback."""
    try:
        return await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise BadBody(413, f"the body is larger than {max_body} bytes") from None
    except asyncio.CancelledError:
        log.info("request abandoned: the client went away before its body arrived")
        raise
    except (ConnectionError, RequestPayloadError) as error:
        log.info("request abandoned: the body could not be read (%s)", type(error).__name__)
        raise BadBody(400, "the body could not be read") from None


def _refuse(status: int, reason: str, headers: dict[str, str] | None = None) -> web.Response:
    """A short plain-text answer that says what was wrong with the request."""
    return web.Response(status=status, text=reason + "\n", headers=headers)


def run_server() -> int:
    """Serve the bot until interrupted; return the process exit status (2 for a bad configuration)."""
    configure_logging()
    try:
        settings = Settings.from_env()
        use_data_keys(settings)
    except ConfigError as error:
        for problem in error.problems:
            log.error("configuration: %s", problem)
        return 2
    if settings.local_mode:
        log.warning(
            "MicrosoftAppId is not set: local mode. Requests are NOT authenticated, so the bot listens on "
            "%s only. Set MicrosoftAppId and MicrosoftAppPassword to serve Teams.",
            settings.host,
        )
    log.info("serving http://%s:%d/api/messages", settings.host, settings.port)
    web.run_app(build_application(settings), host=settings.host, port=settings.port, print=None)
    return 0


async def build_application(settings: Settings) -> web.Application:
    """The served application: the runtime from `bot.wiring` (bot, readiness, resources) in `create_app`,
    and the monitoring dashboard."""
    from bot.dashboard import add_dashboard
    from bot.wiring import build_runtime

    runtime = await build_runtime(settings)
    app = create_app(settings, runtime.bot, ready_check=runtime.ready_check)
    if runtime.monitoring is not None:
        add_dashboard(app, settings, runtime.monitoring)
    app.cleanup_ctx.extend(runtime.cleanup_ctx)
    app.on_startup.extend(runtime.on_startup)
    app.on_startup.append(release_start_up_memory)
    return app


async def release_start_up_memory(app: web.Application) -> None:
    """The last start-up hook: give the memory start-up freed back to the operating system (`bot.memory`)."""
    release_free_memory()


class OneLineFormatter(logging.Formatter):
    """Keeps each record on one line (tracebacks included), so log collectors never split a record."""

    def format(self, record: logging.LogRecord) -> str:
        return super().format(record).replace("\r", "").replace("\n", " \\n ")


class UnparsableRequestFilter(logging.Filter):
    """Turns aiohttp's traceback for a request it could not parse (and answered 400) into one line.

    Malformed framing, headers or chunk sizes are the client's fault and need no stack; aiohttp logs them
    at ERROR with the exception attached, which a flood of hostile requests would turn into a flood of
    tracebacks.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if not isinstance(error, HttpProcessingError):
            return True
        log.info(
            "HTTP request refused by aiohttp (%s, %s): %s",
            type(error).__name__,
            error.code,
            record.getMessage(),
        )
        return False


#: Loggers that write a statement's values or result rows at DEBUG (aiosqlite logs each call with its
#: arguments; SQLAlchemy's engine logs rows): held at INFO whatever else logs at DEBUG, so no child's details
#: reach a log from the database's traffic.
VALUE_LOGGERS = ("aiosqlite", "asyncpg", "sqlalchemy.engine", "sqlalchemy.pool")


def configure_logging(level: int = logging.INFO) -> None:
    """INFO to stderr, one line per record; leaves an already configured root logger alone, but never lets
    the database drivers log values (`VALUE_LOGGERS`)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(OneLineFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=level, handlers=[handler])
    for name in VALUE_LOGGERS:
        logger = logging.getLogger(name)
        if logger.getEffectiveLevel() < logging.INFO:
            logger.setLevel(logging.INFO)
