"""P1T: P1 signed with an OpenID Connect token vs P1 signed with an API key, same server, same run.

The driver serves a discovery document and a JWKS (one ES256 key) on 127.0.0.1 and signs one
access token per client with it (roles: orders, an hour's exp); the server is the P1 server
with STOCKLEDGER_OIDC_ISSUER pointing there. P1 with the key runs first, then the same load
with the tokens, then with the key again: the ratio (tokens against the mean of the two keyed
runs, which brackets the drift of a growing event table and of the machine's other work) is what
verifying tokens costs per request (each token's signature is checked once, then found in the
verified-token cache until it expires)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import orjson
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from bench.harness import SPLIT, harness, latency, load_note, per_second, statuses
from bench.loadgen import Stats, request
from bench.results import Result
from bench.runner import Context, scenario

SKUS, WAREHOUSES, CLIENTS = 1_000, ("WH-A", "WH-B", "WH-C"), 64
UNITS = 1_000_000
WARMUP = 2.0
AUDIENCE = "stockledger-bench"


@contextmanager
def local_issuer(key: ec.EllipticCurvePrivateKey) -> Iterator[str]:
    """An issuer URL whose discovery document and JWKS this process serves (a thread)."""
    jwk = {**ECAlgorithm.to_jwk(key.public_key(), as_dict=True), "kid": "bench", "use": "sig"}
    documents: dict[str, bytes] = {"/jwks": orjson.dumps({"keys": [jwk]})}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = documents.get(self.path)
            self.send_response(200 if body is not None else 404)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body or b"{}")

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    issuer = f"http://127.0.0.1:{server.server_address[1]}"
    documents["/.well-known/openid-configuration"] = orjson.dumps(
        {"issuer": issuer, "jwks_uri": f"{issuer}/jwks"}
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield issuer
    finally:
        server.shutdown()
        server.server_close()


@scenario("P1T", "P1 with OIDC tokens vs P1 with an API key, same server and run")
async def reserve_with_tokens(context: Context) -> list[Result]:
    h = await harness()
    seconds = 5.0 if context.quick else 20.0
    prefix = h.ids("P1T")
    streams = [(f"{prefix}-{n:04d}", wh) for n in range(SKUS) for wh in WAREHOUSES]
    key = ec.generate_private_key(ec.SECP256R1())
    with local_issuer(key) as issuer:
        async with h.server("P1T", oidc_issuer=issuer, oidc_audience=AUDIENCE) as server:
            context.console.print(f"setup: receiving {len(streams):,} streams")
            await server.receive(streams, UNITS)
            await server.wait_projected(streams, 1)
            now = int(time.time())
            claims = {"iss": issuer, "aud": AUDIENCE, "roles": ["orders"], "iat": now}
            tokens = [
                jwt.encode(
                    {**claims, "sub": f"bench-client-{n}", "exp": now + 3600},
                    key,
                    algorithm="ES256",
                    headers={"kid": "bench"},
                )
                for n in range(CLIENTS)
            ]

            def reserve(order: str, by: dict[str, str] | None) -> list[bytes]:
                return [
                    request(
                        "POST",
                        "/v1/reservations",
                        by or {"Authorization": f"Bearer {tokens[i % CLIENTS]}"},
                        orjson.dumps(
                            {
                                "orderId": f"{prefix}-{order}{i}",
                                "lines": [{"sku": s, "warehouseId": w, "quantity": 1}],
                            }
                        ),
                    )
                    for i, (s, w) in enumerate(streams)
                ]

            spec = server.spec(
                reserve("K", server.auth("orders")),
                connections=CLIENTS,
                duration=seconds,
                warmup=WARMUP,
            )
            keyed = [await server.drive(spec, "P1T-key")]
            context.console.print(f"reserve with a key: {_note(keyed[0])}")
            spec = server.spec(
                reserve("T", None), connections=CLIENTS, duration=seconds, warmup=WARMUP
            )
            tokened = await server.drive(spec, "P1T-token")
            context.console.print(f"reserve with tokens: {_note(tokened)}")
            spec = server.spec(
                reserve("K2", server.auth("orders")),
                connections=CLIENTS,
                duration=seconds,
                warmup=WARMUP,
            )
            keyed.append(await server.drive(spec, "P1T-key-again"))
            context.console.print(f"reserve with a key again: {_note(keyed[1])}")
    return [_result(tokened, keyed, seconds)]


def _note(stats: Stats) -> str:
    return f"{stats.rate_of(201):,.0f}/s {statuses(stats)}; {load_note(stats)}"


def _result(tokened: Stats, keyed: list[Stats], seconds: float) -> Result:
    rate = tokened.rate_of(201)
    base = sum(s.rate_of(201) for s in keyed) / len(keyed)
    ratio = rate / base if base else None
    failed = tokened.completed - tokened.count(201)
    return Result(
        scenario=f"P1T reserve over HTTP signed with ES256 OIDC tokens ({CLIENTS} clients, one "
        f"token each), {SKUS:,} SKUs x 3 warehouses, {seconds:.0f} s ({SPLIT})",
        figure=f"{per_second(rate)} reservations, {latency(tokened)}; {failed:,} not 201; "
        f"{load_note(tokened)}",
        ceiling=f"{per_second(base)} reservations with an API key (same server, mean of the "
        f"runs before and after: {', '.join(per_second(s.rate_of(201)) for s in keyed)}), "
        f"{latency(keyed[0])}; {'; '.join(load_note(s) for s in keyed)}",
        ratio=ratio,
        goal=">= 0.95x P1 with a key",
        met=(ratio or 0) >= 0.95 and failed == 0,
    )
