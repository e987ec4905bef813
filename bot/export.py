"""`challenge-bot export REF --format docx|pdf --out FILE`: a challenge as its partnership's own form."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

from bot.config import Settings
from bot.wiring import TickError, make_service, open_database, require_existing_database
from dialogs.export import ExportedForm, export_form
from forms import Format


class ExportError(Exception):
    """The export cannot be made; the message says why."""


async def export_challenge(settings: Settings, reference: str, format: Format) -> ExportedForm:
    """The challenge `reference` as its form. `ExportError` for a reference no served partnership has, or a
    database that does not exist."""
    try:
        require_existing_database(settings.database_url)
    except TickError as error:
        found = str(error).split(". Set DATABASE_URL")[0]
        raise ExportError(f"{found}. Set DATABASE_URL to the bot's database") from None
    database = await open_database(replace(settings, directory_file=None))
    try:
        service = make_service(settings, database)
        challenge = await service.find(reference) if reference.strip() else None
        if challenge is None or challenge.policy_id not in service.policies:
            raise ExportError(f"there is no challenge {reference!r} in this database")
        return await export_form(service, challenge, format)
    finally:
        await database.dispose()


def export_to_file(settings: Settings, reference: str, format: Format, out: Path) -> ExportedForm:
    """Write the challenge `reference` as its form to `out` (`ExportError` as `export_challenge`, or when the
    file cannot be written)."""
    exported = asyncio.run(export_challenge(settings, reference, format))
    try:
        out.write_bytes(exported.content)
    except OSError as error:
        raise ExportError(f"cannot write {out}: {error.strerror or error}") from None
    return exported
