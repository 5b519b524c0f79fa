"""The issuer's JWKS is fetched again for an unknown `kid` at most once per interval: a flood
of tokens naming keys that do not exist cannot turn into a flood of requests to the issuer."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from stockledger.api.oidc import TokenRejected, TokenVerifier
from stockledger.config import OidcConfig, parse_role_map

KEY = ec.generate_private_key(ec.SECP256R1())


@pytest.fixture
def issuer() -> Iterator[tuple[str, Counter[str]]]:
    """An issuer on 127.0.0.1 serving discovery and a one-key JWKS, counting each GET."""
    hits: Counter[str] = Counter()
    jwk = {**ECAlgorithm.to_jwk(KEY.public_key(), as_dict=True), "kid": "known"}
    documents = {"/jwks": orjson.dumps({"keys": [jwk]})}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits[self.path] += 1
            self.send_response(200)
            self.end_headers()
            self.wfile.write(documents[self.path])

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    url = f"http://127.0.0.1:{server.server_address[1]}"
    documents["/.well-known/openid-configuration"] = orjson.dumps({"jwks_uri": f"{url}/jwks"})
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield url, hits
    server.shutdown()
    server.server_close()


def token(url: str, kid: str, key: ec.EllipticCurvePrivateKey = KEY) -> str:
    claims = {"iss": url, "aud": "api", "sub": "svc", "roles": ["orders"]}
    return jwt.encode(
        {**claims, "exp": int(time.time()) + 60}, key, algorithm="ES256", headers={"kid": kid}
    )


async def test_unknown_kids_refetch_the_jwks_at_most_once_per_interval(
    issuer: tuple[str, Counter[str]],
) -> None:
    url, hits = issuer
    config = OidcConfig(url, "api", "roles", parse_role_map(""), "sub", jwks_refetch_seconds=30)
    verifier = TokenVerifier(config)
    assert (await verifier.identity(token(url, "known"))).name == "svc"
    assert hits["/jwks"] == 1
    stranger = ec.generate_private_key(ec.SECP256R1())
    for n in range(20):
        with pytest.raises(TokenRejected, match="unknown key"):
            await verifier.identity(token(url, f"rotated-{n}", stranger))
    assert hits["/jwks"] == 1, "no refetch within the interval"
    verifier.jwks.fetched_at -= 30  # as if the interval had passed since the last fetch
    with pytest.raises(TokenRejected, match="unknown key"):
        await verifier.identity(token(url, "rotated-late", stranger))
    assert hits["/jwks"] == 2
    assert hits["/.well-known/openid-configuration"] == 1  # discovery once


async def test_a_verified_token_is_checked_once_until_it_expires(
    issuer: tuple[str, Counter[str]],
) -> None:
    url, _ = issuer
    config = OidcConfig(url, "api", "roles", parse_role_map(""), "sub", jwks_refetch_seconds=30)
    verifier = TokenVerifier(config)
    sent = token(url, "known")
    first = await verifier.identity(sent)
    assert sent in verifier.cache
    assert await verifier.identity(sent) is first


async def test_an_issuer_that_does_not_answer_its_keys_gives_503_not_401() -> None:
    """The token may be fine: the server could not check it (the client retries later)."""
    with ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler) as closed:
        url = f"http://127.0.0.1:{closed.server_address[1]}"  # nothing listens once closed
    config = OidcConfig(url, "api", "roles", parse_role_map(""), "sub", jwks_refetch_seconds=30)
    with pytest.raises(TokenRejected, match="could not be fetched") as refused:
        await TokenVerifier(config).identity(token(url, "known"))
    assert refused.value.status == 503
