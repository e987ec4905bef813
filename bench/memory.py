"""How much memory an idle bot process holds, and which imported packages it goes to.

The bot is started as it is served (`python -m bot`, local mode, the demo directory) on a fresh database
migrated with `db upgrade`, as a restarted bot finds it: a SQLite file, or with `--database postgres` a fresh
schema on PostgreSQL (dropped afterwards). The very first start on an empty SQLite file migrates it, and
loads Alembic to do so. Once `/readyz` answers, and a few seconds more, its /proc figures are read: VmRSS
(resident), RssAnon (heap and other private memory), RssFile (mapped files: the interpreter, shared
libraries), and PSS from smaps_rollup (resident memory with shared pages divided among the processes sharing
them). The floor is a bare Python process serving one aiohttp route, measured the same way.

With `--breakdown` the bot is started once more through a small launcher that lists the modules it loaded
when it is stopped; then, for each top-level package among them, a fresh interpreter imports that package's
modules (as the bot loaded them) and its resident memory is compared with a bare interpreter's. That is each
package's cost standing alone, what it pulls in included (botbuilder brings msrest and requests, say), so the
rows overlap and do not add up to the total. Then the same modules are imported in layers (the SDK,
SQLAlchemy, pydantic, holidays, Alembic, the form renderers, the rest, the project's own), each fresh
interpreter adding a layer to the ones before: what each layer adds given those below it, which does add up.

    .venv/bin/python bench/memory.py                       # SQLite, three rounds, the floor
    .venv/bin/python bench/memory.py --database postgres
    .venv/bin/python bench/memory.py --breakdown --json memory.json
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from storage.crypto import KEY_ENV, generate_key

REPO = Path(__file__).resolve().parents[1]
POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
FIELDS = ("VmRSS", "RssAnon", "RssFile")
PROJECT = ("bot", "dialogs", "storage", "process", "cards", "forms")
FORM_RENDERERS = ("fpdf", "docx", "fontTools", "PIL", "numpy", "lxml")

#: A bare aiohttp server answering /readyz: the least a Python web process can be.
FLOOR = """
import sys
from aiohttp import web

async def readyz(request):
    return web.json_response({"status": "ready"})

app = web.Application()
app.router.add_get("/readyz", readyz)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None)
"""

#: Runs `python -m bot` as `-m` would, and writes the names of the modules it loaded when it stops.
LAUNCHER = """
import atexit, os, runpy, sys

def _list_modules():
    with open(os.environ["MODULES_OUT"], "w") as out:
        out.write("\\n".join(sys.modules))

atexit.register(_list_modules)
sys.argv = ["bot"]
runpy.run_module("bot", run_name="__main__", alter_sys=True)
"""

#: Imports the named modules (errors ignored: some only import inside their package) and prints VmRSS in KiB.
IMPORTER = """
import importlib, sys
for name in sys.argv[1:]:
    try:
        importlib.import_module(name)
    except Exception:
        pass
for line in open("/proc/self/status"):
    if line.startswith("VmRSS:"):
        print(line.split()[1])
