"""The console signs in with an access token from a real OpenID provider as well as a key."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from tests.e2e.oidc.provider import AUDIENCE, OidcProvider, SigningKey
from tests.e2e.processes import Served, serving

from .conftest import Console


@pytest.fixture(scope="module")
def provider() -> Iterator[OidcProvider]:
    provider = OidcProvider()
    provider.start([SigningKey("console")])
    yield provider
    provider.stop()


@pytest.fixture(scope="module")
def server(
    database: str, provider: OidcProvider, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    """A `stockledger serve` that takes the provider's tokens beside the keys."""
    env = {"STOCKLEDGER_OIDC_ISSUER": provider.issuer, "STOCKLEDGER_OIDC_AUDIENCE": AUDIENCE}
    with serving(database, tmp_path_factory.mktemp("token"), 1, "--no-expiry", **env) as (served,):
        yield served


def test_a_token_signs_in_as_its_subject_and_role(console: Console, provider: OidcProvider) -> None:
    page = console.open("/ui/")
    page.get_by_label("API key or token").fill(provider.token("night-shift"))
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    expect(page.get_by_text("night-shift")).to_be_visible()
    console.ready()


def test_a_refused_token_says_why_and_is_not_kept(console: Console, provider: OidcProvider) -> None:
    stranger = SigningKey("stranger").sign(
        {"iss": provider.issuer, "aud": AUDIENCE, "sub": "x", "exp": 4_000_000_000}
    )
    page = console.open("/ui/")
    page.get_by_label("API key or token").fill(stranger)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("The server refused this token: ")
    expect(page.get_by_role("alert")).to_contain_text("unknown key")
    assert page.evaluate("() => sessionStorage.length") == 0


def test_a_token_with_no_stockledger_role_is_told_so(
    console: Console, provider: OidcProvider
) -> None:
    page = console.open("/ui/")
    page.get_by_label("API key or token").fill(provider.token("visitor"))
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("This token grants no stockledger role.")
