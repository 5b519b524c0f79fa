"""OpenID Connect bearer tokens: a JWT signed by the issuer's keys -> principal and role.

PyJWT verifies the signature and the registered claims; this module only finds the key
(discovery -> `jwks_uri`, cached, fetched again for an unknown `kid` at most once per
`refetch_seconds`), maps the roles claim and caches what it verified by token until `exp`."""

from __future__ import annotations

import asyncio
import re
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import jwt
import structlog

from ..config import OidcConfig, Role

log = structlog.get_logger()

ALGORITHMS = ("RS256", "PS256", "ES256", "EdDSA")  # asymmetric only: never `none`, never HMAC
LEEWAY_SECONDS = 30
PRECEDENCE = (Role.ADMIN, Role.WAREHOUSE, Role.ORDERS, Role.AUDITOR)  # which role /v1/me names
_JWT = re.compile(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$")


def looks_like_jwt(credentials: str) -> bool:
    """Three dot-separated base64url parts (an API key never has dots in practice)."""
    return _JWT.match(credentials) is not None


@dataclass(frozen=True, slots=True)
class TokenIdentity:
    """Who a verified token speaks for: the principal claim and the roles it maps to (`role`
    is the one `/v1/me` names: admin, then warehouse, orders, auditor)."""

    name: str
    role: Role
    roles: frozenset[Role]


@dataclass(frozen=True, slots=True)
class SigningKey:
    key: jwt.PyJWK
    algorithm: str | None  # the JWK's own `alg`, when it names one


class TokenRejected(Exception):
    """Why a token does not authenticate (401) or authorizes nothing (403)."""

    def __init__(self, reason: str, status: int = 401) -> None:
        self.reason = reason
        self.status = status
        super().__init__(reason)


@dataclass(slots=True)
class Jwks:
    """The issuer's signing keys by `kid`, fetched through its discovery document."""

    issuer: str
    refetch_seconds: float = 30.0
    keys: dict[str | None, SigningKey] = field(default_factory=dict)
    fetched_at: float = float("-inf")
    jwks_uri: str | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def key(self, kid: str | None) -> SigningKey:
        found = self._lookup(kid)
        if found is not None:
            return found
        async with self.lock:  # one fetch for a burst of requests with the new kid
            found = self._lookup(kid)
            if found is None and time.monotonic() - self.fetched_at >= self.refetch_seconds:
                await self._fetch()
                found = self._lookup(kid)
        if found is None:
            raise TokenRejected(f"unknown key: the issuer's JWKS has no kid {kid!r}")
        return found

    def _lookup(self, kid: str | None) -> SigningKey | None:
        if kid is None and len(self.keys) == 1:
            return next(iter(self.keys.values()))
        return self.keys.get(kid)

    async def _fetch(self) -> None:
        self.fetched_at = time.monotonic()
        # No redirects followed; proxy settings (HTTPS_PROXY, NO_PROXY) read from the environment.
        get: dict[str, Any] = {"allow_redirects": False, "raise_for_status": True}
        try:
            async with aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=5.0), trust_env=True
            ) as http:
                if self.jwks_uri is None:
                    discovery = self.issuer.rstrip("/") + "/.well-known/openid-configuration"
                    async with http.get(discovery, **get) as answer:
                        self.jwks_uri = str((await answer.json(content_type=None))["jwks_uri"])
                async with http.get(self.jwks_uri, **get) as answer:
                    document = await answer.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError, KeyError, TypeError) as error:
            log.warning("oidc_keys_unavailable", issuer=self.issuer, error=str(error))
            raise TokenRejected("the issuer's keys could not be fetched", status=503) from error
        keys: dict[str | None, SigningKey] = {}
        for entry in document.get("keys", []):
            if entry.get("use", "sig") != "sig":
                continue
            try:
                keys[entry.get("kid")] = SigningKey(jwt.PyJWK(entry), entry.get("alg"))
            except jwt.PyJWTError:  # a key type or curve we do not verify with: skip it
                continue
        self.keys = keys
        log.info("oidc_keys_fetched", issuer=self.issuer, kids=sorted(map(str, keys)))


