"""Builds the Teams app package: manifest.json and the two icons in one zip, ready to upload to Teams.

The zip is byte-for-byte the same for the same configuration (fixed timestamps, fixed order), so a
rebuilt package can be compared with the one a tenant administrator approved.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from io import BytesIO
from pathlib import Path
from typing import Any

from manifest.config import ManifestConfig, ManifestConfigError, ManifestOptions, resolve_config

MANIFEST_FILE = "manifest.json"
COLOR_ICON_FILE = "color.png"
OUTLINE_ICON_FILE = "outline.png"
_TEMPLATE = "manifest.template.json"
_ZIP_TIMESTAMP = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class BotCommand:
    """One entry of the bot's command menu, which Teams shows when someone types in the compose box."""

    title: str
    description: str


COMMANDS: tuple[BotCommand, ...] = (
    BotCommand("help", "What this bot does and how the professional challenge process works"),
    BotCommand("raise", "Raise a professional challenge about another agency's decision or response"),
    BotCommand("my challenges", "The challenges you raised or must answer, with their stage and due date"),
    BotCommand("report", "The partnership's monitoring figures (partnership roles only)"),
)
"""The same commands in every scope: the bot understands each of them wherever it is installed."""


def _template() -> Any:
    return json.loads(resources.files("manifest").joinpath(_TEMPLATE).read_text(encoding="utf-8"))


def _fill(node: Any, values: Mapping[str, Any]) -> Any:
    """Replace every string that is exactly `{{name}}` with `values[name]`, which may be any JSON value."""
    if isinstance(node, dict):
        return {key: _fill(value, values) for key, value in node.items()}
    if isinstance(node, list):
        return [_fill(item, values) for item in node]
    if isinstance(node, str) and node.startswith("{{") and node.endswith("}}"):
        return values[node[2:-2]]
    return node


def render_manifest(config: ManifestConfig) -> dict[str, Any]:
    """The manifest as a dict: the template with this partnership's values filled in."""
    values: dict[str, Any] = {
        "appId": config.app_id,
        "version": config.version,
        "shortName": config.short_name,
        "fullName": config.full_name,
        "developerName": config.developer_name,
        "websiteUrl": config.website_url,
        "privacyUrl": config.privacy_url,
        "termsUrl": config.terms_url,
        "validDomains": list(config.valid_domains),
        "accentColor": config.accent_color,
        "commands": [{"title": c.title, "description": c.description} for c in COMMANDS],
    }
    manifest: dict[str, Any] = _fill(_template(), values)
    if config.bot_host is not None:
        manifest.update(dashboard_tab(config.app_id, config.bot_host))
    return manifest


#: The dashboard tab's entity id and the path the bot serves it on.
DASHBOARD_ENTITY = "monitoring"
DASHBOARD_PATH = "/dashboard"


def dashboard_tab(app_id: str, host: str) -> dict[str, Any]:
    """The monitoring dashboard as a personal tab on the bot's host, and the app's SSO resource
    (`api://<host>/<app id>`, the Application ID URI to set on the bot's Entra app registration) so the tab
    can get a token for it."""
    return {
        "staticTabs": [
            {
                "entityId": DASHBOARD_ENTITY,
                "name": "Monitoring",
                "contentUrl": f"https://{host}{DASHBOARD_PATH}?inTeams=1",
                "websiteUrl": f"https://{host}{DASHBOARD_PATH}",
                "scopes": ["personal"],
            }
        ],
        "webApplicationInfo": {"id": app_id, "resource": f"api://{host}/{app_id}"},
    }


def build_package(config: ManifestConfig) -> bytes:
    """The app package as zip bytes: manifest.json, color.png and outline.png at the top level."""
    from manifest.icons import color_icon_png, outline_icon_png

    manifest = render_manifest(config)
    files = {
        MANIFEST_FILE: (json.dumps(manifest, indent=2, ensure_ascii=False) + "\n").encode("utf-8"),
        COLOR_ICON_FILE: color_icon_png(config.accent_color),
        OUTLINE_ICON_FILE: outline_icon_png(),
    }
    buffer = BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as package:
        for name, data in files.items():
            entry = zipfile.ZipInfo(name, date_time=_ZIP_TIMESTAMP)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o644 << 16
            package.writestr(entry, data)
    return buffer.getvalue()


def write_package(config: ManifestConfig, out: Path) -> int:
    """Write the package to `out` (replacing it atomically) and return its size in bytes."""
    data = build_package(config)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    partial.write_bytes(data)
    partial.replace(out)
    return len(data)


def options_from_args(args: argparse.Namespace) -> ManifestOptions:
    """The `manifest build` command-line values, as the config resolver takes them."""
    return ManifestOptions(
        app_id=args.app_id,
        version=args.app_version,
        short_name=args.name,
        full_name=args.full_name,
        developer_name=args.developer_name,
        website_url=args.website_url,
        privacy_url=args.privacy_url,
        terms_url=args.terms_url,
        valid_domains=args.valid_domain or (),
        accent_color=args.accent_color,
        bot_host=getattr(args, "bot_host", None),
    )


def run_build(args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> int:
    """The `challenge-bot manifest build` command: 0 when the package is written, 2 on bad input."""
    try:
        config = resolve_config(options_from_args(args), os.environ if environ is None else environ)
    except ManifestConfigError as error:
        print("manifest build: cannot build the app package:", file=sys.stderr)
        for problem in error.problems:
            print(f"  - {problem}", file=sys.stderr)
        return 2
    out = Path(args.out)
    size = write_package(config, out)
    print(
        f"wrote {out} ({size} bytes): {config.short_name} {config.version}, app id {config.app_id}, "
        f"valid domains {', '.join(config.valid_domains)}"
    )
    if config.defaults_used:
        print(
            f"note: the {', '.join(config.defaults_used)} are example defaults; set them (see "
            "`challenge-bot manifest build --help`) before you publish the app to your organisation",
            file=sys.stderr,
        )
    return 0
