"""Settings come from the environment, with safe local defaults and a clear message for each mistake."""

from __future__ import annotations

from datetime import time
from pathlib import Path

import pytest
import yaml

from bot.config import ConfigError, Settings
from bot.wiring import build_runtime, load_policies

APP = {"MicrosoftAppId": "11111111-2222-3333-4444-555555555555", "MicrosoftAppPassword": "invented-password"}


def test_empty_environment_gives_a_local_bot_on_loopback_with_a_sqlite_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)

    settings = Settings.from_env({})

    assert settings.local_mode
    assert settings.host == "127.0.0.1"
    assert settings.port == 3978
    assert settings.database_url == f"sqlite+aiosqlite:///{tmp_path.resolve()}/var/challenge-bot.db"
    assert not (tmp_path / "var").exists()  # made where the engine is made, not here
    assert settings.max_body_bytes == 256 * 1024
    assert settings.app_type == "MultiTenant"
    assert settings.policy_names == ("durham", "rochdale")
    assert settings.due_time is None  # each policy keeps its own due time
    assert (settings.smtp_host, settings.smtp_port, settings.smtp_starttls) == (None, 587, True)


def test_app_id_turns_local_mode_off_and_listens_on_all_interfaces() -> None:
    settings = Settings.from_env(APP)

    assert not settings.local_mode
    assert settings.host == "0.0.0.0"


def test_host_can_be_chosen_when_authenticated() -> None:
    assert Settings.from_env({**APP, "HOST": "10.1.2.3"}).host == "10.1.2.3"


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "localhost"])
def test_local_mode_accepts_only_loopback_hosts(host: str) -> None:
    assert Settings.from_env({"HOST": host}).host == host


def test_local_mode_refuses_to_listen_on_every_interface() -> None:
    with pytest.raises(ConfigError, match=r"HOST=0\.0\.0\.0 would expose an unauthenticated bot"):
        Settings.from_env({"HOST": "0.0.0.0"})


