"""The dashboard's tab SSO tokens: only an RS256 token signed by a published key, for this app, from Entra for
its own tenant (this deployment's, when set), unexpired and naming a person, is accepted. Keys come from a
fake OpenID endpoint on loopback; tokens are signed with locally generated RSA keys."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import jwt
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from bot.dashboard.auth import NotSignedIn, TabTokens, Viewer, openid_keys
from bot.errors import AuthenticationUnavailable
from bot.signing_keys import SigningKeyCache

APP_ID = "6f1c2a4e-0b7d-4c1e-9a55-3d2e8f0b1c7a"
TENANT = "11111111-2222-3333-4444-555555555555"
OID = "00000000-0000-0000-0000-0000000000024"
RESOURCE = f"api://bot.example.org/{APP_ID}"

PUBLISHED = rsa.generate_private_key(public_exponent=65537, key_size=2048)
UNPUBLISHED = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def jwk(key: rsa.RSAPrivateKey, kid: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
    return {**data, "kid": kid, "use": "sig"}


def claims(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    values: dict[str, Any] = {
        "aud": RESOURCE,
        "iss": f"https://login.microsoftonline.com/{TENANT}/v2.0",
        "tid": TENANT,
        "oid": OID,
        "iat": now - 10,
        "nbf": now - 10,
        "exp": now + 3600,
        "name": "Patti Fernandez",
    }
    values.update(changes)
    return {k: v for k, v in values.items() if v is not None}


def token(key: rsa.RSAPrivateKey = PUBLISHED, kid: str = "k1", **changes: Any) -> str:
    return jwt.encode(claims(**changes), key, algorithm="RS256", headers={"kid": kid})


@pytest.fixture
async def key_endpoint() -> AsyncIterator[TestServer]:
    """OpenID metadata and a key set, as Microsoft publishes them, on loopback."""
    app = web.Application()

    async def metadata(request: web.Request) -> web.Response:
        return web.json_response({"jwks_uri": str(request.url.with_path("/keys"))})

    async def keys(request: web.Request) -> web.Response:
        return web.json_response({"keys": [jwk(PUBLISHED, "k1")]})

    app.router.add_get("/.well-known/openid-configuration", metadata)
    app.router.add_get("/keys", keys)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield server
    await server.close()


@pytest.fixture
async def tokens(key_endpoint: TestServer) -> AsyncIterator[TabTokens]:
    cache = SigningKeyCache(openid_keys(str(key_endpoint.make_url("/.well-known/openid-configuration"))))
    yield TabTokens(APP_ID, TENANT, cache)
    await cache.aclose()


async def test_a_valid_token_names_the_person(tokens: TabTokens) -> None:
    assert await tokens.viewer("Bearer " + token()) == Viewer(OID, TENANT)
    # The app id as audience, and the v1 issuer, are Entra's other forms of the same token.
    v1 = token(aud=APP_ID, iss=f"https://sts.windows.net/{TENANT}/")
    assert await tokens.viewer("bearer " + v1) == Viewer(OID, TENANT)


def _none_token() -> str:
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return part({"alg": "none", "typ": "JWT", "kid": "k1"}) + "." + part(claims()) + "."


def _hmac_token() -> str:
    return jwt.encode(claims(), "k" * 32, algorithm="HS256", headers={"kid": "k1"})


def _resigned() -> str:
    head, body, _ = token().split(".")
    _, _, signature = token(UNPUBLISHED).split(".")
    return f"{head}.{body}.{signature}"


@pytest.mark.parametrize(
    ("header", "why"),
    [
        (None, "no header"),
        ("", "empty"),
        ("Basic dXNlcjpwYXNz", "not bearer"),
        ("Bearer ", "no token"),
        ("Bearer not.a.token", "garbage"),
        ("Bearer " + "a" * 20000, "oversized"),
        ("Bearer " + token(aud="api://bot.example.org/another-app"), "wrong audience"),
        ("Bearer " + token(aud="https://graph.microsoft.com"), "graph's audience"),
        ("Bearer " + token(iss="https://evil.example/v2.0"), "wrong issuer"),
        (
            "Bearer "
            + token(iss="https://login.microsoftonline.com/99999999-2222-3333-4444-555555555555/v2.0"),
            "issuer of another tenant",
        ),
        ("Bearer " + token(exp=int(time.time()) - 3600), "expired"),
        (
            "Bearer "
            + token(
                tid="99999999-2222-3333-4444-555555555555",
                iss="https://login.microsoftonline.com/99999999-2222-3333-4444-555555555555/v2.0",
            ),
            "wrong tenant",
        ),
        ("Bearer " + token(oid=None), "no person"),
        ("Bearer " + _resigned(), "bad signature"),
        ("Bearer " + token(UNPUBLISHED), "signed with a key not published under its kid"),
        ("Bearer " + _none_token(), "alg none"),
        ("Bearer " + _hmac_token(), "HMAC with a guessable secret"),
        ("Bearer " + token(kid="k9"), "unknown kid"),
    ],
)
async def test_anything_else_is_refused(tokens: TabTokens, header: str | None, why: str) -> None:
    with pytest.raises(NotSignedIn):
        await tokens.viewer(header)


async def test_without_a_configured_tenant_any_tenants_token_is_checked_against_its_own_issuer(
    tokens: TabTokens,
) -> None:
    anywhere = TabTokens(APP_ID, None, tokens.keys)
    other = "99999999-2222-3333-4444-555555555555"
    assert (
        await anywhere.viewer("Bearer " + token(tid=other, iss=f"https://sts.windows.net/{other}/"))
    ).tenant_id == other
    with pytest.raises(NotSignedIn):
        await anywhere.viewer("Bearer " + token(tid=other))  # issuer of TENANT, token of another


async def test_keys_that_cannot_be_fetched_are_unavailable_not_unauthorised() -> None:
    cache = SigningKeyCache(openid_keys("http://127.0.0.1:9/.well-known/openid-configuration"))
    with pytest.raises(AuthenticationUnavailable):
        await TabTokens(APP_ID, TENANT, cache).viewer("Bearer " + token())
    await cache.aclose()
