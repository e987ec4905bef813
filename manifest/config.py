"""What varies between one partnership's Teams app package and another's, read and checked in one place.

Each value comes from a command-line option if given, else from an environment variable, else from a
default that is fine for a local trial but not for publishing (the example.org addresses). Every problem is
reported at once, in words a tenant administrator can act on.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from urllib.parse import urlsplit

DEFAULT_SHORT_NAME = "Professional challenge"
DEFAULT_FULL_NAME = "Professional challenge and escalation"
DEFAULT_DEVELOPER_NAME = "Safeguarding Partnership"
DEFAULT_WEBSITE_URL = "https://www.example.org/professional-challenge"
"""A reserved example domain: a package built with it works in a trial tenant but says nothing true."""
DEFAULT_ACCENT_COLOR = "#0E6E78"
"""Deep teal: the manifest's `accentColor` and the colour icon's background."""

ENV_APP_ID = "MANIFEST_APP_ID"
ENV_APP_VERSION = "MANIFEST_APP_VERSION"
ENV_SHORT_NAME = "MANIFEST_NAME"
ENV_FULL_NAME = "MANIFEST_FULL_NAME"
ENV_DEVELOPER_NAME = "MANIFEST_DEVELOPER_NAME"
ENV_WEBSITE_URL = "MANIFEST_WEBSITE_URL"
ENV_PRIVACY_URL = "MANIFEST_PRIVACY_URL"
ENV_TERMS_URL = "MANIFEST_TERMS_URL"
ENV_VALID_DOMAINS = "MANIFEST_VALID_DOMAINS"
ENV_ACCENT_COLOR = "MANIFEST_ACCENT_COLOR"
ENV_BOT_HOST = "MANIFEST_BOT_HOST"

# Limits and patterns from the Teams manifest schema, so a bad value is refused here with a clear message
# rather than by Teams at upload time.
_GUID = re.compile(r"^[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
_HEX_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")
_APP_VERSION = re.compile(r"^(?:0|[1-9]\d*)\.(?:0|[1-9]\d*)\.(?:0|[1-9]\d*)$")
_DOMAIN_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_SHORT_NAME_MAX = 30
_FULL_NAME_MAX = 100
_DEVELOPER_NAME_MAX = 32
_URL_MAX = 2048
_VALID_DOMAINS_MAX = 100


class ManifestConfigError(ValueError):
    """The options describe no valid package; `problems` lists each thing to fix."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(self.problems))


@dataclass(frozen=True)
class ManifestConfig:
    """Every value the manifest template needs, already checked against Teams' rules."""

    app_id: str
    version: str
    short_name: str
    full_name: str
    developer_name: str
    website_url: str
    privacy_url: str
    terms_url: str
    valid_domains: tuple[str, ...]
    accent_color: str
    defaults_used: tuple[str, ...] = ()
    #: The bot's public host name (where Teams posts activities): with it, the package installs the monitoring
    #: dashboard as a personal tab served from that host, with single sign-on for its token.
    bot_host: str | None = None
    """Which publisher details fell back to the example defaults, so the builder can say so."""


@dataclass(frozen=True)
class ManifestOptions:
    """The raw command-line values; None (or empty) means 'not given on the command line'."""

    app_id: str | None = None
    version: str | None = None
    short_name: str | None = None
    full_name: str | None = None
    developer_name: str | None = None
    website_url: str | None = None
    privacy_url: str | None = None
    terms_url: str | None = None
    valid_domains: Sequence[str] = ()
    accent_color: str | None = None
    bot_host: str | None = None


def _pick(option: str | None, environ: Mapping[str, str], name: str) -> str | None:
    if option is not None and option.strip():
        return option.strip()
    value = environ.get(name, "").strip()
    return value or None


def _project_version() -> str | None:
    try:
        return metadata.version("challenge-bot")
    except metadata.PackageNotFoundError:
        return None


def _check_url(label: str, url: str, problems: list[str]) -> None:
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        problems.append(f"{label} must be an https:// address, got {url!r}")
    elif len(url) > _URL_MAX:
        problems.append(f"{label} is longer than {_URL_MAX} characters")


def _check_domain(domain: str, problems: list[str]) -> str:
    """Return the domain in lower case; Teams wants bare host names, optionally with a leading `*.`."""
    name = domain.lower()
    host = name.removeprefix("*.")
    labels = host.split(".")
    if "://" in name or "/" in name or ":" in name or len(labels) < 2 or len(host) > 253:
        problems.append(
            f"valid domain {domain!r} must be a bare host name such as partnership.example.org "
            "or *.example.org (no https://, path or port)"
        )
    elif not all(_DOMAIN_LABEL.match(label) for label in labels):
        problems.append(f"valid domain {domain!r} is not a host name")
    return name


def _split_domains(value: str) -> list[str]:
    return [part for part in re.split(r"[\s,]+", value) if part]


