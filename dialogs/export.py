"""A challenge exported as its partnership's own form (`process.export_form`, rendered by `forms`): for
`challenge-bot export` and the Export button of a party's 1:1 card. Whoever asks must already have been found
to be allowed to see the challenge (`ChallengeService.visible`); nothing here checks it again."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from dialogs.service import ChallengeService
from forms import MEDIA_TYPES, Format, file_name, render
from process.challenge import Challenge
from process.export_form import build_document


@dataclass(frozen=True)
class ExportedForm:
    """The file: its name (the reference and the form's title, never the child's name), type and bytes."""

    name: str
    media_type: str
    content: bytes
    title: str
    reference: str


async def export_form(
    service: ChallengeService, challenge: Challenge, format: Format, *, now: datetime | None = None
) -> ExportedForm:
    """`challenge` as its partnership's form in `format`, dated `now` (default: the service's clock) in the
    partnership's time zone. The same challenge version at the same `now` gives a file of the same size."""
    policy = service.policy(challenge.policy_id)
    document = build_document(
        policy,
        challenge,
        await service.directory(),
        now=now or service.clock(),
        zone=service.calendar(policy.id).timezone,
    )
    return ExportedForm(
        file_name(document, format),
        MEDIA_TYPES[format],
        render(document, format),
        document.title,
        challenge.reference,
    )