def claim_at(claims: dict[str, Any], path: str) -> Any:
    """The value at a dotted path (`realm_access.roles`), or None."""
    value: Any = claims
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def mapped_roles(value: Any, role_map: dict[str, Role]) -> frozenset[Role]:
    """The stockledger roles a roles claim grants: a list of names or a space-separated string
    (`scope`); names the map does not know grant nothing."""
    names = value.split() if isinstance(value, str) else value if isinstance(value, list) else []
    return frozenset(role_map[name] for name in names if isinstance(name, str) and name in role_map)


_REASONS: tuple[tuple[type[jwt.PyJWTError], str], ...] = (
    (jwt.ExpiredSignatureError, "expired"),
    (jwt.ImmatureSignatureError, "not valid yet (nbf)"),
    (jwt.InvalidAudienceError, "wrong audience"),
    (jwt.InvalidIssuerError, "wrong issuer"),
    (jwt.InvalidSignatureError, "bad signature"),
    (jwt.MissingRequiredClaimError, "missing claim"),
)


def _reason(error: jwt.PyJWTError) -> str:
    for kind, reason in _REASONS:
        if isinstance(error, kind):
            return f"{reason}: {error}"
    return f"malformed token: {error}"


class TokenVerifier:
    """Verified tokens are kept (bounded LRU) until they expire, so a client that sends the
    same token on every request pays for one signature check."""

    def __init__(self, config: OidcConfig, cache_size: int = 10_000) -> None:
        self.config = config
        self.jwks = Jwks(config.issuer, refetch_seconds=config.jwks_refetch_seconds)
        self.cache: OrderedDict[str, tuple[TokenIdentity, float]] = OrderedDict()
        self.cache_size = cache_size

    async def identity(self, token: str) -> TokenIdentity:
        cached = self.cache.get(token)
        if cached is not None and time.time() < cached[1] + LEEWAY_SECONDS:
            self.cache.move_to_end(token)
            return cached[0]
        self.cache.pop(token, None)
        claims = await self.verify(token)
        identity = self.authorize(claims)
        self.cache[token] = (identity, float(claims["exp"]))
        if len(self.cache) > self.cache_size:
            self.cache.popitem(last=False)
        return identity

    async def verify(self, token: str) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as error:
            raise TokenRejected(_reason(error)) from error
        algorithm = header.get("alg")
        if algorithm not in ALGORITHMS:
            raise TokenRejected(f"algorithm {algorithm!r} is not allowed (only {ALGORITHMS})")
        key = await self.jwks.key(header.get("kid"))
        if key.algorithm not in (algorithm, None):
            raise TokenRejected(f"bad signature: key {header.get('kid')!r} is not for {algorithm}")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key=key.key.key,
                algorithms=[algorithm],  # one of ALGORITHMS, checked above
                audience=self.config.audience,
                issuer=self.config.issuer,
                leeway=LEEWAY_SECONDS,
                options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.PyJWTError as error:
            raise TokenRejected(_reason(error)) from error
        except (TypeError, ValueError) as error:  # a key of the wrong type for the algorithm
            raise TokenRejected(f"bad signature: {error}") from error
        return claims

    def authorize(self, claims: dict[str, Any]) -> TokenIdentity:
        name = claims.get(self.config.principal_claim)
        if not isinstance(name, str) or not name:
            raise TokenRejected(f"missing claim: {self.config.principal_claim!r}")
        roles = mapped_roles(claim_at(claims, self.config.roles_claim), self.config.role_map)
        if not roles:
            raise TokenRejected(
                f"the token's {self.config.roles_claim!r} claim maps to no stockledger role",
                status=403,
            )
        role = next(role for role in PRECEDENCE if role in roles)
        return TokenIdentity(name, role, roles)
