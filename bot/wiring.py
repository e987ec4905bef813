"""Putting the bot together from settings: database, directory, policies, service, dialogs, handler, clock.

The server (`build_runtime`) and the operator's `challenge-bot tick` build the service and the delivery the
same way, so a deadline moved forward with `tick` reaches people exactly as the running bot would reach them.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import closing
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiohttp import web
from botbuilder.core import Bot, ConversationState, TurnContext
from botbuilder.schema import ActivityTypes
from sqlalchemy.engine import make_url

from bot.after_answer import after_answer
from bot.auth import CachingBotFrameworkAuthentication
from bot.config import ConfigError, Settings
from bot.keys import report_unreadable_keys
from bot.mailer import Mailer, MailSettings
from bot.notifier import Notifier, ProactiveAdapter, SlidingWindowLimiter, TeamsChannel
from bot.scheduler import Scheduler, TickReport
from bot.server import ADAPTER_KEY, build_adapter
from bot.teams_bot import ChallengeBot, reference_of
from dialogs.monitoring import Monitoring
from dialogs.service import ChallengeService, Clock, utc_now
from process.directory import Directory
from process.directory_file import load_directory_file
from process.policy import Policy, load_policy
from storage.bot_state import SqlStorage
from storage.challenges import ChallengeRepository
from storage.clock import ClockError, SharedClock
from storage.conversations import ConversationStore
from storage.db import Database
from storage.directory import DirectoryStore
from storage.drafts import DraftStore
from storage.migrate import ensure_schema
from storage.monitoring import MonitoringStore
from storage.outbox import Outbox

log = logging.getLogger(__name__)

AppHook = Callable[[web.Application], Awaitable[None]]
CleanupContext = Callable[[web.Application], AsyncIterator[None]]


#: How long shutdown waits for the database's connections to close.
DISPOSE_TIMEOUT_SECONDS = 10.0


@dataclass
class Runtime:
    """What the server needs from the bot: the handler, a readiness probe and the resources' lifetimes."""

    bot: Bot
    ready_check: Callable[[], Awaitable[bool]]
    service: ChallengeService
    database: Database
    conversations: ConversationStore
    on_startup: list[AppHook] = field(default_factory=list)
    cleanup_ctx: list[CleanupContext] = field(default_factory=list)
    #: The monitoring figures the dashboard serves (`bot.dashboard`); None: no dashboard.
    monitoring: Monitoring | None = None


def load_policies(settings: Settings) -> list[Policy]:
    """The configured partnerships' policies, with the deployment's due time if it sets one.

    Raises `ConfigError` when two POLICIES entries hold the same policy id (a shipped name and a
    partnership's copy of it, say): challenges are filed under the id, so each may be run only once.
    """
    policies = [load_policy(name) for name in settings.policy_names]
    first_entry: dict[str, str] = {}
    problems: list[str] = []
    for entry, policy in zip(settings.policy_names, policies, strict=True):
        if policy.id in first_entry:
            problems.append(
                f"POLICIES entries {first_entry[policy.id]!r} and {entry!r} are both the policy "
                f"{policy.id!r}: give each partnership's policy once, or give a copy its own id"
            )
        first_entry.setdefault(policy.id, entry)
    if problems:
        raise ConfigError(problems)
    if settings.due_time is not None:
        due = settings.due_time.strftime("%H:%M")
        policies = [policy.model_copy(update={"due_time": due}) for policy in policies]
    return policies


async def open_database(settings: Settings) -> Database:
    """Connect (migrating the SQLite default) and load the configured directory file, if any."""
    await ensure_schema(settings.database_url)
    database = await Database.connect(settings.database_url)
    if settings.directory_file is not None:
        await load_directory_once(database, Path(settings.directory_file))
    return database


async def load_directory_once(database: Database, path: Path) -> None:
    """Load the directory file into storage, unless this very file (by its SHA-256) was loaded before: a
    restart then keeps the stored directory, which `challenge-bot directory import` may have changed since,
    while an edited file replaces it."""
    store = DirectoryStore(database)
    digest = hashlib.sha256(await asyncio.to_thread(path.read_bytes)).hexdigest()
    if await store.file_digest() == digest:
        log.info("directory file %s unchanged since it was loaded: the stored directory is kept", path.name)
        return
    await store.replace_all(load_directory_file(path), file_digest=digest)
    log.info("directory loaded from %s", path.name)


