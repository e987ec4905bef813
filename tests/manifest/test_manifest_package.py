"""The Teams app package, checked against Microsoft's own manifest schema and Teams' icon rules."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import zipfile
from typing import Any

import pytest
from PIL import Image

from manifest.build import COMMANDS, build_package, render_manifest
from manifest.config import ManifestConfig, ManifestOptions, resolve_config
from tests.manifest.teams_schema import TeamsSchemas

APP_ID = "6f1c2a4e-0b7d-4c1e-9a55-3d2e8f0b1c7a"


def _config(**options: Any) -> ManifestConfig:
    return resolve_config(ManifestOptions(app_id=APP_ID, **options), environ={})


@pytest.fixture(scope="module")
def package() -> dict[str, bytes]:
    """The files of a package built with a realistic partnership configuration."""
    config = _config(
        developer_name="Northshire Safeguarding",
        website_url="https://www.northshire-scp.example/challenge",
        valid_domains=["bot.northshire-scp.example", "*.northshire-scp.example"],
    )
    with zipfile.ZipFile(io.BytesIO(build_package(config))) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def _errors(validator: Any, manifest: dict[str, Any]) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(manifest)]


def test_template_uses_the_newest_manifest_version_the_official_schema_package_ships(
    teams_schemas: TeamsSchemas,
) -> None:
    manifest = render_manifest(_config())
    newest = teams_schemas.manifest_versions[-1]

    assert manifest["manifestVersion"] == newest
    assert tuple(int(part) for part in newest.split(".")) >= (1, 24)
    assert manifest["$schema"].endswith(f"/v{newest}/MicrosoftTeams.schema.json")


def test_package_manifest_is_valid_against_the_official_teams_schema(
    teams_schemas: TeamsSchemas, package: dict[str, bytes]
) -> None:
    manifest = json.loads(package["manifest.json"])
    validator = teams_schemas.manifest_validator(manifest["manifestVersion"])

    assert _errors(validator, manifest) == []


def test_schema_check_refuses_a_manifest_teams_would_refuse(
    teams_schemas: TeamsSchemas, package: dict[str, bytes]
) -> None:
    manifest = json.loads(package["manifest.json"])
    validator = teams_schemas.manifest_validator(manifest["manifestVersion"])
    manifest["bots"][0]["scopes"] = ["channel"]
    manifest["manifestVersion"] = "1.23"
    manifest["accentColor"] = "teal"

    errors = _errors(validator, manifest)

    assert any(e.startswith("bots/0/scopes/0") for e in errors), errors
    assert any(e.startswith("manifestVersion") for e in errors), errors
    assert any(e.startswith("accentColor") for e in errors), errors


def test_package_holds_the_manifest_and_both_icons_at_its_top_level(package: dict[str, bytes]) -> None:
    manifest = json.loads(package["manifest.json"])

    assert sorted(package) == ["color.png", "manifest.json", "outline.png"]
    assert {manifest["icons"]["color"], manifest["icons"]["outline"]} == {"color.png", "outline.png"}


def test_app_id_is_both_the_manifest_id_and_the_bot_id(package: dict[str, bytes]) -> None:
    manifest = json.loads(package["manifest.json"])

    assert manifest["id"] == APP_ID
    assert [bot["botId"] for bot in manifest["bots"]] == [APP_ID]


def test_bot_works_in_personal_chat_teams_and_group_chats_with_the_same_command_menu(
    package: dict[str, bytes],
) -> None:
    bot = json.loads(package["manifest.json"])["bots"][0]
    menus = {
        scope: [c["title"] for c in menu["commands"]]
        for menu in bot["commandLists"]
        for scope in menu["scopes"]
    }

    assert sorted(bot["scopes"]) == ["groupChat", "personal", "team"]
    assert menus == {
        scope: ["help", "raise", "my challenges", "report"] for scope in ("personal", "team", "groupChat")
    }
    assert [c.title for c in COMMANDS] == ["help", "raise", "my challenges", "report"]


def test_partnership_details_come_from_configuration(package: dict[str, bytes]) -> None:
    manifest = json.loads(package["manifest.json"])

    assert manifest["developer"] == {
        "name": "Northshire Safeguarding",
        "websiteUrl": "https://www.northshire-scp.example/challenge",
        "privacyUrl": "https://www.northshire-scp.example/challenge/privacy",
        "termsOfUseUrl": "https://www.northshire-scp.example/challenge/terms",
    }
    assert manifest["validDomains"] == ["bot.northshire-scp.example", "*.northshire-scp.example"]
    assert manifest["name"] == {
        "short": "Professional challenge",
        "full": "Professional challenge and escalation",
    }
    assert "safeguarding" in manifest["description"]["short"].lower()


def test_color_icon_is_an_opaque_192_pixel_square(package: dict[str, bytes]) -> None:
    icon = Image.open(io.BytesIO(package["color.png"]))

    assert icon.format == "PNG"
    assert icon.size == (192, 192)
    alpha = icon.getchannel("A") if "A" in icon.getbands() else None
    assert alpha is None or alpha.getextrema() == (255, 255)
    assert len(icon.convert("RGB").getcolors(192 * 192) or []) > 2, "the colour icon shows an emblem"


def test_outline_icon_is_white_on_a_fully_transparent_32_pixel_square(package: dict[str, bytes]) -> None:
    icon = Image.open(io.BytesIO(package["outline.png"]))

    assert icon.format == "PNG"
    assert icon.size == (32, 32)
    assert icon.mode == "RGBA"
    raw = icon.tobytes()
    pixels = [tuple(raw[i : i + 4]) for i in range(0, len(raw), 4)]
    assert {pixel[:3] for pixel in pixels} == {(255, 255, 255)}, (
        "every pixel is white; alpha carries the shape"
    )
    border = [icon.getpixel((x, y)) for x in range(32) for y in range(32) if x in (0, 31) or y in (0, 31)]
    assert {pixel[3] for pixel in border} == {0}, "the background is fully transparent"
    solid = sum(1 for pixel in pixels if pixel[3] == 255)
    assert 60 < solid < 512, f"{solid} fully opaque pixels: the emblem should be visible, not a filled block"


def test_color_icon_background_follows_the_accent_color() -> None:
    with zipfile.ZipFile(io.BytesIO(build_package(_config(accent_color="#7A1F5C")))) as archive:
        icon = Image.open(io.BytesIO(archive.read("color.png"))).convert("RGB")
        manifest = json.loads(archive.read("manifest.json"))

    assert manifest["accentColor"] == "#7A1F5C"
    assert icon.getpixel((2, 2)) == (0x7A, 0x1F, 0x5C)


def test_the_same_configuration_builds_the_same_bytes() -> None:
    assert build_package(_config()) == build_package(_config())


def test_python_m_bot_manifest_build_writes_the_package(tmp_path: Any, teams_schemas: TeamsSchemas) -> None:
    out = tmp_path / "app.zip"
    result = subprocess.run(
        [sys.executable, "-m", "bot", "manifest", "build", "--app-id", APP_ID.upper(), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={"PATH": "/usr/bin:/bin"},
    )

    assert result.returncode == 0, result.stderr
    assert f"wrote {out}" in result.stdout
    assert "example defaults" in result.stderr
    with zipfile.ZipFile(out) as archive:
        manifest = json.loads(archive.read("manifest.json"))
    assert manifest["id"] == APP_ID
    assert _errors(teams_schemas.manifest_validator(manifest["manifestVersion"]), manifest) == []


def test_with_the_bots_host_the_dashboard_is_a_personal_tab_with_sso(teams_schemas: TeamsSchemas) -> None:
    manifest = render_manifest(_config(bot_host="bot.northshire-scp.example"))
    validator = teams_schemas.manifest_validator(manifest["manifestVersion"])
    assert _errors(validator, manifest) == []
    (tab,) = manifest["staticTabs"]
    assert tab["contentUrl"] == "https://bot.northshire-scp.example/dashboard?inTeams=1"
    assert tab["scopes"] == ["personal"]
    assert manifest["webApplicationInfo"] == {
        "id": APP_ID,
        "resource": f"api://bot.northshire-scp.example/{APP_ID}",
    }
    assert "bot.northshire-scp.example" in manifest["validDomains"]
    assert "report" in [c["title"] for c in manifest["bots"][0]["commandLists"][0]["commands"]]
    assert "staticTabs" not in render_manifest(_config())  # no host, no tab: its address would be unknown
    with pytest.raises(ValueError, match=r"valid domain"):
        _config(bot_host="https://bot.example/dashboard")
