"""The bot's configuration: read once from the environment, validated at start-up, typed everywhere after.

Every setting has a safe local default, so `challenge-bot` with an empty environment starts a local-only,
unauthenticated bot on 127.0.0.1 backed by a SQLite file; a deployment sets `MicrosoftAppId` and friends.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import time, timedelta
from pathlib import Path

from storage.db import parse_url

DEFAULT_PORT = 3978
DEFAULT_MAX_BODY_BYTES = 256 * 1024
DEFAULT_POLICIES = ("durham", "rochdale")
DEFAULT_SMTP_PORT = 587
#: How long an unfinished raising form (with the child's details typed so far) is kept.
DEFAULT_DRAFT_TTL_HOURS = 24
DEFAULT_TEAMS_TENANT_RPS = 50
MAX_DRAFT_TTL_HOURS = 24 * 30

APP_TYPES = ("MultiTenant", "SingleTenant", "UserAssignedMSI")
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})

_POLICY_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_POLICY_SUFFIXES = (".yaml", ".yml")
_DUE_TIME = re.compile(r"^(\d{1,2}):(\d{2})$")
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


class ConfigError(ValueError):
    """The environment does not describe a runnable bot; the message lists every problem found."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("invalid configuration:\n  - " + "\n  - ".join(self.problems))


def default_database_url(cwd: Path | None = None) -> str:
    """A SQLite file under `var/` of the working directory; the folder is made where the engine is made."""
    base = (cwd or Path.cwd()).resolve()
    return "sqlite+aiosqlite:///" + str(base / "var" / "challenge-bot.db")


@dataclass(frozen=True)
class SdkConfig:
    """The attribute names botbuilder's `ConfigurationBotFrameworkAuthentication` reads from its config."""

    APP_ID: str | None
    APP_PASSWORD: str | None = field(repr=False)
    APP_TYPE: str
    APP_TENANTID: str | None


