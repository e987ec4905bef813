"""The partnership's form sent as a file in Teams: the Export buttons of a party's 1:1 card, Teams' file
consent card (Teams asks the person to accept the file before the bot may upload it to their OneDrive), the
file card shown once it is uploaded, and what replaces the consent card afterwards.

Nothing here carries child data: the consent card names the form and the reference, and its accept context
says only which challenge, which format, the version shown and when the export was asked for.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cards import verbs
from cards.layout import Element, action_set, card, execute, text
from cards.text import plain

FILE_CONSENT = "application/vnd.microsoft.teams.card.file.consent"
FILE_INFO = "application/vnd.microsoft.teams.card.file.info"

#: The formats offered, with the button's words.
FORMAT_TITLES = {"pdf": "Export the form (PDF)", "docx": "Export the form (Word)"}


def export_actions(data: Mapping[str, Any]) -> Element:
    """The Export buttons of a party's card; `data` says which challenge and version the card shows."""
    return action_set(
        [execute(title, verbs.EXPORT, {**data, "format": format}) for format, title in FORMAT_TITLES.items()]
    )


def file_consent(name: str, description: str, size: int, context: Mapping[str, Any]) -> dict[str, Any]:
    """Teams' file consent card as an attachment: accepting it sends `fileConsent/invoke` with `context`."""
    return {
        "contentType": FILE_CONSENT,
        "name": name,
        "content": {
            "description": description,
            "sizeInBytes": size,
            "acceptContext": dict(context),
            "declineContext": dict(context),
        },
    }


def file_info(name: str, content_url: str, unique_id: str, file_type: str) -> dict[str, Any]:
    """The card of a file uploaded to the person's OneDrive, as Teams shows it in the chat."""
    return {
        "contentType": FILE_INFO,
        "contentUrl": content_url,
        "name": name,
        "content": {"uniqueId": unique_id, "fileType": file_type},
    }


def consent_answered(title: str, words: str) -> dict[str, Any]:
    """What replaces the consent card once it is answered."""
    return card([text(plain(title), weight="Bolder"), text(plain(words))])
