"""Start-up gives the memory it freed back to the operating system (`bot.memory`), once the served
application has started. How much that is is the memory bench's to say (docs/PERFORMANCE.md, *Memory*);
these tests guard that it is asked for, once, last, and that it is skipped where there is no glibc."""

from __future__ import annotations

import platform
import sys
from pathlib import Path

import pytest
from aiohttp import web

from bot import memory, server
from bot.config import Settings
from bot.server import build_application, release_start_up_memory
from process.directory_file import DEMO_DIRECTORY
from tests.fakes.activities import serve


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc", reason="glibc only"
)
def test_on_glibc_the_free_memory_is_released() -> None:
    assert memory.release_free_memory() is True


def test_elsewhere_nothing_is_done(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "platform", "darwin")
    assert memory.release_free_memory() is False


async def test_the_served_application_releases_memory_once_after_its_other_start_up_hooks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []

    def release() -> bool:
        calls.append(len(calls))
        return True

    monkeypatch.setattr(server, "release_free_memory", release)
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}", directory_file=DEMO_DIRECTORY
    )
    app: web.Application = await build_application(settings)
    assert app.on_startup[-1] is release_start_up_memory
    assert calls == []
    async with serve(app):
        assert calls == [0]
    assert calls == [0]