"""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def memory_of(pid: int) -> dict[str, int]:
    """VmRSS, RssAnon, RssFile and Pss of a process, in KiB."""
    figures: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in FIELDS:
            figures[name] = int(value.split()[0])
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            figures["Pss"] = int(line.split()[1])
    return figures


def wait_ready(process: subprocess.Popen[bytes], port: int, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the process stopped while starting (exit {process.returncode})")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"not ready within {timeout:.0f} s")


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def measure(command: list[str], env: dict[str, str], port: int, settle: float, log: Path) -> dict[str, int]:
    """Start `command`, wait until it is ready and `settle` seconds more, read its memory, stop it."""
    with log.open("wb") as out:
        process = subprocess.Popen(command, env=env, cwd=REPO, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_ready(process, port)
        time.sleep(settle)
        return memory_of(process.pid)
    finally:
        stop(process)


class Databases:
    """A fresh database for each bot start: a SQLite file in `folder`, or a PostgreSQL role and schema."""

    def __init__(self, kind: str, folder: Path) -> None:
        self.kind = kind
        self.folder = folder
        self.made: list[str] = []

    def fresh(self) -> str:
        """A database migrated to the head (`db upgrade`), as a restarted bot finds it."""
        name = f"memory_{uuid.uuid4().hex[:10]}"
        if self.kind == "sqlite":
            url = f"sqlite+aiosqlite:///{self.folder / (name + '.db')}"
        else:
            self._admin(f'CREATE ROLE "{name}" LOGIN', f'CREATE SCHEMA "{name}" AUTHORIZATION "{name}"')
            self.made.append(name)
            url = f"postgresql+asyncpg://{name}@{POSTGRES_URL.split('@', 1)[1]}"
        subprocess.run(
            [sys.executable, "-m", "bot", "db", "upgrade"],
            env={**os.environ, "DATABASE_URL": url},
            cwd=REPO,
            check=True,
            capture_output=True,
        )
        return url

    def drop_all(self) -> None:
        for name in self.made:
            self._admin(f'DROP SCHEMA IF EXISTS "{name}" CASCADE', f'DROP ROLE IF EXISTS "{name}"')
        self.made.clear()

    @staticmethod
    def _admin(*statements: str) -> None:
        import asyncio

        import asyncpg

        async def run() -> None:
            connection = await asyncpg.connect(POSTGRES_URL.replace("postgresql+asyncpg", "postgresql"))
            try:
                for statement in statements:
                    await connection.execute(statement)
            finally:
                await connection.close()

        asyncio.run(run())


def bot_env(database_url: str, port: int, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SMTP_", "Microsoft", "DIRECTORY_FILE"))}
    env.pop("TRIAL_CLOCK_FILE", None)
    return {**env, "DATABASE_URL": database_url, "PORT": str(port), **extra}


def imported_rss(modules: list[str]) -> int:
    output = subprocess.run(
        [sys.executable, "-c", IMPORTER, *modules], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout
    return int(output.split()[-1])


def breakdown(
    databases: Databases, folder: Path, settle: float
) -> tuple[list[dict[str, Any]], list[str], list[dict[str, Any]]]:
    """Each top-level package the served bot loaded, with its standalone cost in a fresh interpreter."""
    listing = folder / "modules.txt"
    port = free_port()
    env = bot_env(databases.fresh(), port, MODULES_OUT=str(listing))
    measure([sys.executable, "-c", LAUNCHER], env, port, settle, folder / "breakdown.log")
    loaded = [name for name in listing.read_text().split("\n") if name]
    baseline = [
        name
        for name in json.loads(
            subprocess.run(
                [sys.executable, "-c", "import json, sys; print(json.dumps(list(sys.modules)))"],
                cwd=REPO,
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        )
    ]
    groups: dict[str, list[str]] = {}
    for name in loaded:
        if name in baseline or name.startswith("__"):
            continue
        groups.setdefault(name.split(".")[0], []).append(name)
    bare = statistics.median(imported_rss([]) for _ in range(3))
    rows: list[dict[str, Any]] = []
    for package, modules in groups.items():
        cost = imported_rss(modules) - bare
        rows.append({"package": package, "modules": len(modules), "standalone_mb": round(cost / 1024, 1)})
    rows.sort(key=lambda row: -row["standalone_mb"])
    rows.insert(
        0, {"package": "(bare python)", "modules": len(baseline), "standalone_mb": round(bare / 1024, 1)}
    )
    everything = imported_rss([name for name in loaded if name not in baseline]) - bare
    rows.insert(
        0, {"package": "(all of them)", "modules": len(loaded), "standalone_mb": round(everything / 1024, 1)}
    )
    return rows, loaded, layered(loaded, baseline)


#: The layers of `layered`, in the order they are added; each holds the top-level packages named.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Bot Framework SDK (and aiohttp, msrest, requests, msal...)", ("botbuilder", "botframework")),
    ("SQLAlchemy (and aiosqlite, asyncpg)", ("sqlalchemy", "aiosqlite", "asyncpg")),
    ("pydantic", ("pydantic", "pydantic_core")),
    ("holidays", ("holidays",)),
    ("Alembic (and Mako)", ("alembic", "mako")),
    ("the form renderers (fpdf2, python-docx, fontTools, Pillow, numpy, lxml)", FORM_RENDERERS),
    ("the rest of the third-party and standard library", ()),
    ("the project (bot, dialogs, storage, process, cards, forms)", PROJECT),
)


def layered(loaded: list[str], baseline: list[str]) -> list[dict[str, Any]]:
    """The modules the bot loaded imported in layers, one fresh interpreter each, every layer on top of the
    ones before: what each layer adds given the ones below it (so these do add up, to the imports' total)."""
    modules = [name for name in loaded if name not in baseline and not name.startswith("__")]
    rows = []
    taken: list[str] = []
    previous = statistics.median(imported_rss([]) for _ in range(3))
    for label, packages in LAYERS:
        if packages:
            layer = [name for name in modules if name.split(".")[0] in packages]
        else:
            layer = [name for name in modules if name.split(".")[0] not in PROJECT and name not in taken]
        taken += [name for name in layer if name not in taken]
        now = imported_rss(taken)
        rows.append({"layer": label, "modules": len(layer), "adds_mb": round((now - previous) / 1024, 1)})
        previous = now
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--rounds", type=int, default=3, help="bot starts (and floor starts) measured (3)")
    parser.add_argument(
        "--settle", type=float, default=3.0, help="seconds idle after /readyz before reading (3)"
    )
    parser.add_argument("--breakdown", action="store_true", help="also the cost of each imported package")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE", help="extra bot setting")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args()

    os.environ.setdefault(KEY_ENV, generate_key())
    extra = dict(item.split("=", 1) for item in args.env)
    results: dict[str, Any] = {"database": args.database, "bot": [], "floor": []}
    with tempfile.TemporaryDirectory(prefix="memory-") as tmp:
        folder = Path(tmp)
        databases = Databases(args.database, folder)
        try:
            for round_ in range(args.rounds):
                port = free_port()
                results["floor"].append(
                    measure(
                        [sys.executable, "-c", FLOOR, str(port)],
                        dict(os.environ),
                        port,
                        args.settle,
                        folder / f"floor{round_}.log",
                    )
                )
                port = free_port()
                results["bot"].append(
                    measure(
                        [sys.executable, "-m", "bot"],
                        bot_env(databases.fresh(), port, **extra),
                        port,
                        args.settle,
                        folder / f"bot{round_}.log",
                    )
                )
            if args.breakdown:
                results["breakdown"], results["modules"], results["layers"] = breakdown(
                    databases, folder, args.settle
                )
        finally:
            databases.drop_all()

    print(f"idle, {args.settle:g} s after /readyz, median of {args.rounds} starts (MB):")
    print(f"{'process':<28}" + "".join(f"{name:>9}" for name in (*FIELDS, "Pss")))
    for label, key in ((f"python -m bot ({args.database})", "bot"), ("bare python + aiohttp", "floor")):
        medians = {
            name: statistics.median(run[name] for run in results[key]) / 1024 for name in (*FIELDS, "Pss")
        }
        results[f"{key}_median_mb"] = {name: round(value, 1) for name, value in medians.items()}
        print(f"{label:<28}" + "".join(f"{value:>9.1f}" for value in medians.values()))
    if args.breakdown:
        print(
            "\neach top-level package the bot loaded, imported alone in a fresh interpreter (MB over bare python):"
        )
        for row in results["breakdown"]:
            if row["standalone_mb"] >= 0.5 or row["package"].startswith("("):
                print(f"  {row['package']:<24}{row['modules']:>6} modules{row['standalone_mb']:>8.1f}")
        print("\nthe same modules imported in layers, each on top of the ones before (MB added):")
        for row in results["layers"]:
            print(f"  {row['layer']:<74}{row['modules']:>6} modules{row['adds_mb']:>8.1f}")
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