def make_clock(settings: Settings) -> Clock:
    """The real clock, or in a trial the clock the bot shares with `challenge-bot tick` (TRIAL_CLOCK_FILE)."""
    return SharedClock(settings.trial_clock_file) if settings.trial_clock_file is not None else utc_now


def make_service(settings: Settings, database: Database, clock: Clock = utc_now) -> ChallengeService:
    directories = DirectoryStore(database)

    async def load_directory() -> Directory:
        return await directories.load()

    return ChallengeService(
        load_policies(settings),
        ChallengeRepository(database, clock=clock),
        load_directory,
        clock=clock,
        # The notifier sends email with these same settings (`make_notifier`): without them, say so.
        email=MailSettings.from_settings(settings) is not None,
        # `challenge-bot directory import` bumps it: the running bot then reloads the directory.
        directory_generation=directories.generation,
    )


def make_notifier(
    settings: Settings,
    service: ChallengeService,
    database: Database,
    adapter: ProactiveAdapter,
    worker_id: str,
) -> Notifier:
    """Teams first (through `adapter`), email for mailboxes and people Teams cannot reach."""
    mail = MailSettings.from_settings(settings)
    return Notifier(
        service,
        Outbox(database),
        teams=TeamsChannel(
            adapter,
            ConversationStore(database),
            settings.app_id,
            per_tenant=SlidingWindowLimiter(((1.0, settings.teams_tenant_rps),)),
        ),
        mailer=Mailer(mail) if mail is not None else None,
        worker_id=worker_id,
    )


def worker_name(kind: str) -> str:
    return f"{kind}-{socket.gethostname()}-{os.getpid()}"


def conversation_recorder(store: ConversationStore) -> Callable[[TurnContext], Awaitable[None]]:
    """Keeps each conversation's reference, so deadlines can reach people later without them writing first.

    Installs always write it (a reinstall refreshes a reference the notifier marked stale); other activities
    write it when this process has not yet, or when its service URL changed, so not on every message.
    """
    written: dict[str, str] = {}

    async def remember(turn_context: TurnContext) -> None:
        activity = turn_context.activity
        conversation = activity.conversation
        if conversation is None or not conversation.id or not activity.service_url:
            return
        install = activity.type in (ActivityTypes.installation_update, ActivityTypes.conversation_update)
        if not install and written.get(conversation.id) == activity.service_url:
            return
        sender = activity.from_property
        personal = conversation.conversation_type in (None, "personal")
        channel_data = activity.channel_data if isinstance(activity.channel_data, dict) else {}
        tenant_data = channel_data.get("tenant")
        tenant: dict[str, Any] = tenant_data if isinstance(tenant_data, dict) else {}
        await store.save(
            reference_of(activity),
            conversation_id=conversation.id,
            user_aad_object_id=sender.aad_object_id if sender and personal else None,
            tenant_id=tenant.get("id") or conversation.tenant_id,
            service_url=activity.service_url,
            conversation_type=conversation.conversation_type or "personal",
        )
        written[conversation.id] = activity.service_url

    return remember


async def build_runtime(settings: Settings) -> Runtime:
    """Everything the served bot needs; the deadline clock starts and stops with the aiohttp app."""
    database = await open_database(settings)
    await report_unreadable_keys(database)
    service = make_service(settings, database, make_clock(settings))
    conversations = ConversationStore(database)
    drafts = DraftStore(database)
    monitoring = Monitoring(service, MonitoringStore(database))
    bot = ChallengeBot(
        service,
        ConversationState(SqlStorage(database)),
        conversation_recorder(conversations),
        drafts=drafts,
        draft_ttl=settings.draft_ttl,
        monitoring=monitoring,
    )

    async def deadline_clock(app: web.Application) -> AsyncIterator[None]:
        notifier = make_notifier(settings, service, database, app[ADAPTER_KEY], worker_name("bot"))
        scheduler = Scheduler(service, notifier, worker_id=notifier.worker_id, drafts=drafts)

        async def wake(_decision: object) -> None:
            after_answer(scheduler.wake)

        service.on_commit = wake
        async for _ in scheduler.cleanup_ctx(app):
            yield

    async def close_database(app: web.Application) -> AsyncIterator[None]:
        yield
        # Runs after the deadline clock has stopped (cleanup contexts end in reverse), so no pass is using a
        # connection; a database that does not answer still must not hold the process, so the wait is bounded.
        try:
            await asyncio.wait_for(database.dispose(), timeout=DISPOSE_TIMEOUT_SECONDS)
        except TimeoutError:
            log.warning("database connections did not close within %s s at shutdown", DISPOSE_TIMEOUT_SECONDS)

    return Runtime(
        bot=bot,
        ready_check=database.ping,
        service=service,
        database=database,
        conversations=conversations,
        cleanup_ctx=[close_database, deadline_clock],
        monitoring=monitoring,
    )


