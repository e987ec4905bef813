"""The command line: with no arguments it serves the bot; subcommands run admin tasks.

Each subcommand imports what it needs inside its handler, so `challenge-bot --help` stays instant and a
broken optional dependency of one command cannot stop the others.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Sequence

Handler = Callable[[argparse.Namespace], int]


def _serve(args: argparse.Namespace) -> int:
    from bot.server import run_server

    return run_server()


def _db_upgrade(args: argparse.Namespace) -> int:
    from bot.config import Settings
    from storage.migrate import upgrade

    asyncio.run(upgrade(Settings.from_env().database_url))
    print("database is at the newest schema")
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

    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse `argv` (default: the process arguments) and run the chosen command."""
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    handler: Handler = args.handler
    return handler(args)
