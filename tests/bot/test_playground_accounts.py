"""The Playground accounts a trial opens Teams with, made from the demo directory, and `try.sh --people`.

No browser here: the config files are checked for what the Playground's schema demands, and for being the
person the bot will recognise; `tests/e2e/test_playground_people.py` starts the Playground on each of them.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml

from bot.cli import main
from bot.playground import CONFIG_NAME, PLAYGROUND_TENANT, UnknownPerson, accounts, choose, config
from process.directory_file import load_directory_file

REPO = Path(__file__).resolve().parents[2]
#: The Playground's own default users, as `GET /_internal/v1/config` of a Playground with no file lists them.
PLAYGROUND_DEFAULTS = {
    "user-id-0": ("Alex Wilber", "00000000-0000-0000-0000-0000000000020"),
    "user-id-1": ("Megan Bowen", "00000000-0000-0000-0000-0000000000021"),
    "user-id-2": ("Adele Vance", "00000000-0000-0000-0000-0000000000022"),
    "user-id-3": ("Isaiah Langer", "00000000-0000-0000-0000-0000000000023"),
    "user-id-4": ("Patti Fernandez", "00000000-0000-0000-0000-0000000000024"),
    "user-id-5": ("Lynne Robbins", "00000000-0000-0000-0000-0000000000025"),
}
NEEDS_VENV = pytest.mark.skipif(
    not (REPO / ".venv" / "bin" / "python").exists(), reason="try.sh runs scripts/install.sh's .venv"
)
USER_KEYS = {"id", "name", "userPrincipleName", "aadObjectId", "givenName", "surname", "email"}


def test_every_demo_person_of_both_partnerships_has_an_account_the_bot_recognises() -> None:
    directory = load_directory_file()
    everyone = accounts(directory)
    assert [a.id for a in everyone] == list(directory.people)
    assert {a.partnership for a in everyone} == {"Durham", "Rochdale"}
    assert len({a.person.aad_object_id for a in everyone}) == len(everyone)
    for account in everyone:
        me = config(account, everyone)["currentUser"]
        assert directory.person_by_aad(me["aadObjectId"]) == account.person


def test_each_config_file_is_what_the_playground_schema_asks_for() -> None:
    everyone = accounts(load_directory_file())
    seen_chats: set[str] = set()
    for account in everyone:
        file = config(account, everyone)
        assert set(file) == {
            "version", "tenantId", "bot", "currentUser", "users", "personalChat", "groupChat", "team"
        }  # fmt: skip
        assert file["version"] == "0.1.1" and file["tenantId"] == PLAYGROUND_TENANT
        users = [file["currentUser"], *file["users"]]
        assert len(file["users"]) == 5  # exactly five besides the current user
        assert all(set(user) == USER_KEYS and all(user.values()) for user in users)
        assert len({user["id"] for user in users}) == 6
        assert file["currentUser"]["aadObjectId"] not in {user["aadObjectId"] for user in file["users"]}
        chats = [file["personalChat"]["id"], file["groupChat"]["id"], file["team"]["id"]]
        chats += [channel["id"] for channel in file["team"]["channels"]]
        assert len(set(chats)) == len(chats) and not seen_chats & set(chats)  # no two windows share a chat
        seen_chats |= set(chats)


def test_the_first_six_keep_the_playgrounds_own_user_ids_so_every_window_agrees_who_is_who() -> None:
    everyone = accounts(load_directory_file())
    for account in everyone:
        for user in [config(account, everyone)["currentUser"], *config(account, everyone)["users"]]:
            if user["id"] in PLAYGROUND_DEFAULTS:
                assert (user["name"], user["aadObjectId"]) == PLAYGROUND_DEFAULTS[user["id"]]
    alex = config(choose(everyone, ["alex"])[0], everyone)
    assert [u["name"] for u in alex["users"]] == [name for name, _ in list(PLAYGROUND_DEFAULTS.values())[1:]]
    ruth = config(choose(everyone, ["ruth"])[0], everyone)
    assert {u["name"] for u in ruth["users"]} <= {
        a.person.name for a in everyone if a.partnership == "Rochdale"
    }


def test_people_are_chosen_by_id_or_name_each_once_and_a_stranger_is_refused_with_the_list() -> None:
    everyone = accounts(load_directory_file())
    chosen = choose(everyone, ["ruth", "Alex Wilber", "RUTH", "sam"])
    assert [a.id for a in chosen] == ["ruth", "alex", "sam"]
    with pytest.raises(UnknownPerson) as refused:
        choose(everyone, ["alex", "rochdale-sw", ""])
    assert "'rochdale-sw'" in str(refused.value) and "choose from: alex, megan" in str(refused.value)


def test_the_accounts_command_writes_one_folder_per_person(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["playground", "accounts", "--out", str(tmp_path), "alex", "ruth", "helen"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split("\t")[:2] for line in lines] == [
        ["alex", "Alex Wilber"],
        ["ruth", "Ruth Okafor"],
        ["helen", "Helen Price"],
    ]
    assert "Head Teacher, Moorfield Primary School (Rochdale)" in lines[2]
    written = yaml.safe_load((tmp_path / "ruth" / CONFIG_NAME).read_text())
    assert written["currentUser"]["name"] == "Ruth Okafor"
    assert written["version"] == "0.1.1"
    assert main(["playground", "accounts", "--out", str(tmp_path / "x"), "nobody"]) == 2
    assert "no one called 'nobody'" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def _try(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "scripts/try.sh", *args],
        cwd=REPO,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@NEEDS_VENV
def test_try_people_lists_everyone_one_can_be(tmp_path: Path) -> None:
    result = _try("--people", env={"TRY_RUN_DIR": str(tmp_path / "run")})
    assert result.returncode == 0, result.stderr
    listed = result.stdout.splitlines()
    assert listed[0].split() == ["ID", "NAME", "WHO"]
    for person in load_directory_file().people.values():
        assert any(line.split()[:1] == [person.id] and person.name in line for line in listed), person.id
    assert any("Ruth Okafor" in line and "(Rochdale)" in line for line in listed)
    assert "bash scripts/try.sh --as ID" in result.stdout


@NEEDS_VENV
def test_try_as_a_stranger_stops_before_starting_anything_and_names_who_one_can_be(tmp_path: Path) -> None:
    result = _try(
        "--no-install", "--as", "alex", "--as", "rochdale-sw", env={"TRY_RUN_DIR": str(tmp_path / "run")}
    )
    assert result.returncode == 2
    assert "no one called 'rochdale-sw'" in result.stderr and "ruth" in result.stderr
    assert "--people" in result.stderr
    assert "Starting" not in result.stdout
    assert not (tmp_path / "run" / "alex").exists()


def test_a_directory_too_small_for_the_playground_is_refused_with_the_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = tmp_path / "small.yaml"
    directory.write_text(
        "agencies:\n  - {id: a, name: Agency A, partnership: durham}\n"
        "people:\n  - {id: kim, name: Kim Example, agency: a, aad_object_id: 11111111-0000-0000-0000-000000000001}\n"
    )
    out = tmp_path / "out"
    assert main(["playground", "accounts", "--directory", str(directory), "--out", str(out), "kim"]) == 2
    assert "needs 6 people with AAD object ids in the directory, and it has 1" in capsys.readouterr().err
    assert main(["playground", "people", "--directory", str(tmp_path / "missing.yaml")]) == 2
    assert "missing.yaml" in capsys.readouterr().err
