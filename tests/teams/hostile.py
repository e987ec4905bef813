"""Hostile and malformed requests to the bot's endpoint, generated from a seed, for the fuzz test.

Each generated request is a `Hostile`: what kind of mischief it is (for the failure message), and either an
HTTP request (body and headers, sent with aiohttp's client) or raw bytes written to a socket, for framing
that no well-behaved client would produce. Activities start from a genuine one (`make_activity`) and are
then broken one way at a time, so most requests get past the first checks and reach deeper code.
"""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cards import verbs
from tests.fakes.activities import make_activity
from tests.teams.harness import walk

ALEX = "00000000-0000-0000-0000-0000000000020"
MEGAN = "00000000-0000-0000-0000-0000000000021"
STRANGER = "00000000-0000-0000-0000-00000000dead"
JSON = {"Content-Type": "application/json"}

ODD_TEXT = [
    "\ud800",
    "a\udfffb",
    "\u202egnirts desrever",
    "zero\u200bwidth\u200d",
    "NUL\u0000byte",
    "😀👩🏽‍⚕️",
    "Llanfair­pwll Ysgol Gymraeg: ŵ ŷ",
    "e\u0301\u0301\u0301",
    "**bold** <at>Bot</at> [link](javascript:alert(1))",
    "<script>alert(1)</script>",
    "'; DROP TABLE challenges; --",
    "${jndi:ldap://x}",
    "\r\n\t",
    "%s%s%n",
    "DUR-2026-0001",
    "ROC-9999-9999",
    "show DUR-2026-0001\ud800",
    "raise",
    "my challenges",
    "cancel",
    "help",
    "",
    " ",
]
WORDS = ["raise", "show", "help", "cancel", "my challenges", "show ROC-2026-0001", "hello"]
ACTIVITY_TYPES = [
    "message",
    "invoke",
    "conversationUpdate",
    "installationUpdate",
    "messageReaction",
    "messageUpdate",
    "messageDelete",
    "event",
    "typing",
    "endOfConversation",
    "command",
    "trace",
    "handoff",
    "suggestion",
    "contactRelationUpdate",
    "deleteUserData",
    "invokeResponse",
    "unknownType",
    "\ud800",
    "INVOKE",
]
INVOKE_NAMES = [
    "adaptiveCard/action",
    "healthCheck",
    "composeExtension/query",
    "composeExtension/submitAction",
    "composeExtension/fetchTask",
    "task/fetch",
    "task/submit",
    "signin/verifyState",
    "signin/tokenExchange",
    "actionableMessage/executeAction",
    "fileConsent/invoke",
    "config/fetch",
    "tab/fetch",
    "message/submitAction",
    "handoff/action",
    "",
    None,
    "\ud800",
]
ALL_VERBS = [value for name, value in vars(verbs).items() if name.isupper() and isinstance(value, str)]
ACTIVITY_FIELDS = [
    "type",
    "id",
    "timestamp",
    "localTimestamp",
    "localTimezone",
    "serviceUrl",
    "channelId",
    "from",
    "conversation",
    "recipient",
    "text",
    "textFormat",
    "attachmentLayout",
    "membersAdded",
    "membersRemoved",
    "reactionsAdded",
    "topicName",
    "locale",
    "speak",
    "inputHint",
    "summary",
    "suggestedActions",
    "attachments",
    "entities",
    "channelData",
    "action",
    "replyToId",
    "label",
    "valueType",
    "value",
    "name",
    "relatesTo",
    "code",
    "expiration",
    "importance",
    "deliveryMode",
    "textHighlights",
    "semanticAction",
    "callerId",
]
NESTED_FIELDS = [
    ("from", "id"),
    ("from", "name"),
    ("from", "aadObjectId"),
    ("from", "role"),
    ("conversation", "id"),
    ("conversation", "conversationType"),
    ("conversation", "tenantId"),
    ("conversation", "isGroup"),
    ("recipient", "id"),
    ("channelData", "tenant"),
    ("channelData", "channel"),
    ("channelData", "team"),
]


