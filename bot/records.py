"""The record-keeping commands: `challenge-bot audit verify [REF]` and `challenge-bot retention purge`."""

from __future__ import annotations

import sys
from dataclasses import replace
from datetime import datetime

from bot.config import Settings
from bot.wiring import TickError, load_policies, open_database, require_existing_database
from cards.times import moment
from cards.welcome import retention_text
from storage.db import Database
from storage.errors import NotFound, SchemaNotCurrent
from storage.retention import purge, purgeable
from storage.verify import Verification, verify


async def _database(settings: Settings) -> Database:
    """The configured database, which must exist and be at the newest schema (`TickError` says what to do)."""
    require_existing_database(settings.database_url, can_create=False)
    try:
        return await open_database(replace(settings, directory_file=None))
    except SchemaNotCurrent as error:
        raise TickError(str(error)) from None


async def audit_verify(settings: Settings, reference: str | None) -> int:
    """Print what was verified, or each chain's first broken event; 0 if whole, 1 if broken, 2 for a
    reference that names no challenge or a database that is not there."""
    try:
        database = await _database(settings)
    except TickError as error:
        print(f"challenge-bot audit verify: {error}", file=sys.stderr)
        return 2
    try:
        result = await verify(database, reference)
    except NotFound as error:
        print(f"challenge-bot audit verify: {error}", file=sys.stderr)
        return 2
    finally:
        await database.dispose()
    print(verification_text(result))
    return 0 if result.ok else 1


def verification_text(result: Verification) -> str:
    chains = "; ".join(
        f"{partnership}: {anchors} anchors, head {head[:16] if head else 'none'}"
        for partnership, (anchors, head) in sorted(result.partnerships.items())
    )
    counts = (
        f"{result.challenges} challenge{'' if result.challenges == 1 else 's'}, "
        f"{result.records} record{'' if result.records == 1 else 's'} against their seal, {result.events} events "
        f"({result.erased_events} with words erased by retention), {len(result.partnerships)} partnership "
        f"chain{'' if len(result.partnerships) == 1 else 's'}" + (f" ({chains})" if chains else "")
    )
    if result.ok:
        return f"OK: {counts}: every chain verifies."
    lines = [f"BROKEN: {b}" for b in result.breaks]
    lines.append(
        f"Checked {counts}: {len(result.breaks)} broken chain{'' if len(result.breaks) == 1 else 's'}."
    )
    return "\n".join(lines)


async def retention_purge(settings: Settings, *, dry_run: bool, now: datetime) -> int:
    """Purge (or, with `dry_run`, list) the challenges ended longer ago than their partnership keeps them."""
    policies = load_policies(settings)
    try:
        database = await _database(settings)
    except TickError as error:
        print(f"challenge-bot retention purge: {error}", file=sys.stderr)
        return 2
    total_challenges = total_events = 0
    try:
        for policy in policies:
            print(retention_text(policy))
            if policy.retention is None:
                continue
            cutoff = policy.retention.cutoff(now)
            due = await purgeable(database, policy.id, cutoff)
            print(f"  challenges that ended before {moment(cutoff)}: {len(due)}")
            why = (
                f"{policy.short_name} keeps records {policy.retention.said} after a challenge ends "
                f"({policy.retention.justification})"
            )
            for item in due:
                erased = (
                    item.events
                    if dry_run
                    else await purge(database, policy.id, item.challenge_id, cutoff, now, why)
                )
                if erased is None:
                    continue  # purged meanwhile by another run
                total_challenges += 1
                total_events += erased
                print(f"  {item.reference}: ended {moment(item.closed_at)}, {erased} events")
        if not dry_run and total_challenges:
            await database.forget_deleted()
    finally:
        await database.dispose()
    verb = "would be erased (dry run: nothing was changed)" if dry_run else "erased"
    print(f"{total_challenges} challenges, {total_events} events: words {verb}.")
    return 0