@dataclass(frozen=True)
class Settings:
    """Everything the bot process needs to know about its surroundings, in one typed place."""

    port: int = DEFAULT_PORT
    database_url: str = field(default_factory=default_database_url)
    app_id: str | None = None
    app_password: str | None = field(default=None, repr=False)
    app_type: str = "MultiTenant"
    app_tenant_id: str | None = None
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    host: str = "127.0.0.1"
    policy_names: tuple[str, ...] = DEFAULT_POLICIES
    due_time: time | None = None
    smtp_host: str | None = None
    smtp_port: int = DEFAULT_SMTP_PORT
    smtp_starttls: bool = True
    smtp_user: str | None = None
    smtp_password: str | None = field(default=None, repr=False)
    smtp_from: str | None = None
    directory_file: Path | None = None
    draft_ttl_hours: int = DEFAULT_DRAFT_TTL_HOURS
    #: A trial's shared, forward-only clock (`challenge-bot tick --advance`); None: the real clock.
    trial_clock_file: Path | None = None
    #: Teams' limit per app per tenant, requests a second (Microsoft's rate-limiting page: 50; a revision of
    #: its source says 30), shared by the instances delivering at the time.
    teams_tenant_rps: int = DEFAULT_TEAMS_TENANT_RPS

    @property
    def draft_ttl(self) -> timedelta:
        """How long an unfinished raising form is kept before it expires and its answers are deleted."""
        return timedelta(hours=self.draft_ttl_hours)

    @property
    def local_mode(self) -> bool:
        """No app id: nothing is authenticated, so the server must only be reachable from this machine."""
        return not self.app_id

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Settings:
        """Read and validate the settings; raise `ConfigError` naming every bad or missing variable."""
        problems: list[str] = []

        def text(name: str) -> str | None:
            value = environ.get(name, "").strip()
            return value or None

        def integer(name: str, default: int, low: int, high: int) -> int:
            raw = text(name)
            if raw is None:
                return default
            try:
                value = int(raw)
            except ValueError:
                problems.append(f"{name}={raw!r} is not a whole number")
                return default
            if not low <= value <= high:
                problems.append(f"{name}={value} must be between {low} and {high}")
                return default
            return value

        def boolean(name: str, default: bool) -> bool:
            raw = text(name)
            if raw is None:
                return default
            if raw.lower() in _TRUE:
                return True
            if raw.lower() in _FALSE:
                return False
            problems.append(f"{name}={raw!r} must be true or false")
            return default

        port = integer("PORT", DEFAULT_PORT, 1, 65535)
        max_body_bytes = integer("MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES, 1024, 64 * 1024 * 1024)
        smtp_port = integer("SMTP_PORT", DEFAULT_SMTP_PORT, 1, 65535)
        smtp_starttls = boolean("SMTP_STARTTLS", True)
        draft_ttl_hours = integer("DRAFT_TTL_HOURS", DEFAULT_DRAFT_TTL_HOURS, 1, MAX_DRAFT_TTL_HOURS)
        teams_tenant_rps = integer("TEAMS_TENANT_RPS", DEFAULT_TEAMS_TENANT_RPS, 1, 1000)

        app_id = text("MicrosoftAppId")
        app_password = text("MicrosoftAppPassword")
        app_tenant_id = text("MicrosoftAppTenantId")
        app_type = _app_type(text("MicrosoftAppType"), problems)
        if app_id is None and (app_password or app_tenant_id):
            problems.append("MicrosoftAppPassword or MicrosoftAppTenantId is set but MicrosoftAppId is not")
        if app_id is not None:
            if app_type in ("MultiTenant", "SingleTenant") and app_password is None:
                problems.append(f"MicrosoftAppPassword is required for MicrosoftAppType={app_type}")
            if app_type in ("SingleTenant", "UserAssignedMSI") and app_tenant_id is None:
                problems.append(f"MicrosoftAppTenantId is required for MicrosoftAppType={app_type}")

        host = text("HOST")
        if app_id is None:
            if host is not None and host not in LOOPBACK_HOSTS:
                problems.append(
                    f"HOST={host} would expose an unauthenticated bot: without MicrosoftAppId only "
                    "127.0.0.1, ::1 or localhost are allowed"
                )
            host = host if host in LOOPBACK_HOSTS else "127.0.0.1"
        elif host is None:
            host = "0.0.0.0"

        policy_names = _policy_names(text("POLICIES"), problems)
        due_time = _due_time(text("DUE_TIME"), problems)

        smtp_host = text("SMTP_HOST")
        smtp_user = text("SMTP_USER")
        smtp_password = text("SMTP_PASSWORD")
        smtp_from = text("SMTP_FROM")
        if smtp_host is not None and smtp_from is None:
            problems.append("SMTP_FROM is required when SMTP_HOST is set (the sender address of emails)")
        if smtp_from is not None and "@" not in smtp_from:
            problems.append(f"SMTP_FROM={smtp_from!r} is not an email address")
        if (smtp_user is None) != (smtp_password is None):
            problems.append("SMTP_USER and SMTP_PASSWORD must be set together")

        directory_file = _directory_file(text("DIRECTORY_FILE"), local=app_id is None, problems=problems)
        trial_clock_file = _trial_clock_file(
            text("TRIAL_CLOCK_FILE"), local=app_id is None, problems=problems
        )

        database_url = text("DATABASE_URL") or default_database_url()
        try:
            parse_url(database_url)
        except ValueError as error:
            problems.append(str(error))

        if problems:
            raise ConfigError(problems)
        return cls(
            port=port,
            database_url=database_url,
            app_id=app_id,
            app_password=app_password,
            app_type=app_type,
            app_tenant_id=app_tenant_id,
            max_body_bytes=max_body_bytes,
            host=host,
            policy_names=policy_names,
            due_time=due_time,
            smtp_host=smtp_host,
            smtp_port=smtp_port,
            smtp_starttls=smtp_starttls,
            smtp_user=smtp_user,
            smtp_password=smtp_password,
            smtp_from=smtp_from,
            directory_file=directory_file,
            draft_ttl_hours=draft_ttl_hours,
            trial_clock_file=trial_clock_file,
            teams_tenant_rps=teams_tenant_rps,
        )

    def to_sdk_config(self) -> SdkConfig:
        """The credentials in the shape botbuilder's configuration-driven authentication expects."""
        return SdkConfig(
            APP_ID=self.app_id,
            APP_PASSWORD=self.app_password,
            APP_TYPE=self.app_type,
            APP_TENANTID=self.app_tenant_id,
        )


def _directory_file(raw: str | None, *, local: bool, problems: list[str]) -> Path | None:
    """The directory file loaded at start-up: the invented demo directory in local mode, unless told."""
    if raw is not None and raw.lower() == "none":
        return None
    if raw is None:
        from process.directory_file import DEMO_DIRECTORY

        return DEMO_DIRECTORY if local else None
    path = Path(raw)
    if not path.is_file():
        problems.append(f"DIRECTORY_FILE={raw!r} is not a file")
    return path


def _trial_clock_file(raw: str | None, *, local: bool, problems: list[str]) -> Path | None:
    """The trial's shared clock file: only in local mode, so a deployment's records carry the real time."""
    if raw is None:
        return None
    path = Path(raw)
    if not local:
        problems.append(
            "TRIAL_CLOCK_FILE is for a local trial only and is refused with MicrosoftAppId set: a deployment "
            "dates its records by the real clock"
        )
    elif not path.is_absolute():
        problems.append(
            f"TRIAL_CLOCK_FILE={raw!r} must be an absolute path, so the bot and `challenge-bot tick` find the "
            "same file from any folder"
        )
    elif not path.parent.is_dir():
        problems.append(f"TRIAL_CLOCK_FILE={raw!r}: the folder {str(path.parent)!r} does not exist")
    elif path.is_dir():
        problems.append(f"TRIAL_CLOCK_FILE={raw!r} is a folder, not a file")
    return path


def _app_type(raw: str | None, problems: list[str]) -> str:
    if raw is None:
        return "MultiTenant"
    for known in APP_TYPES:
        if raw.lower() == known.lower():
            return known
    problems.append(f"MicrosoftAppType={raw!r} must be one of {', '.join(APP_TYPES)}")
    return "MultiTenant"


def _policy_names(raw: str | None, problems: list[str]) -> tuple[str, ...]:
    """Shipped policies by name (`durham`) and partnerships' own files by path (`/etc/bot/ours.yaml`).

    An entry ending in .yaml or .yml, or with a `/` in it, is a path and is kept as written; a name is
    lower-cased. Whether two entries hold the same policy id is only known once the files are read.
    """
    if raw is None:
        return DEFAULT_POLICIES
    entries = [entry.strip() for entry in raw.split(",") if entry.strip()]
    if not entries:
        problems.append("POLICIES is empty: name at least one partnership policy, e.g. durham,rochdale")
    names: list[str] = []
    seen: set[str] = set()
    twice = False
    for entry in entries:
        if "/" in entry or entry.lower().endswith(_POLICY_SUFFIXES):
            path = Path(entry)
            if path.suffix not in _POLICY_SUFFIXES:
                problems.append(f"POLICIES entry {entry!r} is a path but not to a .yaml or .yml file")
            elif not path.is_file():
                problems.append(f"POLICIES entry {entry!r} is not a file")
            names.append(entry)
            key = str(path.resolve())
        else:
            name = entry.lower()
            if not _POLICY_NAME.match(name):
                problems.append(f"POLICIES entry {name!r} is not a policy name (letters, digits, - and _)")
            names.append(name)
            key = name
        twice = twice or key in seen
        seen.add(key)
    if twice:
        problems.append(f"POLICIES={raw!r} names a policy twice")
    return tuple(names)


def _due_time(raw: str | None, problems: list[str]) -> time | None:
    """DUE_TIME overrides every policy's own due time; unset, each partnership's policy decides."""
    if raw is None:
        return None
    match = _DUE_TIME.match(raw)
    if match is not None:
        hour, minute = int(match.group(1)), int(match.group(2))
        if hour < 24 and minute < 60:
            return time(hour, minute)
    problems.append(f"DUE_TIME={raw!r} must be a 24-hour time such as 17:00")
    return None
