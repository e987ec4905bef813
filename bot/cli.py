"""The command line: with no arguments it serves the bot; subcommands run admin tasks.

Each subcommand imports what it needs inside its handler, so `challenge-bot --help` stays instant and a
broken optional dependency of one command cannot stop the others.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.config import Settings
    from bot.playground import Account

Handler = Callable[[argparse.Namespace], int]


def _serve(args: argparse.Namespace) -> int:
    from bot.server import run_server

    return run_server()


def _settings_with_keys(*, make_local_key: bool = False) -> Settings:
    """The settings, with the data encryption keys in use (`bot/keys.py`): every command that reads or
    writes what is stored encrypted needs them. Only a command that may make the database makes local
    mode's key (`make_local_key`)."""
    from bot.config import Settings
    from bot.keys import use_data_keys

    settings = Settings.from_env()
    use_data_keys(settings, make_local=make_local_key)
    return settings


def _db_upgrade(args: argparse.Namespace) -> int:
    from storage.migrate import upgrade

    asyncio.run(upgrade(_settings_with_keys(make_local_key=True).database_url))
    print("database is at the newest schema")
    return 0


def _instant(value: str) -> datetime:
    """An ISO-8601 instant for `--now` (naive = UTC); a bad one is a usage error, not a traceback."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not an ISO-8601 instant, e.g. 2026-11-24T17:00:00+00:00"
        ) from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


_DURATION_PART = re.compile(r"(\d+)([wdhms])")
_DURATION_UNITS = {"w": "weeks", "d": "days", "h": "hours", "m": "minutes", "s": "seconds"}
#: The furthest one `--advance` moves the trial's clock: ten years, far beyond any procedure's deadlines.
MAX_ADVANCE = timedelta(days=3660)


def _duration(value: str) -> timedelta:
    """A duration for `--advance` such as 3d, 12h, 1w2d or 90m; a bad one is a usage error."""
    text = value.strip().lower()
    parts = _DURATION_PART.findall(text)
    if not text or "".join(number + unit for number, unit in parts) != text:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a duration: a number and a unit (w, d, h, m, s), e.g. 3d, 12h or 1d6h"
        )
    try:
        total = sum(
            (timedelta(**{_DURATION_UNITS[unit]: int(number)}) for number, unit in parts), timedelta(0)
        )
    except OverflowError:
        total = MAX_ADVANCE + timedelta(days=1)
    if not timedelta(0) < total <= MAX_ADVANCE:
        raise argparse.ArgumentTypeError(
            f"{value!r}: give a duration above zero and at most {MAX_ADVANCE.days}d"
        )
    return total


def _tick(args: argparse.Namespace) -> int:
    from bot.wiring import TickError, tick

    try:
        report = asyncio.run(
            tick(
                _settings_with_keys(make_local_key=args.create_database),
                args.now,
                advance=args.advance,
                create_database=args.create_database,
            )
        )
    except TickError as error:
        print(f"challenge-bot tick: {error}", file=sys.stderr)
        return 2
    print(report.summary())
    for untold in report.patterns_untold:
        print(f"challenge-bot tick: pattern alert: {untold}", file=sys.stderr)
    return 1 if report.delivery.failed or report.patterns_untold else 0


def _directory_import(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from bot.config import Settings
    from bot.directory_import import ImportReport, import_directory
    from bot.wiring import load_policies, open_database

    settings = Settings.from_env()

    async def run() -> ImportReport:
        database = await open_database(replace(settings, directory_file=None))
        try:
            return await import_directory(database, load_policies(settings), args.file, dry_run=args.dry_run)
        finally:
            await database.dispose()

    report = asyncio.run(run())
    failed = bool(report.problems)
    for line in report.lines(dry_run=args.dry_run):
        print(line, file=sys.stderr if failed else sys.stdout)
    if settings.directory_file is not None and not failed:
        import os

        why = (
            f"DIRECTORY_FILE is set ({settings.directory_file.name})"
            if os.environ.get("DIRECTORY_FILE", "").strip()
            else f"DIRECTORY_FILE is not set, so a bot in local mode loads the demo directory "
            f"({settings.directory_file.name})"
        )
        print(
            f"note: {why}: a start keeps this import while that file is unchanged, but if the file is edited "
            "the next start replaces the whole directory with it; set DIRECTORY_FILE=none where the directory "
            "is kept by import",
            file=sys.stderr,
        )
    return 1 if failed else 0


def _export(args: argparse.Namespace) -> int:
    from pathlib import Path

    from bot.export import ExportError, export_to_file

    try:
        exported = export_to_file(_settings_with_keys(), args.reference, args.format, Path(args.out))
    except ExportError as error:
        print(f"challenge-bot export: {error}", file=sys.stderr)
        return 2
    print(
        f"{exported.reference}: {exported.title} written to {args.out} ({args.format}, {len(exported.content)} bytes)"
    )
    return 0


def _audit_verify(args: argparse.Namespace) -> int:
    from bot.records import audit_verify

    return asyncio.run(audit_verify(_settings_with_keys(), args.reference))


def _retention_purge(args: argparse.Namespace) -> int:
    from bot.records import retention_purge

    return asyncio.run(
        retention_purge(_settings_with_keys(), dry_run=args.dry_run, now=args.now or datetime.now(UTC))
    )


def _keys_status(args: argparse.Namespace) -> int:
    from bot.config import Settings
    from bot.keys import keys_status

    return keys_status(Settings.from_env())


def _keys_rotate(args: argparse.Namespace) -> int:
    from bot.config import Settings
    from bot.keys import keys_rotate

    return keys_rotate(Settings.from_env())


def _keys_generate(args: argparse.Namespace) -> int:
    from bot.keys import keys_generate

    return keys_generate()


def _day(value: str) -> date:
    """A date for `report --since/--until` (YYYY-MM-DD); a bad one is a usage error."""
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a date: give YYYY-MM-DD, e.g. 2026-04-01"
        ) from None


def _report(args: argparse.Namespace) -> int:
    from bot.report_csv import run_report

    return run_report(args)


def _manifest_build(args: argparse.Namespace) -> int:
    from manifest.build import run_build

    return run_build(args)


def _policy_check(args: argparse.Namespace) -> int:
    from process.check import check_policy, summary

    result = check_policy(args.file, args.directory)
    for problem in result.problems:
        print(problem)
    if result.problems or result.policy is None:
        return 1
    print(f"{result.file}: no problems found ({summary(result.policy, args.directory)})")
    return 0


def _policy_simulate(args: argparse.Namespace) -> int:
    import json

    from process.directory_file import DirectoryError
    from process.policy import PolicyError
    from process.simulate import ScenarioError, simulate_files

    try:
        result = simulate_files(args.file, args.directory, args.scenario)
    except (PolicyError, DirectoryError, ScenarioError) as error:
        print(f"policy simulate: cannot run the scenario:\n{error}", file=sys.stderr)
        return 2
    print(json.dumps(result.output, indent=2, ensure_ascii=False))
    for failure in result.failures:
        print(failure, file=sys.stderr)
    return 0 if result.ok else 1


def _playground_accounts(args: argparse.Namespace) -> list[Account] | None:
    """The directory's Playground accounts, or None (after saying why) when the directory cannot be used."""
    from bot.playground import accounts
    from process.directory_file import DEMO_DIRECTORY, DirectoryError, load_directory_file

    try:
        return accounts(load_directory_file(args.directory or DEMO_DIRECTORY))
    except DirectoryError as error:
        print(f"challenge-bot playground: {error}", file=sys.stderr)
        return None