def resolve_config(options: ManifestOptions, environ: Mapping[str, str]) -> ManifestConfig:
    """Merge options over environment over defaults, check every value, and raise with all problems found."""
    problems: list[str] = []
    defaults_used: list[str] = []

    app_id = _pick(options.app_id, environ, ENV_APP_ID)
    if app_id is None:
        problems.append(f"the app id is missing: pass --app-id GUID or set {ENV_APP_ID}")
        app_id = ""
    elif not _GUID.match(app_id):
        problems.append(
            f"app id {app_id!r} is not a GUID (like 6f1c2a4e-0b7d-4c1e-9a55-3d2e8f0b1c7a): use the "
            "Microsoft App ID of the bot's Azure registration"
        )
    elif set(app_id.replace("-", "")) == {"0"}:
        problems.append("app id 00000000-0000-0000-0000-000000000000 is not a real app registration")
    app_id = app_id.lower()

    version = _pick(options.version, environ, ENV_APP_VERSION) or _project_version()
    if version is None:
        problems.append(f"the app version is unknown: pass --app-version or set {ENV_APP_VERSION}")
        version = ""
    elif not _APP_VERSION.match(version):
        problems.append(f"app version {version!r} must be three numbers like 1.4.0")

    short_name = _pick(options.short_name, environ, ENV_SHORT_NAME) or DEFAULT_SHORT_NAME
    if len(short_name) > _SHORT_NAME_MAX:
        problems.append(f"the name {short_name!r} is longer than Teams allows ({_SHORT_NAME_MAX} characters)")
    full_name = _pick(options.full_name, environ, ENV_FULL_NAME) or DEFAULT_FULL_NAME
    if len(full_name) > _FULL_NAME_MAX:
        problems.append(f"the full name is longer than Teams allows ({_FULL_NAME_MAX} characters)")

    developer_name = _pick(options.developer_name, environ, ENV_DEVELOPER_NAME)
    if developer_name is None:
        developer_name = DEFAULT_DEVELOPER_NAME
        defaults_used.append("developer name")
    if len(developer_name) > _DEVELOPER_NAME_MAX:
        problems.append(
            f"the developer name {developer_name!r} is longer than Teams allows "
            f"({_DEVELOPER_NAME_MAX} characters)"
        )

    website_url = _pick(options.website_url, environ, ENV_WEBSITE_URL)
    if website_url is None:
        website_url = DEFAULT_WEBSITE_URL
        defaults_used.append("website URL")
    _check_url("the website URL", website_url, problems)
    privacy_url = _pick(options.privacy_url, environ, ENV_PRIVACY_URL)
    website_is_example = website_url == DEFAULT_WEBSITE_URL
    if privacy_url is None:
        privacy_url = website_url.rstrip("/") + "/privacy"
        if website_is_example:
            defaults_used.append("privacy URL")
    _check_url("the privacy URL", privacy_url, problems)
    terms_url = _pick(options.terms_url, environ, ENV_TERMS_URL)
    if terms_url is None:
        terms_url = website_url.rstrip("/") + "/terms"
        if website_is_example:
            defaults_used.append("terms of use URL")
    _check_url("the terms of use URL", terms_url, problems)

    raw_domains = [d.strip() for d in options.valid_domains if d.strip()]
    if not raw_domains:
        raw_domains = _split_domains(environ.get(ENV_VALID_DOMAINS, ""))
    if not raw_domains:
        website_host = urlsplit(website_url).hostname
        raw_domains = [website_host] if website_host else []
    valid_domains = tuple(dict.fromkeys(_check_domain(domain, problems) for domain in raw_domains))
    if len(valid_domains) > _VALID_DOMAINS_MAX:
        problems.append(f"Teams accepts at most {_VALID_DOMAINS_MAX} valid domains, got {len(valid_domains)}")

    accent_color = _pick(options.accent_color, environ, ENV_ACCENT_COLOR) or DEFAULT_ACCENT_COLOR
    if not _HEX_COLOR.match(accent_color):
        problems.append(f"accent colour {accent_color!r} must look like #0E6E78")

    bot_host = _pick(options.bot_host, environ, ENV_BOT_HOST)
    if bot_host is not None:
        bot_host = _check_domain(bot_host, problems)
        if bot_host not in valid_domains:
            valid_domains = (*valid_domains, bot_host)

    if problems:
        raise ManifestConfigError(problems)
    return ManifestConfig(
        app_id=app_id,
        version=version,
        short_name=short_name,
        full_name=full_name,
        developer_name=developer_name,
        website_url=website_url,
        privacy_url=privacy_url,
        terms_url=terms_url,
        valid_domains=valid_domains,
        accent_color=accent_color.upper(),
        defaults_used=tuple(defaults_used),
        bot_host=bot_host,
    )