class TickError(Exception):
    """`challenge-bot tick` was asked for something it must not do; the message says why and what to do."""


def require_existing_database(database_url: str, *, can_create: bool = True) -> None:
    """Refuse a SQLite database that does not exist or holds no tables (`TickError`), rather than make one.

    Run from the wrong folder, the default SQLite path names a file nobody made: a tick there would create
    an empty database, find nothing due and print zeros, as if the bot's challenges had nothing pending.
    """
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite":
        return
    hint = "Set DATABASE_URL to the running bot's database (scripts/try.sh writes it to var/try/env)" + (
        ", or pass --create-database to make a new one" if can_create else ""
    )
    if not url.database or url.database == ":memory:":
        raise TickError(f"an in-memory SQLite database holds no challenges to tick. {hint}.")
    path = Path(url.database).resolve()
    if not path.is_file():
        raise TickError(f"there is no database at {path}. {hint}.")
    import sqlite3  # here: a process on PostgreSQL never loads it

    try:
        with closing(sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)) as connection:
            (tables,) = connection.execute(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table'"
            ).fetchone()
    except sqlite3.DatabaseError as error:
        raise TickError(f"{path} is not a SQLite database ({error}). {hint}.") from None
    if not tables:
        raise TickError(f"the database {path} has no tables, so no bot has used it. {hint}.")


def tick_instant(settings: Settings, now: datetime | None, advance: timedelta | None) -> datetime:
    """The instant a tick runs at: in a trial, the shared clock's, after moving it forward as asked."""
    if settings.trial_clock_file is None:
        if advance is not None:
            raise TickError(
                "--advance moves a trial's shared clock, and TRIAL_CLOCK_FILE is not set (scripts/try.sh sets "
                "it); use --now to run one pass at a given instant"
            )
        return now or datetime.now(UTC)
    clock = SharedClock(settings.trial_clock_file)
    try:
        if now is not None:
            clock.move_to(now)
        elif advance is not None:
            clock.advance(advance)
    except ClockError as error:
        raise TickError(str(error)) from None
    return clock()


async def tick(
    settings: Settings,
    now: datetime | None = None,
    *,
    advance: timedelta | None = None,
    create_database: bool = False,
) -> TickReport:
    """One pass of the deadline clock at `now` against the configured database (`challenge-bot tick`).

    In a trial (TRIAL_CLOCK_FILE), `now` or `advance` first moves the clock shared with the running bot,
    forward only. Raises `TickError` for a missing SQLite database (unless `create_database`) or a move back.
    """
    if not create_database:
        require_existing_database(settings.database_url)
    at = tick_instant(settings, now, advance)
    database = await open_database(replace(settings, directory_file=None))
    adapter = build_adapter(settings)
    try:
        # The whole pass is stamped `at`, so what it queues is due at the instant it delivers; the running
        # bot, on the shared clock, dates anything done after it later still.
        service = make_service(settings, database, clock=lambda: at)
        notifier = make_notifier(settings, service, database, adapter, worker_name("tick"))
        scheduler = Scheduler(service, notifier, worker_id=notifier.worker_id, drafts=DraftStore(database))
        return await scheduler.run_once(at)
    finally:
        auth = adapter.bot_framework_authentication
        if isinstance(auth, CachingBotFrameworkAuthentication):
            await auth.aclose()
        await database.dispose()
