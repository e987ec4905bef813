"""Who is looking at the dashboard: the Teams tab's single sign-on token, checked here, on the server.

In Teams the page asks the Teams client for a token (`authentication.getAuthToken`) issued by Microsoft Entra
for the bot's app and sends it as a Bearer token. A token is accepted only when all of these hold:

- it is a JWS signed with RS256 (`alg: none`, HMAC and anything else are refused) by one of Microsoft's
  published signing keys, named by its `kid` (keys fetched from the OpenID metadata and cached with
  `bot.signing_keys.SigningKeyCache`: refreshed daily, at most hourly for an unknown key, kept through outages);
- its audience is the app: `api://<host>/<app id>` (the Application ID URI the manifest's
  `webApplicationInfo` names; only the app's owners can register one for the app id) or the app id itself;
- its issuer is Entra's, for the token's own tenant (`https://login.microsoftonline.com/<tid>/v2.0` or
  `https://sts.windows.net/<tid>/`), and that tenant is `MicrosoftAppTenantId` when one is set;
- it has not expired (a minute's leeway for clocks) and names the person (`oid`).

Any failure is `NotSignedIn` (answered 401); keys that cannot be fetched are `AuthenticationUnavailable`
(answered 503).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import jwt
from jwt.algorithms import RSAAlgorithm

from bot.signing_keys import SigningKey, SigningKeyCache

log = logging.getLogger(__name__)

OPENID_METADATA = "https://login.microsoftonline.com/common/v2.0/.well-known/openid-configuration"
LEEWAY_SECONDS = 60
MAX_TOKEN_CHARS = 16 * 1024


class NotSignedIn(Exception):
    """No token, or one that is not a valid tab SSO token for this app; the message says why (for logs)."""


@dataclass(frozen=True)
class Viewer:
    """The person a valid token names: their Entra object id and tenant."""

    object_id: str
    tenant_id: str


def openid_keys(metadata_url: str = OPENID_METADATA) -> Callable[[], Awaitable[list[SigningKey]]]:
    """A fetch of the signing keys the OpenID metadata at `metadata_url` points to."""

    async def fetch() -> list[SigningKey]:
        timeout = aiohttp.ClientTimeout(total=10)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            async with session.get(metadata_url) as response:
                response.raise_for_status()
                jwks_uri = (await response.json(content_type=None))["jwks_uri"]
            async with session.get(jwks_uri) as response:
                response.raise_for_status()
                keys = (await response.json(content_type=None))["keys"]
        if not isinstance(keys, list):
            raise ValueError("the key set holds no list of keys")
        return [k for k in keys if isinstance(k, dict)]

    return fetch


class TabTokens:
    """Checks the dashboard tab's SSO tokens for the app `app_id` (and tenant `tenant_id`, if set)."""

    def __init__(self, app_id: str, tenant_id: str | None, keys: SigningKeyCache) -> None:
        self.app_id = app_id
        self.tenant_id = tenant_id.lower() if tenant_id else None
        self.keys = keys

    async def viewer(self, authorization: str | None) -> Viewer:
        """The person an `Authorization: Bearer <token>` header names; `NotSignedIn` for anything else."""
        scheme, _, token = (authorization or "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token or len(token) > MAX_TOKEN_CHARS:
            raise NotSignedIn("no bearer token")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as error:
            raise NotSignedIn(f"not a token ({type(error).__name__})") from None
        if header.get("alg") != "RS256":
            raise NotSignedIn("not signed with RS256")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise NotSignedIn("no key id")
        key = next((k for k in await self.keys.keys_for(kid) if k.get("kid") == kid), None)
        if key is None:
            raise NotSignedIn("signed with a key Microsoft does not publish")
        try:
            public_key: Any = RSAAlgorithm.from_jwk(json.dumps(key))
            claims = jwt.decode(
                token,
                public_key,
                algorithms=["RS256"],
                options={"require": ["exp", "iss", "aud", "tid", "oid"], "verify_aud": False},
                leeway=LEEWAY_SECONDS,
            )
        except (jwt.PyJWTError, ValueError, TypeError) as error:
            raise NotSignedIn(f"invalid token ({type(error).__name__})") from None
        audience = claims.get("aud")
        if not isinstance(audience, str) or not self._ours(audience):
            raise NotSignedIn("issued for another audience")
        tenant = claims.get("tid")
        if not isinstance(tenant, str) or not tenant:
            raise NotSignedIn("no tenant")
        issuers = {f"https://login.microsoftonline.com/{tenant}/v2.0", f"https://sts.windows.net/{tenant}/"}
        if claims.get("iss") not in issuers:
            raise NotSignedIn("issued by someone else")
        if self.tenant_id is not None and tenant.lower() != self.tenant_id:
            raise NotSignedIn("from another tenant")
        oid = claims.get("oid")
        if not isinstance(oid, str) or not oid:
            raise NotSignedIn("names nobody")
        return Viewer(object_id=oid, tenant_id=tenant)

    def _ours(self, audience: str) -> bool:
        if audience == self.app_id:
            return True
        return audience.startswith("api://") and audience.endswith("/" + self.app_id) and "/" in audience[6:]
