"""Which stockledger roles a token's claims grant: the claim path, the role map, `scope`."""

from __future__ import annotations

import pytest

from stockledger.api.oidc import claim_at, looks_like_jwt, mapped_roles
from stockledger.config import Role, Settings, parse_role_map

DEFAULT = parse_role_map("")


def test_the_default_map_takes_the_four_role_names_as_they_are() -> None:
    assert DEFAULT == {"orders": Role.ORDERS, "warehouse": Role.WAREHOUSE,
                       "auditor": Role.AUDITOR, "admin": Role.ADMIN}  # fmt: skip


def test_a_dotted_path_reaches_into_nested_claims_as_keycloak_sends_them() -> None:
    claims = {"realm_access": {"roles": ["offline_access", "warehouse"]}}
    assert mapped_roles(claim_at(claims, "realm_access.roles"), DEFAULT) == {Role.WAREHOUSE}
    assert claim_at(claims, "realm_access.missing.deeper") is None
    assert mapped_roles(claim_at(claims, "roles"), DEFAULT) == frozenset()


def test_scope_is_a_space_separated_string() -> None:
    role_map = parse_role_map("stock:write=orders,stock:audit=auditor")
    claims = {"scope": "openid stock:write stock:audit"}
    assert mapped_roles(claim_at(claims, "scope"), role_map) == {Role.ORDERS, Role.AUDITOR}


def test_values_the_map_does_not_know_grant_nothing() -> None:
    role_map = parse_role_map("https://shop.example/roles/picker=warehouse")
    assert mapped_roles(["https://shop.example/roles/picker", "admin"], role_map) == {
        Role.WAREHOUSE
    }
    assert mapped_roles({"admin": True}, DEFAULT) == frozenset()


@pytest.mark.parametrize("raw", ["orders", "x=superuser", "=admin"])
def test_a_malformed_role_map_is_refused_at_startup(raw: str) -> None:
    with pytest.raises(ValueError, match=r"(?i)role"):
        Settings(oidc_role_map=raw)


def test_an_issuer_without_an_audience_is_refused_at_startup() -> None:
    with pytest.raises(ValueError, match="AUDIENCE"):
        Settings(oidc_issuer="https://id.example")


def test_only_three_base64url_parts_look_like_a_jwt() -> None:
    assert looks_like_jwt("eyJh.eyJz.c2ln")
    assert looks_like_jwt("eyJh.eyJz.")  # alg none: refused later, with the reason
    assert not looks_like_jwt("k-orders")
    assert not looks_like_jwt("a.b")
    assert not looks_like_jwt("a.b.c d")
