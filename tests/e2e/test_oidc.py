"""OpenID Connect bearer tokens against a real provider (`oidc-provider`, started here): who a
token may be, and every way a token is refused (RFC 6750 401 with the reason, or 403)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import jwt
import orjson
import pytest
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from stockledger.api.app import create_app
from stockledger.config import Settings

from .conftest import API_KEYS, Api
from .oidc.provider import AUDIENCE, OidcProvider, SigningKey
from .test_errors import assert_problem

FIRST = SigningKey("first")
SECOND = SigningKey("second")


@pytest.fixture(scope="module")
def provider() -> Iterator[OidcProvider]:
    provider = OidcProvider()
    provider.start([FIRST])
    yield provider
    provider.stop()


@pytest.fixture(scope="module")
async def http(database_url: str, provider: OidcProvider) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(
        database_url=database_url,
        api_keys=API_KEYS,
        oidc_issuer=provider.issuer,
        oidc_audience=AUDIENCE,
        oidc_jwks_refetch_seconds=0.2,  # 30 s in production; the rotation test waits it out
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def claims(provider: OidcProvider, **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {"iss": provider.issuer, "aud": AUDIENCE, "sub": "crafted", "roles": ["orders"]}
    return {**base, "iat": now, "exp": now + 300, **changes}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned(header: dict[str, Any], payload: dict[str, Any], signature: bytes = b"") -> str:
    return f"{b64(orjson.dumps(header))}.{b64(orjson.dumps(payload))}.{b64(signature)}"


async def reserve(api: Api, http: httpx.AsyncClient, ids: Any, token: str) -> httpx.Response:
    sku = ids("SKU")
    await api.receive(sku, "WH", 5)
    body = {"orderId": ids("ORD"), "lines": [{"sku": sku, "warehouseId": "WH", "quantity": 1}]}
    return await http.post("/v1/reservations", json=body, headers=bearer(token))


def assert_invalid_token(response: httpx.Response, reason: str) -> None:
    problem = assert_problem(response, 401, "unauthorized")
    assert reason in problem["detail"], problem
    assert response.headers["www-authenticate"].startswith('Bearer error="invalid_token"')


async def test_a_provider_token_reserves_with_its_subject_as_causedby(
    http: httpx.AsyncClient, provider: OidcProvider, ids: Any
) -> None:
    api = Api(http)
    response = await reserve(api, http, ids, provider.token("shop"))
    assert response.status_code == 201, response.text
    assert {e["metadata"]["causedBy"] for e in response.json()["events"]} == {"shop"}


async def test_me_answers_for_a_token_with_its_highest_role(
    http: httpx.AsyncClient, provider: OidcProvider
) -> None:
    response = await http.get("/v1/me", headers=bearer(provider.token("night-shift")))
    assert response.status_code == 200, response.text
    assert response.json() == {"principal": "night-shift", "role": "warehouse"}


async def test_a_token_with_several_roles_may_do_what_any_of_them_may(
    http: httpx.AsyncClient, provider: OidcProvider, ids: Any
) -> None:
    response = await reserve(Api(http), http, ids, provider.token("night-shift"))  # orders
    assert response.status_code == 201, response.text


async def test_a_token_whose_roles_map_to_nothing_is_403(
    http: httpx.AsyncClient, provider: OidcProvider
) -> None:
    response = await http.get("/v1/me", headers=bearer(provider.token("visitor")))
    problem = assert_problem(response, 403, "forbidden")
    assert "no stockledger role" in problem["detail"]


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("expired", "expired"),
        ("wrong audience", "wrong audience"),
        ("wrong issuer", "wrong issuer"),
        ("not yet valid", "not valid yet"),
        ("unknown key", "unknown key"),
        ("alg none", "algorithm 'none' is not allowed"),
        ("hmac with the public key", "algorithm 'HS256' is not allowed"),
        ("tampered payload", "bad signature"),
    ],
)
async def test_a_bad_token_is_401_with_the_reason(
    http: httpx.AsyncClient, provider: OidcProvider, case: str, reason: str
) -> None:
    now = int(time.time())
    if case == "expired":
        token = FIRST.sign(claims(provider, iat=now - 600, exp=now - 31))
    elif case == "wrong audience":
        token = FIRST.sign(claims(provider, aud="https://another.test/api"))
    elif case == "wrong issuer":
        token = FIRST.sign(claims(provider, iss="http://127.0.0.1:1"))
    elif case == "not yet valid":
        token = FIRST.sign(claims(provider, nbf=now + 120))
    elif case == "unknown key":
        token = SigningKey("stranger").sign(claims(provider))
    elif case == "alg none":
        token = unsigned({"alg": "none", "typ": "JWT"}, claims(provider))
    elif case == "hmac with the public key":
        public = FIRST.private.public_key().public_bytes(
            Encoding.PEM, PublicFormat.SubjectPublicKeyInfo
        )
        header = {"alg": "HS256", "typ": "JWT", "kid": FIRST.kid}
        signing_input = unsigned(header, claims(provider)).rsplit(".", 1)[0]
        signature = hmac.new(public, signing_input.encode(), hashlib.sha256).digest()
        token = f"{signing_input}.{b64(signature)}"
    else:  # a real token from the provider with its role raised
        issued = provider.token("visitor")
        head, _, tail = issued.split(".")
        forged = {**jwt.decode(issued, options={"verify_signature": False}), "roles": ["admin"]}
        token = f"{head}.{b64(orjson.dumps(forged))}.{tail}"
    assert_invalid_token(await http.get("/v1/me", headers=bearer(token)), reason)


async def test_api_keys_work_as_before_beside_tokens(http: httpx.AsyncClient) -> None:
    response = await http.get("/v1/me", headers={"Authorization": "Bearer k-orders"})
    assert response.json() == {"principal": "orders-svc", "role": "orders"}
    assert_problem(await http.get("/v1/me", headers=bearer("nobody")), 401, "unauthorized")


async def test_keys_rotated_at_the_provider_work_without_a_restart(
    http: httpx.AsyncClient, provider: OidcProvider
) -> None:
    old = provider.token("shop")
    assert (await http.get("/v1/me", headers=bearer(old))).status_code == 200
    provider.restart([SECOND, FIRST])  # signs with "second", still publishes "first"
    new = provider.token("shop")
    assert jwt.get_unverified_header(new)["kid"] == "second"
    deadline = time.monotonic() + 10
    while (answer := await http.get("/v1/me", headers=bearer(new))).status_code == 401:
        assert "unknown key" in answer.text  # until the refetch interval has passed
        assert time.monotonic() < deadline, answer.text
    assert answer.status_code == 200, answer.text
    provider.restart([SECOND])  # "first" retired: a token verified before stays good until exp
    assert (await http.get("/v1/me", headers=bearer(old))).status_code == 200
    expired_old = FIRST.sign(claims(provider, exp=int(time.time()) - 31))
    assert_invalid_token(await http.get("/v1/me", headers=bearer(expired_old)), "expired")
