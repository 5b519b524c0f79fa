"""A real OpenID provider (the npm package `oidc-provider`) run by the tests, with signing keys
the tests generate, so they can also craft the tokens a well-behaved provider never issues.

`npm install` puts the package in a cache directory of the harness (STOCKLEDGER_TEST_CACHE,
else ~/.cache/stockledger-tests), so a fresh machine runs it; without Node.js the tests skip,
except under CI=true, where they fail."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import jwt
import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

SCRIPT = Path(__file__).with_name("provider.mjs")
PACKAGE = "oidc-provider@^9.13"
AUDIENCE = "https://stockledger.test/api"


def _missing(what: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{what} is required under CI=true")
    pytest.skip(f"{what} is not available")


def provider_module() -> Path:
    """The installed `oidc-provider` package directory (installed once per cache)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        _missing("Node.js (node and npm)")
    cache = Path(os.environ.get("STOCKLEDGER_TEST_CACHE", Path.home() / ".cache/stockledger-tests"))
    prefix = cache / "oidc-provider"
    module = prefix / "node_modules" / "oidc-provider"
    if not (module / "package.json").exists():
        prefix.mkdir(parents=True, exist_ok=True)
        install = [str(npm), "install", "--prefix", str(prefix), "--no-audit", "--no-fund", PACKAGE]
        done = subprocess.run(install, capture_output=True, text=True, timeout=600, check=False)
        if done.returncode != 0:
            pytest.fail(f"npm install {PACKAGE} failed:\n{done.stderr[-2000:]}")
    return module


class SigningKey:
    """An RSA key with its kid: the private JWK for the provider, the PEM for crafted tokens."""

    def __init__(self, kid: str) -> None:
        self.kid = kid
        self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def jwk(self) -> dict[str, Any]:
        return {**RSAAlgorithm.to_jwk(self.private, as_dict=True), "kid": self.kid, "use": "sig"}

    def sign(self, claims: dict[str, Any], **header: Any) -> str:
        return jwt.encode(
            claims, self.private, algorithm="RS256", headers={"kid": self.kid, **header}
        )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class OidcProvider:
    """`node provider.mjs` on 127.0.0.1; `restart(keys)` serves a new JWKS on the same issuer."""

    def __init__(self) -> None:
        self.module = provider_module()
        self.port = free_port()
        self.issuer = f"http://127.0.0.1:{self.port}"
        self.dir = Path(tempfile.mkdtemp(prefix="oidc-provider-"))
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, keys: list[SigningKey]) -> None:
        jwks = self.dir / "jwks.json"
        jwks.write_bytes(orjson.dumps({"keys": [key.jwk() for key in keys]}))
        command = ["node", str(SCRIPT), str(self.module), str(self.port), str(jwks), AUDIENCE]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                error = self.process.stderr.read().decode() if self.process.stderr else ""
                raise RuntimeError(f"oidc-provider exited: {error[-2000:]}")
            try:
                if httpx.get(f"{self.issuer}/.well-known/openid-configuration").is_success:
                    return
            except httpx.TransportError:
                time.sleep(0.05)  # polling a condition with a deadline
        raise TimeoutError("oidc-provider did not answer within 30 s")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None

    def restart(self, keys: list[SigningKey]) -> None:
        self.stop()
        self.start(keys)

    def token(self, client: str) -> str:
        """A client-credentials access token (a JWT for AUDIENCE) for `client`."""
        answer = httpx.post(
            f"{self.issuer}/token",
            data={"grant_type": "client_credentials", "resource": AUDIENCE, "scope": "stock"},
            auth=(client, f"{client}-secret"),
        )
        assert answer.status_code == 200, answer.text
        token: str = answer.json()["access_token"]
        return token
