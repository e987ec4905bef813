"""The JSON body of an activity the bot posts, without walking its cards value by value.

The connector client serializes an outgoing activity with msrest, which walks an attachment's content (an
Adaptive Card, plain JSON already) value by value: about a millisecond for the help card, more than the rest
of the bot's own work for `help`. `ActivityBodySerializer` serializes the activity around its attachments'
contents and puts each content back as it is, when it is plain JSON (dicts with string keys, lists, strings,
numbers, booleans, None); anything else goes the SDK's way. The result is the SDK's own, value for value
(`tests/bot/test_activity_body.py` compares them).
"""

from __future__ import annotations

import copy
from typing import Any

from msrest.serialization import Serializer

_SCALARS = (str, int, float, bool, type(None))


def is_plain_json(value: Any) -> bool:
    """Whether `value` is made only of what JSON has, so that msrest would give it back unchanged."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key, inner in item.items():
                if not isinstance(key, str):
                    return False
                stack.append(inner)
        elif isinstance(item, list):
            stack.extend(item)
        elif type(item) not in _SCALARS:
            # Subclasses (enums that are also str or int) are left to msrest, which turns them into values.
            return False
    return True


class ActivityBodySerializer(Serializer):
    """msrest's serializer, except that an activity's plain-JSON attachment contents are not walked, and
    models are not walked first for their constraints: the Bot Framework schema declares none, so that walk
    can find nothing."""

    def __init__(self, classes: dict[str, Any] | None = None) -> None:
        super().__init__(classes)  # type: ignore[no-untyped-call]
        self.client_side_validation = False

    def body(self, data: Any, data_type: str, **kwargs: Any) -> Any:
        attachments = getattr(data, "attachments", None) if data_type == "Activity" else None
        if not attachments or not all(
            a is not None and a.content is not None and is_plain_json(a.content) for a in attachments
        ):
            return super().body(data, data_type, **kwargs)  # type: ignore[no-untyped-call]
        shell = copy.copy(data)
        shell.attachments = [copy.copy(a) for a in attachments]
        for attachment in shell.attachments:
            attachment.content = None
        serialized = super().body(shell, data_type, **kwargs)  # type: ignore[no-untyped-call]
        for item, attachment in zip(serialized["attachments"], attachments, strict=True):
            item["content"] = attachment.content
        return serialized


def use_activity_body_serializer(client: Any) -> None:
    """Make a connector client post activities through `ActivityBodySerializer` (its models unchanged)."""
    serializer = ActivityBodySerializer(client._serialize.dependencies)
    client._serialize = serializer
    for operations in (client.conversations, client.attachments):
        operations._serialize = serializer