def test_every_problem_is_reported_at_once() -> None:
    environ = {"PORT": "eighty", "MAX_BODY_BYTES": "12", "DUE_TIME": "5pm", "SMTP_STARTTLS": "maybe"}

    with pytest.raises(ConfigError) as raised:
        Settings.from_env(environ)

    problems = "\n".join(raised.value.problems)
    assert "PORT='eighty' is not a whole number" in problems
    assert "MAX_BODY_BYTES=12 must be between" in problems
    assert "DUE_TIME='5pm' must be a 24-hour time" in problems
    assert "SMTP_STARTTLS='maybe' must be true or false" in problems


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"MicrosoftAppId": "x"}, "MicrosoftAppPassword is required for MicrosoftAppType=MultiTenant"),
        ({**APP, "MicrosoftAppType": "singletenant"}, "MicrosoftAppTenantId is required"),
        ({"MicrosoftAppId": "x", "MicrosoftAppType": "UserAssignedMSI"}, "MicrosoftAppTenantId is required"),
        ({**APP, "MicrosoftAppType": "Personal"}, "MicrosoftAppType='Personal' must be one of"),
        ({"MicrosoftAppPassword": "p"}, "MicrosoftAppId is not"),
        ({"POLICIES": " , "}, "POLICIES is empty"),
        ({"POLICIES": "durham,Durham"}, "names a policy twice"),
        ({"POLICIES": "durham,dur ham"}, "POLICIES entry 'dur ham' is not a policy name"),
        ({"POLICIES": "durham,../etc"}, "POLICIES entry '../etc' is a path but not to a .yaml or .yml file"),
        ({"POLICIES": "durham,/nowhere/ours.yaml"}, "POLICIES entry '/nowhere/ours.yaml' is not a file"),
        ({"POLICIES": "durham,ours.yml"}, "POLICIES entry 'ours.yml' is not a file"),
        ({"SMTP_HOST": "smtp.example.org"}, "SMTP_FROM is required"),
        ({"SMTP_FROM": "bot.example.org"}, "is not an email address"),
        ({"SMTP_USER": "bot"}, "SMTP_USER and SMTP_PASSWORD must be set together"),
        ({"DUE_TIME": "24:00"}, "must be a 24-hour time"),
        ({**APP, "TRIAL_CLOCK_FILE": "/tmp/clock.json"}, "TRIAL_CLOCK_FILE is for a local trial only"),
        ({"TRIAL_CLOCK_FILE": "var/try/clock.json"}, "must be an absolute path"),
        ({"TRIAL_CLOCK_FILE": "/nowhere/at/all/clock.json"}, "the folder '/nowhere/at/all' does not exist"),
        ({"TRIAL_CLOCK_FILE": "/tmp"}, "is a folder, not a file"),
    ],
)
def test_inconsistent_settings_are_refused_with_a_reason(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        Settings.from_env(environ)

    assert any(message in problem for problem in raised.value.problems), raised.value.problems


def test_deployment_settings_are_read() -> None:
    settings = Settings.from_env(
        {
            **APP,
            "MicrosoftAppType": "SingleTenant",
            "MicrosoftAppTenantId": "tenant-1",
            "PORT": "8080",
            "DATABASE_URL": "postgresql+asyncpg://bot@db/challenges",
            "MAX_BODY_BYTES": "65536",
            "POLICIES": "Rochdale",
            "DUE_TIME": "9:30",
            "SMTP_HOST": "smtp.example.org",
            "SMTP_PORT": "465",
            "SMTP_STARTTLS": "false",
            "SMTP_USER": "bot",
            "SMTP_PASSWORD": "invented-smtp-password",
            "SMTP_FROM": "challenges@example.org",
        }
    )

    assert settings.app_type == "SingleTenant"
    assert settings.app_tenant_id == "tenant-1"
    assert settings.port == 8080
    assert settings.database_url == "postgresql+asyncpg://bot@db/challenges"
    assert settings.max_body_bytes == 65536
    assert settings.policy_names == ("rochdale",)
    assert settings.due_time == time(9, 30)
    assert (settings.smtp_host, settings.smtp_port, settings.smtp_starttls) == (
        "smtp.example.org",
        465,
        False,
    )
    assert (settings.smtp_user, settings.smtp_password) == ("bot", "invented-smtp-password")
    assert settings.smtp_from == "challenges@example.org"


def test_sdk_config_has_the_names_botbuilder_reads() -> None:
    settings = Settings.from_env(
        {**APP, "MicrosoftAppType": "SingleTenant", "MicrosoftAppTenantId": "tenant-1"}
    )

    sdk = settings.to_sdk_config()

    assert (sdk.APP_ID, sdk.APP_PASSWORD, sdk.APP_TYPE, sdk.APP_TENANTID) == (
        APP["MicrosoftAppId"],
        "invented-password",
        "SingleTenant",
        "tenant-1",
    )


def test_secrets_stay_out_of_the_printed_settings() -> None:
    settings = Settings.from_env({**APP, "SMTP_USER": "bot", "SMTP_PASSWORD": "invented-smtp-password"})

    assert "invented-password" not in repr(settings)
    assert "invented-smtp-password" not in repr(settings)
    assert "invented-password" not in repr(settings.to_sdk_config())


def _own_policy(folder: Path, **changes: str) -> Path:
    """A partnership's own policy file: a copy of Durham's with `changes` made, in `folder`."""
    data = yaml.safe_load(Path("process/policies/durham.yaml").read_text(encoding="utf-8"))
    data.update(changes)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "ours.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def test_policies_may_be_files_as_well_as_shipped_names(tmp_path: Path) -> None:
    ours = _own_policy(tmp_path / "xyz", id="ours", reference_prefix="OUR")

    settings = Settings.from_env({"POLICIES": f"durham,{ours}"})
    policies = load_policies(settings)

    assert settings.policy_names == ("durham", str(ours))
    assert [(p.id, p.reference_prefix) for p in policies] == [("durham", "DUR"), ("ours", "OUR")]


def test_a_policy_path_is_kept_as_written_and_may_be_relative(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _own_policy(tmp_path / "Policies", id="ours", reference_prefix="OUR")
    monkeypatch.chdir(tmp_path)

    settings = Settings.from_env({"POLICIES": "Policies/ours.yaml"})

    assert settings.policy_names == ("Policies/ours.yaml",)
    assert [p.id for p in load_policies(settings)] == ["ours"]


def test_the_same_policy_file_twice_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ours = _own_policy(tmp_path / "xyz", id="ours", reference_prefix="OUR")
    monkeypatch.chdir(tmp_path)

    with pytest.raises(ConfigError) as raised:
        Settings.from_env({"POLICIES": f"{ours},xyz/ours.yaml"})

    assert any("names a policy twice" in problem for problem in raised.value.problems)


def test_two_entries_holding_the_same_policy_id_are_refused_at_start_up(tmp_path: Path) -> None:
    copy = _own_policy(tmp_path / "xyz", reference_prefix="OUR")  # still id durham
    settings = Settings.from_env({"POLICIES": f"durham,rochdale,{copy}"})

    with pytest.raises(ConfigError) as raised:
        load_policies(settings)

    assert raised.value.problems == [
        f"POLICIES entries 'durham' and '{copy}' are both the policy 'durham': give each partnership's "
        "policy once, or give a copy its own id"
    ]


async def test_the_bot_runs_a_partnerships_own_policy_file_beside_a_shipped_one(tmp_path: Path) -> None:
    ours = _own_policy(tmp_path / "xyz", id="ours", reference_prefix="OUR", short_name="Ours")
    settings = Settings.from_env(
        {
            "POLICIES": f"durham,{ours}",
            "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}",
            "DIRECTORY_FILE": "none",
        }
    )

    runtime = await build_runtime(settings)
    try:
        assert sorted(runtime.service.policies) == ["durham", "ours"]
        assert runtime.service.policy("ours").short_name == "Ours"
    finally:
        await runtime.database.dispose()


def test_the_clock_is_the_real_one_unless_a_trial_names_its_shared_clock(tmp_path: Path) -> None:
    from datetime import UTC, datetime, timedelta

    from bot.wiring import make_clock
    from storage.clock import SharedClock

    assert Settings.from_env({}).trial_clock_file is None
    real = make_clock(Settings.from_env({}))
    assert not isinstance(real, SharedClock)
    assert abs(real() - datetime.now(UTC)) < timedelta(seconds=5)
    trial = Settings.from_env({"TRIAL_CLOCK_FILE": str(tmp_path / "clock.json")})
    assert trial.trial_clock_file == tmp_path / "clock.json"
    clock = make_clock(trial)
    assert isinstance(clock, SharedClock) and clock.path == tmp_path / "clock.json"
