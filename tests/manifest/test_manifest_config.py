"""Where the package's partnership details come from, and how bad ones are refused before Teams sees them."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.cli import main
from manifest.config import (
    DEFAULT_WEBSITE_URL,
    ManifestConfigError,
    ManifestOptions,
    resolve_config,
)

APP_ID = "6f1c2a4e-0b7d-4c1e-9a55-3d2e8f0b1c7a"


def _problems(options: ManifestOptions, environ: dict[str, str] | None = None) -> tuple[str, ...]:
    with pytest.raises(ManifestConfigError) as refused:
        resolve_config(options, environ or {})
    return refused.value.problems


def test_command_line_options_win_over_the_environment() -> None:
    config = resolve_config(
        ManifestOptions(
            app_id=APP_ID, developer_name="Northshire SCP", valid_domains=["bot.northshire.example"]
        ),
        {"MANIFEST_DEVELOPER_NAME": "Southshire SCP", "MANIFEST_VALID_DOMAINS": "bot.southshire.example"},
    )

    assert config.developer_name == "Northshire SCP"
    assert config.valid_domains == ("bot.northshire.example",)


def test_environment_fills_what_the_command_line_leaves_out() -> None:
    config = resolve_config(
        ManifestOptions(),
        {
            "MANIFEST_APP_ID": APP_ID,
            "MANIFEST_APP_VERSION": "2.3.4",
            "MANIFEST_NAME": "Challenge",
            "MANIFEST_FULL_NAME": "Northshire professional challenge",
            "MANIFEST_DEVELOPER_NAME": "Northshire SCP",
            "MANIFEST_WEBSITE_URL": "https://northshire.example/scp",
            "MANIFEST_PRIVACY_URL": "https://northshire.example/privacy-notice",
            "MANIFEST_TERMS_URL": "https://northshire.example/terms-of-use",
            "MANIFEST_VALID_DOMAINS": "bot.northshire.example, *.northshire.example",
            "MANIFEST_ACCENT_COLOR": "#123abc",
        },
    )

    assert (config.app_id, config.version, config.short_name) == (APP_ID, "2.3.4", "Challenge")
    assert config.full_name == "Northshire professional challenge"
    assert config.privacy_url == "https://northshire.example/privacy-notice"
    assert config.terms_url == "https://northshire.example/terms-of-use"
    assert config.valid_domains == ("bot.northshire.example", "*.northshire.example")
    assert config.accent_color == "#123ABC"
    assert config.defaults_used == ()


def test_defaults_build_a_trial_package_and_say_which_details_are_examples() -> None:
    config = resolve_config(ManifestOptions(app_id=APP_ID), {})

    assert config.website_url == DEFAULT_WEBSITE_URL
    assert config.privacy_url == DEFAULT_WEBSITE_URL + "/privacy"
    assert config.terms_url == DEFAULT_WEBSITE_URL + "/terms"
    assert config.valid_domains == ("www.example.org",)
    assert config.short_name == "Professional challenge"
    assert set(config.defaults_used) == {"developer name", "website URL", "privacy URL", "terms of use URL"}


def test_privacy_and_terms_default_to_pages_under_the_partnership_website() -> None:
    config = resolve_config(ManifestOptions(app_id=APP_ID, website_url="https://northshire.example/scp/"), {})

    assert config.privacy_url == "https://northshire.example/scp/privacy"
    assert config.terms_url == "https://northshire.example/scp/terms"
    assert config.valid_domains == ("northshire.example",)
    assert config.defaults_used == ("developer name",)


def test_repeated_valid_domains_are_kept_once_in_lower_case() -> None:
    config = resolve_config(
        ManifestOptions(
            app_id=APP_ID, valid_domains=["Bot.Northshire.example", "bot.northshire.example", "x.example"]
        ),
        {},
    )

    assert config.valid_domains == ("bot.northshire.example", "x.example")


def test_app_id_is_stored_in_lower_case() -> None:
    assert resolve_config(ManifestOptions(app_id=APP_ID.upper()), {}).app_id == APP_ID


@pytest.mark.parametrize(
    "app_id",
    [
        "not-a-guid",
        "6f1c2a4e0b7d4c1e9a553d2e8f0b1c7a",
        "{6f1c2a4e-0b7d-4c1e-9a55-3d2e8f0b1c7a}",
        "6f1c2a4e-0b7d",
    ],
)
def test_an_app_id_that_is_not_a_guid_is_refused(app_id: str) -> None:
    (problem,) = _problems(ManifestOptions(app_id=app_id))

    assert "is not a GUID" in problem and "Microsoft App ID" in problem


def test_a_missing_app_id_says_how_to_give_one() -> None:
    (problem,) = _problems(ManifestOptions())

    assert "--app-id" in problem and "MANIFEST_APP_ID" in problem


def test_the_nil_guid_is_refused() -> None:
    (problem,) = _problems(ManifestOptions(app_id="00000000-0000-0000-0000-000000000000"))

    assert "not a real app registration" in problem


def test_every_problem_is_reported_at_once() -> None:
    problems = _problems(
        ManifestOptions(
            app_id=APP_ID,
            version="1.0",
            short_name="A professional challenge bot for partnerships",
            developer_name="Northshire Safeguarding Children Partnership",
            website_url="http://northshire.example",
            privacy_url="northshire.example/privacy",
            valid_domains=["https://northshire.example/", "bad_domain.example", "localhost"],
            accent_color="teal",
        )
    )
    text = "\n".join(problems)

    assert "app version '1.0' must be three numbers" in text
    assert "longer than Teams allows (30 characters)" in text
    assert "longer than Teams allows (32 characters)" in text
    assert "the website URL must be an https:// address" in text
    assert "the privacy URL must be an https:// address" in text
    assert "the terms of use URL must be an https:// address, got 'http://northshire.example/terms'" in text
    assert "'https://northshire.example/' must be a bare host name" in text
    assert "'bad_domain.example' is not a host name" in text
    assert "'localhost' must be a bare host name" in text
    assert "accent colour 'teal'" in text
    assert len(problems) == 10


def test_cli_refuses_a_bad_app_id_with_exit_code_2_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MANIFEST_APP_ID", raising=False)
    out = tmp_path / "app.zip"

    code = main(["manifest", "build", "--app-id", "not-a-guid", "--out", str(out)])

    assert code == 2
    assert "app id 'not-a-guid' is not a GUID" in capsys.readouterr().err
    assert not out.exists()


def test_cli_writes_the_package_where_asked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("MANIFEST_WEBSITE_URL", "MANIFEST_VALID_DOMAINS"):
        monkeypatch.delenv(name, raising=False)
    out = tmp_path / "packages" / "northshire.zip"

    code = main(
        [
            "manifest",
            "build",
            "--app-id",
            APP_ID,
            "--out",
            str(out),
            "--website-url",
            "https://northshire.example",
            "--valid-domain",
            "bot.northshire.example",
            "--valid-domain",
            "northshire.example",
        ]
    )

    assert code == 0
    assert out.stat().st_size > 0
    assert "valid domains bot.northshire.example, northshire.example" in capsys.readouterr().out