def _playground_people(args: argparse.Namespace) -> int:
    from bot.playground import table

    everyone = _playground_accounts(args)
    if everyone is None:
        return 2
    print(table(everyone))
    return 0


def _playground_write(args: argparse.Namespace) -> int:
    from pathlib import Path

    from bot.playground import UnknownPerson, choose, write_config

    everyone = _playground_accounts(args)
    if everyone is None:
        return 2
    try:
        chosen = choose(everyone, args.people)
    except UnknownPerson as error:
        print(f"challenge-bot playground: {error}", file=sys.stderr)
        return 2
    for account in chosen:
        try:
            write_config(account, everyone, Path(args.out) / account.id)
        except (ValueError, OSError) as error:
            print(f"challenge-bot playground: {error}", file=sys.stderr)
            return 2
        print(f"{account.id}\t{account.person.name}\t{account.describe()}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """Every subcommand in one place, so the help text lists them all."""
    parser = argparse.ArgumentParser(
        prog="challenge-bot",
        description="Professional challenge bot. With no command it starts the bot server.",
    )
    parser.set_defaults(handler=_serve)
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    serve = commands.add_parser("serve", help="start the bot server (the default)")
    serve.set_defaults(handler=_serve)

    db = commands.add_parser("db", help="database administration")
    db_commands = db.add_subparsers(title="db commands", metavar="DB_COMMAND", required=True)
    db_up = db_commands.add_parser("upgrade", help="apply every pending migration")
    db_up.set_defaults(handler=_db_upgrade)

    tick = commands.add_parser(
        "tick", help="run one pass of the deadline clock (reminders, deadlines, email delivery) and exit"
    )
    when = tick.add_mutually_exclusive_group()
    when.add_argument(
        "--now",
        type=_instant,
        metavar="ISO-8601",
        help="the instant to run at (default: now; naive = UTC); in a trial, moves the shared clock there, "
        "and an instant before it is refused",
    )
    when.add_argument(
        "--advance",
        type=_duration,
        metavar="DURATION",
        help="a trial only (TRIAL_CLOCK_FILE): move the clock shared with the running bot forward, e.g. 3d, "
        "12h, 1w, 1d6h, and run at the new instant",
    )
    tick.add_argument(
        "--create-database",
        action="store_true",
        help="make the SQLite database if it does not exist (without it, a missing or empty one is refused, "
        "since a tick there finds nothing)",
    )
    tick.set_defaults(handler=_tick)

    export = commands.add_parser(
        "export", help="a challenge as its partnership's own form (DOCX or PDF), from DATABASE_URL"
    )
    export.add_argument("reference", help="the challenge's reference, e.g. DUR-2026-0042")
    export.add_argument("--format", choices=("docx", "pdf"), default="pdf", help="the file's format (pdf)")
    export.add_argument("--out", required=True, help="the file to write")
    export.set_defaults(handler=_export)

    audit = commands.add_parser("audit", help="the chronology's hash chains")
    audit_commands = audit.add_subparsers(title="audit commands", metavar="AUDIT_COMMAND", required=True)
    verify = audit_commands.add_parser(
        "verify",
        help="check every challenge's chronology (or one) and the partnerships' chains (exit 1 if broken)",
        description="Recompute the hash chains of the chronology: each challenge's events and each "
        "partnership's chain of anchors. Prints OK with what was checked, or each broken chain's first "
        "broken event (reference, number, what is wrong) and exits 1; a reference that names no challenge "
        "exits 2.",
    )
    verify.add_argument("reference", nargs="?", metavar="REF", help="one challenge, e.g. DUR-2026-0042")
    verify.set_defaults(handler=_audit_verify)

    keys = commands.add_parser("keys", help="the data encryption keys (CHALLENGE_DATA_KEY)")
    keys_commands = keys.add_subparsers(title="keys commands", metavar="KEYS_COMMAND", required=True)
    keys_commands.add_parser(
        "status",
        help="how many data keys each key-encryption key wraps, and which of them this environment opens",
    ).set_defaults(handler=_keys_status)
    keys_commands.add_parser(
        "rotate",
        help="re-wrap every data key wrapped by a previous key (CHALLENGE_DATA_KEY_PREVIOUS) under the "
        "current one (CHALLENGE_DATA_KEY), in short batches while bots run; safe to run again",
    ).set_defaults(handler=_keys_rotate)
    keys_commands.add_parser(
        "generate", help="print a new random key (base64 of 32 bytes) for CHALLENGE_DATA_KEY"
    ).set_defaults(handler=_keys_generate)

    retention = commands.add_parser("retention", help="erase what ended challenges no longer need to keep")
    retention_commands = retention.add_subparsers(
        title="retention commands", metavar="RETENTION_COMMAND", required=True
    )
    purge = retention_commands.add_parser(
        "purge",
        help="erase the child's details and the words of challenges ended longer ago than the policy's "
        "retention period",
        description="For each configured policy with a retention period, erase the child's details and "
        "everything written of challenges that ended (resolved, withdrawn or closed) longer ago than it, "
        "keeping the anonymous facts monitoring needs, and record the purge in each chronology. A policy "
        "without a retention period keeps every record.",
    )
    purge.add_argument("--dry-run", action="store_true", help="list what would be erased; change nothing")
    purge.add_argument(
        "--now",
        type=_instant,
        metavar="ISO-8601",
        help="the instant to count the periods back from (default: now)",
    )
    purge.set_defaults(handler=_retention_purge)

    policy = commands.add_parser("policy", help="check a partnership's policy file before it goes live")
    policy_commands = policy.add_subparsers(title="policy commands", metavar="POLICY_COMMAND", required=True)
    check = policy_commands.add_parser(
        "check",
        help="list every problem with a policy file, one per line (exit 1 if any)",
        description="Check a policy file: YAML, every schema problem, and whether the procedure can work with "
        "the directory (with --directory): job roles that may raise, roles nobody holds, roles that must act "
        "but only a mailbox holds. Prints FILE: field PATH: reason for each problem.",
    )
    check.add_argument("file", metavar="FILE", help="the policy file (or a shipped policy's name: durham)")
    check.add_argument(
        "--directory", metavar="DIRECTORY_FILE", help="a directory file to check the roles against"
    )
    check.set_defaults(handler=_policy_check)
    simulate = policy_commands.add_parser(
        "simulate",
        help="run a scenario through the engine and print its timeline as JSON (exit 1 if an expect fails)",
        description="Raise a challenge as a person, let people act and time pass, as the scenario says, "
        "through the real engine and the policy's deadlines; print the timeline as JSON. Expectations in the "
        "scenario that do not hold are printed on stderr and the exit status is 1. See docs/SCENARIOS.md.",
    )
    simulate.add_argument("file", metavar="FILE", help="the policy file (or a shipped policy's name: durham)")
    simulate.add_argument(
        "--directory", metavar="DIRECTORY_FILE", required=True, help="the directory file of the people"
    )
    simulate.add_argument("--scenario", metavar="SCENARIO", required=True, help="the scenario file (YAML)")
    simulate.set_defaults(handler=_policy_simulate)

    playground = commands.add_parser(
        "playground", help="accounts for trying the bot in the Microsoft 365 Agents Playground"
    )
    playground_commands = playground.add_subparsers(
        title="playground commands", metavar="PLAYGROUND_COMMAND", required=True
    )
    people = playground_commands.add_parser(
        "people", help="list the people one can be in the Playground (id, name, who they are)"
    )
    accounts = playground_commands.add_parser(
        "accounts",
        help="write a Playground config file for each person named, OUT/ID/.m365agentsplayground.yml",
        description="Write the Playground's config file making each named person (by id, as `playground "
        "people` lists them) its current user, into OUT/ID/; a Playground started in that folder is that "
        "person's Teams. Prints ID, name and who they are, tab-separated, one line per person.",
    )
    accounts.add_argument("people", nargs="+", metavar="ID", help="a person's id, e.g. alex or ruth")
    accounts.add_argument("--out", required=True, metavar="FOLDER", help="where to write the folders")
    for command in (people, accounts):
        command.add_argument(
            "--directory",
            metavar="DIRECTORY_FILE",
            help="the directory file (default: the invented demo directory)",
        )
    people.set_defaults(handler=_playground_people)
    accounts.set_defaults(handler=_playground_write)

    directory = commands.add_parser("directory", help="the directory of agencies, people and contacts")
    directory_commands = directory.add_subparsers(
        title="directory commands", metavar="DIRECTORY_COMMAND", required=True
    )
    directory_import = directory_commands.add_parser(
        "import",
        help="replace the directory of the partnerships a .csv or .xlsx file names (docs/DIRECTORY.md)",
        description="Check every row of a directory spreadsheet (agencies, people, escalation contacts, "
        "partnership posts) and, if there is no problem, replace the stored directory of the partnerships it "
        "names in one transaction; a running bot picks it up without a restart. Every problem is printed, "
        "naming its row and column, and nothing is written (exit 1). See docs/DIRECTORY.md.",
    )
    directory_import.add_argument("file", metavar="FILE", help="the directory file, .csv or .xlsx")
    directory_import.add_argument(
        "--dry-run", action="store_true", help="show what would be added, changed and removed; write nothing"
    )
    directory_import.set_defaults(handler=_directory_import)

    report = commands.add_parser(
        "report", help="the partnerships' monitoring figures as CSV for spreadsheets"
    )
    report.add_argument("--since", type=_day, required=True, help="the first day of the period (YYYY-MM-DD)")
    report.add_argument("--until", type=_day, help="the last day of the period (default: today)")
    report.add_argument(
        "--partnership", metavar="ID", help="one partnership's policy id (default: every one)"
    )
    report.add_argument("--csv", required=True, metavar="FILE", help="the CSV file to write (- for stdout)")
    report.set_defaults(handler=_report)

    manifest = commands.add_parser("manifest", help="the Teams app package")
    manifest_commands = manifest.add_subparsers(
        title="manifest commands", metavar="MANIFEST_COMMAND", required=True
    )
    build = manifest_commands.add_parser(
        "build",
        help="write the Teams app package (manifest and icons in a zip) to upload to Teams",
        description="Write the Teams app package. Each option falls back to the environment variable "
        "named in its help, then to a default; the developer URLs default to example.org addresses, fine "
        "for a trial tenant but to be set before publishing.",
    )
    build.add_argument("--app-id", metavar="GUID", help="the bot's Microsoft App ID (env MANIFEST_APP_ID)")
    build.add_argument("--out", default="app.zip", help="where to write the zip (default: app.zip)")
    build.add_argument(
        "--app-version", help="package version like 1.2.0 (env MANIFEST_APP_VERSION; default: the project's)"
    )
    build.add_argument("--name", help="short app name, 30 characters at most (env MANIFEST_NAME)")
    build.add_argument("--full-name", help="full app name, 100 characters at most (env MANIFEST_FULL_NAME)")
    build.add_argument(
        "--developer-name", help="the publisher, e.g. the partnership (env MANIFEST_DEVELOPER_NAME)"
    )
    build.add_argument("--website-url", help="the publisher's https:// page (env MANIFEST_WEBSITE_URL)")
    build.add_argument(
        "--privacy-url", help="privacy notice (env MANIFEST_PRIVACY_URL; default: website URL + /privacy)"
    )
    build.add_argument(
        "--terms-url", help="terms of use (env MANIFEST_TERMS_URL; default: website URL + /terms)"
    )
    build.add_argument(
        "--valid-domain",
        action="append",
        metavar="DOMAIN",
        help="a domain the app may open, repeatable (env MANIFEST_VALID_DOMAINS, comma-separated; "
        "default: the website's host)",
    )
    build.add_argument("--accent-color", metavar="#RRGGBB", help="tile colour (env MANIFEST_ACCENT_COLOR)")
    build.add_argument(
        "--bot-host",
        metavar="HOST",
        help="the bot's public host name: adds the monitoring dashboard tab served from it, with SSO "
        "(env MANIFEST_BOT_HOST)",
    )
    build.set_defaults(handler=_manifest_build)

    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse `argv` (default: the process arguments) and run the chosen command."""
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    handler: Handler = args.handler
    if handler is _serve:
        return handler(args)
    try:
        return handler(args)
    except Exception as error:
        explained = _operator_error(error)
        if explained is None:
            raise
        print(f"challenge-bot: {explained}", file=sys.stderr)
        return 2


def _operator_error(error: Exception) -> str | None:
    """What an operator can act on, for an error of the configuration or the database connection (a bad
    `DATABASE_URL`, a database server that is down or has no such database); None for anything else."""
    import socket

    from sqlalchemy.exc import DBAPIError

    from bot.config import ConfigError
    from storage.crypto import EncryptionError

    if isinstance(error, ConfigError | EncryptionError):
        return str(error)
    if isinstance(error, DBAPIError | ConnectionError | socket.gaierror | TimeoutError):
        reason = getattr(error, "orig", None) or error
        return f"cannot use the database in DATABASE_URL: {reason}"
    return None