@dataclass
class Hostile:
    """One request to send: `kind` names the mischief; `raw` bytes bypass the HTTP client altogether."""

    kind: str
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=lambda: dict(JSON))
    raw: bytes | None = None
    expects_answer: bool = True


class HostileRequests:
    """An endless, reproducible stream of hostile requests; `learn` feeds it real cards to mutate."""

    def __init__(self, seed: int, service_url: str) -> None:
        self.random = random.Random(seed)
        self.service_url = service_url
        # Buttons the bot really sent (verb and data), and input ids of its cards: junk is put into these.
        self.buttons: list[tuple[str, dict[str, Any]]] = []
        self.input_ids: set[str] = {"reason", "text", "child_name", "concern", "policy_id"}
        self._makers: list[tuple[int, Callable[[], Hostile]]] = [
            (3, self.random_bytes),
            (4, self.truncated_json),
            (14, self.wrong_type_field),
            (5, self.wrong_type_nested),
            (5, self.null_field),
            (2, self.huge_string),
            (8, self.odd_text),
            (6, self.unknown_type_or_invoke),
            (8, self.bad_headers),
            (16, self.card_action_with_junk),
            (6, self.typed_command),
            (3, self.members_changed),
            (4, self.raw_http),
        ]
        self._weights = [weight for weight, _ in self._makers]

    def __next__(self) -> Hostile:
        [(_, make)] = self.random.choices(self._makers, weights=self._weights)
        return make()

    def __iter__(self) -> HostileRequests:
        return self

    def learn(self, card: Any) -> None:
        """Remember the buttons and inputs of a card the bot sent, to press them with junk later."""
        for node in walk(card):
            if node.get("type") == "Action.Execute" and isinstance(node.get("verb"), str):
                self.buttons.append((node["verb"], dict(node.get("data") or {})))
            if str(node.get("type", "")).startswith("Input.") and isinstance(node.get("id"), str):
                self.input_ids.add(node["id"])
        del self.buttons[:-64]

    # ----- building blocks -------------------------------------------------------------------------------

    def activity(self, **kw: Any) -> dict[str, Any]:
        who = self.random.choice([ALEX, ALEX, MEGAN, STRANGER])
        return make_activity(
            service_url=self.service_url,
            from_id=f"29:{who}",
            aad_object_id=who,
            conversation_id=self.random.choice([f"a:personal-{who}", "19:group@thread.v2"]),
            conversation_type=self.random.choice(["personal", "personal", "groupChat", "channel"]),
            **kw,
        )

    def junk(self, depth: int = 0) -> Any:
        r = self.random
        choice = r.randrange(16 if depth < 3 else 12)
        if choice == 0:
            return None
        if choice == 1:
            return r.choice([True, False])
        if choice == 2:
            return r.choice([0, -1, 1, 2**31, -(2**63), 10**30, 7])
        if choice == 3:
            return r.choice([0.5, -1e308, 1e-320, 3.0])
        if choice == 4:
            return r.choice(ODD_TEXT)
        if choice == 5:
            return "".join(chr(r.randrange(0x20, 0x2FFF)) for _ in range(r.randrange(1, 40)))
        if choice == 6:
            return r.choice(["2026-13-45T99:99:99", "1970-01-01T00:00:00Z", "9999-12-31", "yesterday"])
        if choice == 7:
            return r.choice(["", "x" * r.randrange(100, 5000), "https://evil.example/", "29:someone"])
        if choice in (8, 9, 10, 11):
            return r.choice(["abc", 42, None, "\ud800", [], {}])
        if choice in (12, 13):
            return [self.junk(depth + 1) for _ in range(r.randrange(0, 4))]
        return {r.choice(["id", "type", "data", "value", "\ud800", "action"]): self.junk(depth + 1)}

    def encode(self, body: Any) -> bytes:
        if self.random.random() < 0.05:
            return json.dumps(body, ensure_ascii=False).encode("utf-8", "surrogatepass")
        return json.dumps(body).encode()

    def hostile(self, kind: str, body: Any, headers: dict[str, str] | None = None) -> Hostile:
        return Hostile(kind, self.encode(body), dict(headers or JSON))

    # ----- the kinds of mischief -------------------------------------------------------------------------

    def random_bytes(self) -> Hostile:
        size = self.random.randrange(0, 400)
        return Hostile("random bytes", self.random.randbytes(size))

    def truncated_json(self) -> Hostile:
        encoded = self.encode(self.activity(text=self.random.choice(WORDS)))
        return Hostile("truncated JSON", encoded[: self.random.randrange(0, len(encoded))])

    def wrong_type_field(self) -> Hostile:
        activity = self.activity(text=self.random.choice(WORDS))
        name = self.random.choice(ACTIVITY_FIELDS)
        activity[name] = self.junk()
        return self.hostile(f"wrong type: {name}", activity)

    def wrong_type_nested(self) -> Hostile:
        activity = self.activity(text=self.random.choice(WORDS))
        outer, inner = self.random.choice(NESTED_FIELDS)
        activity.setdefault(outer, {})[inner] = self.junk()
        return self.hostile(f"wrong type: {outer}.{inner}", activity)

    def null_field(self) -> Hostile:
        activity = self.activity(text=self.random.choice(WORDS))
        name = self.random.choice(ACTIVITY_FIELDS)
        if self.random.random() < 0.5:
            activity.pop(name, None)
            return self.hostile(f"missing: {name}", activity)
        activity[name] = None
        return self.hostile(f"null: {name}", activity)

    def huge_string(self) -> Hostile:
        size = self.random.choice([10_000, 100_000, 250_000, 300_000])
        activity = self.activity(text=self.random.choice(["raise ", "show ", ""]) + "x" * size)
        return self.hostile(f"huge text ({size})", activity)

    def odd_text(self) -> Hostile:
        text = "".join(self.random.choice(ODD_TEXT) for _ in range(self.random.randrange(1, 4)))
        activity = self.activity(text=text)
        if self.random.random() < 0.3:
            activity["from"]["name"] = self.random.choice(ODD_TEXT)
        return self.hostile("odd text", activity)

    def unknown_type_or_invoke(self) -> Hostile:
        if self.random.random() < 0.5:
            kind = self.random.choice(ACTIVITY_TYPES)
            return self.hostile(
                f"activity type {kind!r}", self.activity(activity_type=kind, value=self.junk())
            )
        name = self.random.choice(INVOKE_NAMES)
        activity = self.activity(text=None, activity_type="invoke", value=self.junk())
        if name is not None:
            activity["name"] = name
        return self.hostile(f"invoke {name!r}", activity)

    def bad_headers(self) -> Hostile:
        r = self.random
        activity = self.activity(text=r.choice(WORDS))
        text = json.dumps(activity)
        options: list[tuple[str, bytes, dict[str, str]]] = [
            ("utf-16 body", text.encode("utf-16"), JSON),
            (
                "utf-16 charset",
                text.encode("utf-16-le"),
                {"Content-Type": "application/json; charset=utf-16"},
            ),
            (
                "utf-16 charset, utf-8 body",
                text.encode(),
                {"Content-Type": "application/json; charset=UTF-16"},
            ),
            ("utf-32 body", text.encode("utf-32"), JSON),
            ("utf-8 BOM", b"\xef\xbb\xbf" + text.encode(), JSON),
            ("latin-1 charset", text.encode(), {"Content-Type": "application/json; charset=latin-1"}),
            ("bogus charset", text.encode(), {"Content-Type": "application/json; charset=\u00e9t\u00e9"}),
            ("gzip on plain", text.encode(), {**JSON, "Content-Encoding": "gzip"}),
            ("deflate on plain", text.encode(), {**JSON, "Content-Encoding": "deflate"}),
            ("br on plain", text.encode(), {**JSON, "Content-Encoding": "br"}),
            ("two encodings", text.encode(), {**JSON, "Content-Encoding": "gzip, identity"}),
            ("text/plain", text.encode(), {"Content-Type": "text/plain"}),
            ("no content type", text.encode(), {}),
            ("form", b"type=message&text=hi", {"Content-Type": "application/x-www-form-urlencoded"}),
            ("json suffix", text.encode(), {"Content-Type": "application/activity+json"}),
            ("bad bearer", text.encode(), {**JSON, "Authorization": "Bearer " + "x" * r.randrange(0, 2000)}),
            ("empty body", b"", JSON),
            ("NaN", text.replace('"hello"', "NaN").encode() + b'{"a": NaN}', JSON),
            ("deep nesting", b'{"type": "message", "value": ' + b"[" * 5000 + b"]" * 5000 + b"}", JSON),
            ("deep objects", b'{"type":"message","value":' + b'{"a":' * 40 + b"1" + b"}" * 40 + b"}", JSON),
            ("huge number", b'{"type": "message", "text": ' + b"9" * 5000 + b"}", JSON),
            ("duplicate keys", b'{"type": "message", "type": 5}', JSON),
        ]
        kind, body, headers = r.choice(options)
        return Hostile(kind, body, dict(headers))

    def card_action_with_junk(self) -> Hostile:
        r = self.random
        if self.buttons and r.random() < 0.7:
            verb, data = r.choice(self.buttons)
            data = copy.deepcopy(data)
        else:
            verb, data = (
                r.choice(ALL_VERBS),
                {"challengeId": r.choice(["1", "DUR-2026-0001", "\ud800", "99"])},
            )
        for _ in range(r.randrange(1, 4)):
            key = r.choice([*sorted(self.input_ids), "challengeId", "version", "step", "draft", "reference"])
            data[key] = self.junk()
        action: Any = {"type": "Action.Execute", "verb": verb, "data": data}
        if r.random() < 0.15:
            action[r.choice(["verb", "data", "type"])] = self.junk()
        value: Any = {"action": action, "trigger": "manual"}
        if r.random() < 0.1:
            value = self.junk()
        activity = self.activity(text=None, activity_type="invoke", name="adaptiveCard/action", value=value)
        return self.hostile(f"card action {verb}", activity)

    def typed_command(self) -> Hostile:
        r = self.random
        text = r.choice(WORDS) + r.choice(
            ["", " ", " " + r.choice(ODD_TEXT), " DUR-2026-000" + str(r.randrange(9))]
        )
        activity = self.activity(text=text)
        if r.random() < 0.3:
            activity["value"] = {r.choice(sorted(self.input_ids)): self.junk()}
        return self.hostile("typed command", activity)

    def members_changed(self) -> Hostile:
        activity = self.activity(text=None, activity_type="conversationUpdate")
        bot = activity["recipient"]
        members = [None, {}, bot, {"id": None}, {"id": 5}, self.junk(), {"id": "29:someone"}]
        activity[self.random.choice(["membersAdded", "membersRemoved"])] = self.random.sample(
            members, self.random.randrange(0, len(members))
        )
        return self.hostile("members changed", activity)

    def raw_http(self) -> Hostile:
        r = self.random
        body = json.dumps(self.activity(text="help")).encode()
        head = b"POST /api/messages HTTP/1.1\r\nHost: bot\r\nContent-Type: application/json\r\n"
        options: list[tuple[str, bytes, bool]] = [
            (
                "bad chunk size",
                head + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n" + body + b"\r\n0\r\n\r\n",
                True,
            ),
            ("bad header line", head + b"Bad Header\r\nContent-Length: 2\r\n\r\n{}", True),
            (
                "length and chunked",
                head + b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
                True,
            ),
            ("negative length", head + b"Content-Length: -5\r\n\r\n" + body, True),
            ("not HTTP", r.randbytes(64) + b"\r\n\r\n", True),
            ("abandoned body", head + f"Content-Length: {len(body) + 100}\r\n\r\n".encode() + body, False),
            ("abandoned chunk", head + b"Transfer-Encoding: chunked\r\n\r\n400\r\n" + body[:50], False),
            (
                "bad gzip stream",
                head + b"Content-Encoding: gzip\r\nContent-Length: 10\r\n\r\n\x1f\x8b\x08\x00garb",
                True,
            ),
        ]
        kind, raw, answered = r.choice(options)
        return Hostile(f"raw: {kind}", raw=raw, expects_answer=answered)
