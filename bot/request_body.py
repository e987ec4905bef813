"""What the endpoint accepts as a request body, decided before the SDK sees any of it.

The Bot Connector posts one activity as a UTF-8 JSON object, uncompressed. Anything else is refused with a
4xx that says what was wrong: 415 for another media type, charset or content encoding, 413 for a body over
the limit, 400 for bytes that are not UTF-8, text that is not JSON, JSON that is not an object or is nested
absurdly deep, and an activity that does not say what it is, who sent it to whom, in which conversation and
where to answer. The body is read and parsed here once; the SDK gets the parsed object, so no later step decodes it
again with a charset the sender chose. Lone surrogates (`"\ud800"`, which JSON allows and UTF-8 cannot
carry) and NUL characters (`"\u0000"`, which JSON allows and PostgreSQL's text cannot hold) are replaced with
U+FFFD here, so no dialog, card or database ever sees one.
"""

from __future__ import annotations

import json
import re
from typing import Any

from aiohttp import web

from storage.db import UNSTORABLE

#: Deeper than any activity Teams sends (card data included); deeper bodies are refused, not walked.
MAX_JSON_DEPTH = 32
_CONVERSATION_ID = re.compile(r"^[\x21-\x7e]{1,1024}$")
_UTF8_CHARSETS = frozenset({"utf-8", "utf8"})
#: Where to answer: a URL of printable ASCII, as the Bot Connector's service URLs are.
_SERVICE_URL = re.compile(r"^https?://[\x21-\x7e]{1,2048}$")
_REPLACEMENT_CHARACTER = "\ufffd"


class BadBody(Exception):
    """The request's body is refused; `status` and `reason` are what the client is told."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def check_headers(request: web.Request, max_body: int) -> None:
    """Refuse, before reading a byte of the body, what the headers already show to be unacceptable."""
    if request.content_type != "application/json":
        raise BadBody(415, "Content-Type must be application/json")
    charset = request.charset
    if charset is not None and charset.lower() not in _UTF8_CHARSETS:
        raise BadBody(415, "the body must be UTF-8 JSON; charset=utf-8 or no charset")
    encoding = request.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        raise BadBody(415, "compressed bodies are not accepted; send the JSON without Content-Encoding")
    if request.content_length is not None and request.content_length > max_body:
        raise BadBody(413, f"the body is larger than {max_body} bytes")


def parse_activity(raw: bytes) -> dict[str, Any]:
    """The activity in `raw` as a JSON object with no lone surrogate or NUL in any key or string.

    A UTF-8 byte order mark is tolerated; NaN and Infinity, which JSON does not have, are refused.
    """
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise BadBody(400, "the body is not UTF-8 text") from None
    try:
        body = json.loads(text, parse_constant=_refuse_constant)
    except (ValueError, RecursionError):
        raise BadBody(400, "the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise BadBody(400, "the body must be a JSON object (an activity)")
    cleaned: dict[str, Any] = _storable(body, 0)
    return cleaned


def check_activity(body: dict[str, Any]) -> str:
    """The activity's type, once the activity is known to say what it is, on which channel, who sent it to
    whom, in which conversation and where to answer: every activity the Bot Connector posts does, and a turn
    without them cannot be answered.
    """
    activity_type = body.get("type")
    if not isinstance(activity_type, str) or not activity_type:
        raise BadBody(400, "the activity has no type")
    service_url = body.get("serviceUrl")
    if not isinstance(service_url, str) or not _SERVICE_URL.match(service_url):
        raise BadBody(400, "the activity has no serviceUrl to answer to")
    channel_id = body.get("channelId")
    if not isinstance(channel_id, str) or not channel_id:
        raise BadBody(400, "the activity names no channel")
    # The conversation id goes back to the Bot Connector in a URL and an HTTP header; the ones it issues
    # are printable ASCII.
    if not _CONVERSATION_ID.match(_id_of(body.get("conversation"))):
        raise BadBody(400, "the activity names no conversation the Bot Connector could have issued")
    if not _id_of(body.get("from")):
        raise BadBody(400, "the activity does not say who sent it")
    if not _id_of(body.get("recipient")):
        raise BadBody(400, "the activity does not say whom it is for")
    return activity_type


def _id_of(account: Any) -> str:
    """The `id` of a channel or conversation account, or "" if it is not an object with a text id."""
    value = account.get("id") if isinstance(account, dict) else None
    return value if isinstance(value, str) else ""


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _storable(value: Any, depth: int) -> Any:
    if isinstance(value, str):
        return _clean_text(value)
    if depth >= MAX_JSON_DEPTH:
        if isinstance(value, dict | list):
            raise BadBody(400, f"the JSON is nested more than {MAX_JSON_DEPTH} levels deep")
        return value
    if isinstance(value, dict):
        return {_clean_text(key): _storable(item, depth + 1) for key, item in value.items()}
    if isinstance(value, list):
        return [_storable(item, depth + 1) for item in value]
    return value


def _clean_text(text: str) -> str:
    # json.loads joins escaped surrogate pairs into one character, so any surrogate left is a lone one.
    if text.isascii() and "\x00" not in text:
        return text
    return UNSTORABLE.sub(_REPLACEMENT_CHARACTER, text)
