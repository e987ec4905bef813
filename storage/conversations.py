"""Conversation references, kept so the bot can message people later (reminders, deadlines, escalations).

A reference is stored as the JSON botbuilder makes of it (`ConversationReference.serialize()`, camelCase
keys) and handed back the same way (`ConversationReference().deserialize(data)`), so this module needs no
botbuilder types. A reference Teams no longer accepts (the user removed the app, left the tenant) is marked
stale rather than deleted, until the next install stores a fresh one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, select, update

from storage.clock import Clock, utc_now
from storage.db import Database, upsert
from storage.schema import conversation_references

PERSONAL = "personal"
GROUP_CHAT = "groupChat"
CHANNEL = "channel"


@dataclass(frozen=True)
class ConversationRecord:
    """One stored conversation reference and what it is for."""

    conversation_id: str
    reference: dict[str, Any]
    conversation_type: str
    aad_object_id: str | None
    tenant_id: str | None
    service_url: str
    stale: bool
    updated_at: datetime


class ConversationStore:
    """Conversation references by conversation id, and each user's personal chat with the bot."""

    def __init__(self, db: Database, *, clock: Clock = utc_now) -> None:
        self.db = db
        self.clock = clock

    async def save(
        self,
        reference: Mapping[str, Any],
        *,
        conversation_id: str | None = None,
        user_aad_object_id: str | None = None,
        tenant_id: str | None = None,
        service_url: str | None = None,
        conversation_type: str | None = None,
    ) -> ConversationRecord:
        """Store (or refresh) a serialized reference; a refreshed reference is no longer stale.

        What the reference is about is read from it, unless given: the activity may know better (Teams puts
        the tenant in `channelData`). For a personal chat the user's AAD object id is kept, so `for_user`
        can find it.
        """
        conversation = reference.get("conversation")
        about: Mapping[str, Any] = conversation if isinstance(conversation, Mapping) else {}
        user = reference.get("user")
        kind = str(
            conversation_type
            or about.get("conversationType")
            or (GROUP_CHAT if about.get("isGroup") else PERSONAL)
        )
        aad = user_aad_object_id or (user.get("aadObjectId") if isinstance(user, Mapping) else None)
        tenant = tenant_id or about.get("tenantId") or about.get("tenantID")
        conversation_id = conversation_id or about.get("id")
        service_url = service_url or reference.get("serviceUrl")
        if not conversation_id or not service_url:
            raise ValueError(
                "not a serialized ConversationReference: it needs conversation.id and serviceUrl "
                "(use ConversationReference.serialize())"
            )
        record = ConversationRecord(
            conversation_id=str(conversation_id),
            reference=dict(reference),
            conversation_type=kind,
            aad_object_id=str(aad).lower() if aad and kind == PERSONAL else None,
            tenant_id=str(tenant) if tenant else None,
            service_url=str(service_url),
            stale=False,
            updated_at=self.clock(),
        )
        values = {
            "reference": record.reference,
            "conversation_type": record.conversation_type,
            "aad_object_id": record.aad_object_id,
            "tenant_id": record.tenant_id,
            "service_url": record.service_url,
            "stale": False,
            "updated_at": record.updated_at,
        }
        async with self.db.transaction() as conn:
            await conn.execute(
                upsert(conn, conversation_references)
                .values(conversation_id=record.conversation_id, created_at=record.updated_at, **values)
                .on_conflict_do_update(
                    index_elements=[conversation_references.c.conversation_id], set_=values
                )
            )
        return record

    async def get(self, conversation_id: str) -> ConversationRecord | None:
        async with self.db.reading() as conn:
            row = (
                await conn.execute(
                    select(conversation_references).where(
                        conversation_references.c.conversation_id == conversation_id
                    )
                )
            ).first()
        return _record(row) if row is not None else None

    async def for_user(self, aad_object_id: str) -> dict[str, Any] | None:
        """The serialized reference of the user's personal chat with the bot (the newest one not stale)."""
        c = conversation_references.c
        async with self.db.reading() as conn:
            row = (
                await conn.execute(
                    select(c.reference)
                    .where(
                        c.aad_object_id == aad_object_id.strip().lower(),
                        c.conversation_type == PERSONAL,
                        c.stale.is_(False),
                    )
                    .order_by(c.updated_at.desc())
                    .limit(1)
                )
            ).first()
        return dict(row.reference) if row is not None else None

    async def mark_stale(self, conversation_id: str) -> bool:
        """Note that Teams refused a message to this conversation; False if it is not stored."""
        async with self.db.transaction() as conn:
            result = await conn.execute(
                update(conversation_references)
                .where(conversation_references.c.conversation_id == conversation_id)
                .values(stale=True, updated_at=self.clock())
            )
            return bool(result.rowcount)

    async def service_url_for_tenant(self, tenant_id: str) -> str | None:
        """The service URL of the newest conversation in `tenant_id` that is not stale, or None.

        A new 1:1 chat in a tenant is created through the service URL Teams already uses there (it names the
        tenant's region), so the bot can message someone it has never talked to.
        """
        c = conversation_references.c
        async with self.db.reading() as conn:
            row = (
                await conn.execute(
                    select(c.service_url)
                    .where(c.tenant_id == tenant_id, c.stale.is_(False))
                    .order_by(c.updated_at.desc(), c.conversation_id.desc())
                    .limit(1)
                )
            ).first()
        return str(row.service_url) if row is not None else None

    async def all_personal(self) -> list[ConversationRecord]:
        """Every personal chat that can still be messaged, oldest first."""
        c = conversation_references.c
        async with self.db.reading() as conn:
            rows = await conn.execute(
                select(conversation_references)
                .where(c.conversation_type == PERSONAL, c.stale.is_(False))
                .order_by(c.updated_at, c.conversation_id)
            )
            return [_record(row) for row in rows]


def _record(row: Row[Any]) -> ConversationRecord:
    return ConversationRecord(
        conversation_id=row.conversation_id,
        reference=dict(row.reference),
        conversation_type=row.conversation_type,
        aad_object_id=row.aad_object_id,
        tenant_id=row.tenant_id,
        service_url=row.service_url,
        stale=row.stale,
        updated_at=row.updated_at,
    )
